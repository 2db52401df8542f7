"""`duckmesh new-domain | new-product | new-version | adopt | doctor`: the self-serve
commands. Exit codes: 0 done, 1 governance gaps remain (adopt) or a check failed
(doctor) or dbt failed, 2 invalid input, 3 refused to overwrite (pass --force)."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from duckmesh.cli.state import CliState, pass_state
from duckmesh.core.output import console
from duckmesh.selfserve import DEPRECATION_NOTICE_DAYS, KINDS

if TYPE_CHECKING:
    from duckmesh.selfserve.adopt import Adoption

EPILOG = ("exit codes: 0 done, 1 governance gaps remain or dbt failed, "
          "2 invalid input, 3 refused to overwrite (use --force)")


@click.command("new-domain", epilog=EPILOG,
               help="Create domains/NAME/ as a dbt package that passes every governance policy "
                    "(restrict-access, group with owner, private by default, products folder "
                    "public and contracted, README) and add it to packages.yml.")
@click.argument("name")
@click.option("--owner", required=True, help='owning team, e.g. "Finance Team"')
@click.option("--email", required=True, help="the owning team's e-mail")
@click.option("--kind", required=True, type=click.Choice(sorted(KINDS)),
              help="source-aligned, aggregate or consumer-aligned")
@click.option("--description", default=None, help="one line on what it owns")
@click.option("--force", is_flag=True, help="overwrite an existing folder")
@pass_state
def new_domain(state: CliState, name: str, owner: str, email: str, kind: str,
               description: str | None, force: bool) -> int:
    from duckmesh.core.project import relative
    from duckmesh.selfserve.domain import DomainRequest, domain_files
    from duckmesh.selfserve.domain import new_domain as scaffold_domain

    voice = console()
    mesh = state.mesh()
    request = DomainRequest(name, owner, email, kind, description)
    folder = scaffold_domain(mesh, request, force=force)
    voice.out(f"created {relative(folder, mesh.root)}/ ({KINDS[kind]})")
    for relative_path in domain_files(request):
        voice.out(f"  {relative(folder / relative_path, mesh.root)}")
    voice.out(f"registered domains/{name} in packages.yml; the next build's dbt deps adds it to "
              "package-lock.yml (commit both with the domain)")
    voice.out("\nnext steps:")
    voice.out(f"  1. ./duckmesh new-product {name} <product> --sql query.sql   (or --from <model>)")
    voice.out("  2. write the descriptions marked '# TODO: describe' in its YAML")
    voice.out("  3. ./duckmesh build   (installs the new domain with dbt deps)")
    return 0


@click.command("new-product", epilog=EPILOG,
               help="Create models/products/NAME_v1.sql and _NAME.yml in a domain: a public, "
                    "versioned product whose enforced contract lists every column with the "
                    "type DuckDB reports (from the built model with --from, or from the query "
                    "run with LIMIT 0 with --sql). P05 types are applied as casts with --from; "
                    "descriptions not found upstream are left empty and marked "
                    "'# TODO: describe', which governance (P02) rejects until written.")
@click.argument("domain")
@click.argument("name")
@click.option("--from", "source_model", metavar="MODEL", default=None,
              help="a built model of the domain, or DOMAIN.PRODUCT")
@click.option("--sql", "sql_file", metavar="FILE", default=None,
              help="a SELECT (dbt SQL: ref() allowed) to publish as the product")
@click.option("--primary-key", default=None,
              help="primary key column (default: <product>_id, or the first column when it "
                   "is an id)")
@click.option("--description", default=None, help="what one row is")
@click.option("--force", is_flag=True, help="overwrite the product's files")
@pass_state
def new_product(state: CliState, domain: str, name: str, source_model: str | None,
                sql_file: str | None, primary_key: str | None, description: str | None,
                force: bool) -> int:
    voice = console()
    if (source_model is None) == (sql_file is None):
        raise click.UsageError("give exactly one of --from MODEL or --sql FILE")
    from duckmesh.core.project import relative
    from duckmesh.selfserve.product import new_product as scaffold_product

    mesh = state.mesh()
    draft = scaffold_product(
        mesh, domain, name, source_model=source_model,
        sql_file=Path(sql_file).resolve() if sql_file else None,
        primary_key=primary_key, description=description, force=force)
    voice.out(f"created product {draft.domain}.{draft.spec.name} v1")
    voice.out(f"  {relative(draft.sql_path, mesh.root)}")
    voice.out(f"  {relative(draft.yml_path, mesh.root)}")
    voice.out("\ncontract (types read from DuckDB):")
    width = max(len(c.name) for c in draft.spec.columns)
    for column in draft.spec.columns:
        key = "  primary key" if column.name == draft.spec.primary_key else ""
        voice.out(f"  {column.name.ljust(width)}  {column.data_type}{key}")
    if draft.done:
        voice.out("\ndone for you:")
        for note in draft.done:
            voice.out(f"  - {note}")
    if draft.notes:
        voice.out("\nbefore it passes governance:")
        for note in draft.notes:
            voice.out(f"  - {note}")
    voice.out("\nnext: ./duckmesh build")
    return 0


@click.command("new-version", epilog=EPILOG,
               help="Start <product>_v<N+1>.sql from the latest version, set "
                    "latest_version, and give the old version a deprecation_date "
                    f"{DEPRECATION_NOTICE_DAYS} days from today (P08). When v<N> was changed since it "
                    "was published, the change moves to v<N+1> and v<N> gets its "
                    "published SQL and columns back.")
@click.argument("target", metavar="DOMAIN.PRODUCT")
@click.option("--deprecation-date", default=None, metavar="YYYY-MM-DD",
              help=f"at least {DEPRECATION_NOTICE_DAYS} days from today")
@click.option("--force", is_flag=True, help="overwrite <product>_v<N+1>.sql")
@pass_state
def new_version(state: CliState, target: str, deprecation_date: str | None,
                force: bool) -> int:
    from duckmesh.core.names import InvalidInput
    from duckmesh.core.project import relative
    from duckmesh.selfserve.version import new_version as scaffold_version

    voice = console()
    mesh = state.mesh()
    date = None
    if deprecation_date:
        try:
            date = datetime.date.fromisoformat(deprecation_date)
        except ValueError as error:
            raise InvalidInput(f"--deprecation-date {deprecation_date!r} is not a date "
                               "(YYYY-MM-DD)") from error
    made = scaffold_version(mesh, target, date, force=force)
    old, new = f"v{made.old_version}", f"v{made.new_version}"
    sql, yml = relative(made.sql_path, mesh.root), relative(made.yml_path, mesh.root)
    if made.moved and made.old_sql_path is not None:
        voice.out(f"{made.domain}.{made.product} {old} changed since it was published "
                  f"({'; '.join(made.moved)}): moved the change into {new}")
        voice.out(f"  {sql}: {new}, the edited SQL")
        voice.out(f"  {relative(made.old_sql_path, mesh.root)}: {old}'s SQL as published")
        voice.out(f"  {yml}: latest_version: {made.new_version}; {old} keeps its published "
                  f"columns (its own `columns:`), {new} takes the model's")
    else:
        voice.out(f"created {made.domain}.{made.product} {new} (a copy of {old}); "
                  f"latest_version: {made.new_version}")
        voice.out(f"  {sql}")
        voice.out(f"  {yml}")
    voice.out(f"proposed: {old} deprecated on {made.deprecation_date} "
              f"({DEPRECATION_NOTICE_DAYS} days' notice, P08); change it with --deprecation-date")
    voice.out("\nnext steps:")
    if not made.moved:
        voice.out(f"  - make the breaking change in {sql} and in the model's columns in {yml} "
                  f"(give {old} its own `columns:` there if its columns differ)")
    voice.out("  - ./duckmesh build")
    return 0


@click.command(epilog=EPILOG,
               help="Onboard an existing dbt project as domain DOMAIN, without editing it: "
                    "build it alone as it really builds (dbt deps, seed, build, --vars), copy "
                    "only what a dbt package needs to domains/DOMAIN (listing what it leaves "
                    "out), give it restrict-access, a group and private-by-default access, keep "
                    "its packages in the domain's packages.yml, turn the marts named in "
                    "--products into products with contracts typed from the built relations "
                    "(P05/P10 casts applied, every test kept), register it and print what "
                    "governance still finds as a numbered checklist. Exit 1 while gaps remain.")
@click.argument("path")
@click.option("--as", "domain", required=True, metavar="DOMAIN",
              help="domain name in the mesh (lower-case identifier)")
@click.option("--owner", default=None, help='owning team, e.g. "Shop Team"')
@click.option("--email", default=None, help="the owning team's e-mail")
@click.option("--products", default=None, metavar="MART[=NAME],...",
              help="the marts that become products, each optionally renamed "
                   "(orders,customers=shop_customers); the other models stay private "
                   "(default: every mart whose name is a product name)")
@click.option("--vars", "variables", default=None, metavar="YAML",
              help="dbt vars the project builds with, e.g. '{load_source_data: true}'; "
                   "kept in the domain's dbt_project.yml")
@click.option("--marts-dir", default="marts",
              help="folder under models/ whose models may become products (default marts)")
@click.option("--link", is_flag=True, help="symlink instead of copying (edits the original project)")
@click.option("--update", is_flag=True,
              help="the domain exists: set --owner/--email and add --products, keeping "
                   "every edit made in it")
@click.option("--force", is_flag=True,
              help="replace domains/DOMAIN (destructive: edits made in it are lost)")
@pass_state
def adopt(state: CliState, path: str, domain: str, owner: str | None, email: str | None,
          products: str | None, variables: str | None, marts_dir: str, link: bool,
          update: bool, force: bool) -> int:
    from duckmesh.core.project import relative
    from duckmesh.selfserve.adopt import AdoptRequest
    from duckmesh.selfserve.adopt import adopt as adopt_project
    from duckmesh.selfserve.adopt.products import parse_products
    from duckmesh.selfserve.adopt.project import parse_vars
    from duckmesh.selfserve.rules import EXIT_GAPS

    mesh = state.mesh()
    request = AdoptRequest(Path(path), domain, owner=owner, email=email,
                           products=parse_products(products), variables=parse_vars(variables),
                           marts_dir=marts_dir, link=link, force=force, update=update)
    adoption = adopt_project(mesh, request)
    print_adoption(adoption, path, relative(adoption.folder, mesh.root))
    if adoption.error is not None:
        raise adoption.error
    failing = [t for t in adoption.tests if t.status in ("fail", "error")]
    return EXIT_GAPS if failing or any(g.severity == "error" for g in adoption.gaps) else 0


def print_adoption(adoption: Adoption, path: str, folder: str) -> None:
    """The report adopt ends with, on every exit path: what it made, what it left out,
    its notes and warnings, the project's tests that did not pass, what governance
    still finds and the numbered checklist."""
    from duckmesh.selfserve.adopt import checklist

    voice = console()
    verb = "updated" if adoption.updated else "adopted"
    stopped = " (stopped: see the error below)" if adoption.error is not None else ""
    voice.out(f"\n{verb} {path} as domain {adoption.domain}{stopped} "
              f"({folder}, registered in packages.yml)")
    for spec in adoption.products:
        casts = [c.name for c in spec.columns if c.cast_applied]
        cast_note = f", cast {', '.join(casts)} (P05/P10)" if casts else ""
        voice.out(f"  product {adoption.domain}.{spec.name} v1 ({len(spec.columns)} columns, "
                  f"lifecycle experimental{cast_note})")
    if adoption.left_out:
        voice.out(f"\nleft out (not part of a dbt package): {', '.join(adoption.left_out)}")
    for note in adoption.notes:
        voice.out(f"  - {note}")
    if adoption.rewritten:
        voice.out("\nqualified refs in the copy (dbt would resolve them elsewhere or reject them "
                  "once the mesh installs the domain):")
        for line in adoption.rewritten:
            voice.out(f"  - {line}")
    for warning in adoption.warnings:
        voice.warn(f"\nwarning: {warning}", err=False)
    if adoption.tests:
        voice.out("\nthe project's own tests that did not pass when it built alone (kept as "
                  "they are, with their severity):")
        for test in adoption.tests:
            voice.out(f"  - {test.status}: {test.name} ({test.file}): {test.message}")
    errors = [g for g in adoption.gaps if g.severity == "error"]
    if adoption.error is None:
        voice.out(f"\nstill missing (governance check): {len(errors)} error(s), "
                  f"{len(adoption.gaps) - len(errors)} warning(s)")
    for gap in adoption.gaps:
        voice.out(gap.line())
    voice.out("\nnext steps:")
    for line in checklist(adoption.gaps, adoption.domain, adoption.tests,
                          None if adoption.error is None else str(adoption.error),
                          adoption.retry):
        voice.out(f"  {line}")


@click.command(epilog="exit codes: 0 nothing failed (warnings allowed), 1 something failed",
               help="Check Python and the pinned tools, the dbt profile, the DuckDB file "
                    "(missing or locked), the installed domains (stale after a domain was "
                    "added, moved or removed) and the age of the last build; print the "
                    "command that fixes each problem.")
@click.option("-v", "--verbose", is_flag=True, help="show passing checks too")
@pass_state
def doctor(state: CliState, verbose: bool) -> int:
    from duckmesh.selfserve.doctor import diagnose

    voice = console()
    mesh = state.mesh()
    findings = diagnose(mesh)
    shown = findings if verbose else [f for f in findings if f.status != "ok"]
    voice.out(f"duckmesh doctor: {mesh.root}")
    for finding in shown:
        voice.out(finding.line())
    failed = [f for f in findings if f.status == "fail"]
    warned = [f for f in findings if f.status == "warn"]
    voice.out(f"{len(findings) - len(failed) - len(warned)} ok, {len(warned)} warning(s), "
              f"{len(failed)} failure(s)")
    return 1 if failed else 0
