"""`duckmesh catalog list|search|show|lineage|export|check|site|refresh|openlineage`: readable tables
for people, --json for machines."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click

from duckmesh.cli import params
from duckmesh.cli.state import CliState, pass_state
from duckmesh.core.output import console
from duckmesh.core.project import MeshError


def _emit(as_json: bool, data: object, text: str) -> int:
    if as_json:
        console().json(data)
    else:
        console().out(text)
    return 0


def _with_catalog(command: Callable[..., int]) -> Callable[..., int]:
    """Hand the command the mesh and its catalog (from target/ and the database)."""

    @pass_state
    @wraps(command)
    def run(state: CliState, *args: Any, **kwargs: Any) -> int:
        from duckmesh.catalog import store

        mesh = state.mesh()
        return command(mesh, store.load(mesh), *args, **kwargs)

    return run


@click.group(help="The mesh catalog, from the last build: every public product version with "
                  "its owner, schema, SLOs, quality checks and lineage. The same data is in "
                  "the mesh_catalog schema of the database.")
def catalog() -> None:
    pass


@catalog.command("list", help="every product version")
@click.option("--domain", default=None, help="only this domain")
@params.as_json
@_with_catalog
def list_(mesh: Any, cat: Any, domain: str | None, as_json: bool) -> int:
    from duckmesh.catalog import queries

    records = queries.listing(cat, domain)
    return _emit(as_json, [queries.summary(r) for r in records], queries.table(records))


@catalog.command(help="products whose name, description, owner, tags or columns match TEXT")
@click.argument("text")
@params.as_json
@_with_catalog
def search(mesh: Any, cat: Any, text: str, as_json: bool) -> int:
    from duckmesh.catalog import queries

    found = queries.search(cat, text)
    shown = queries.table(found) if found else f"no product matches {text!r}"
    return _emit(as_json, [queries.summary(r) for r in found], shown)


@catalog.command(help="one product: versions, owner, schema, SLOs")
@params.product
@click.option("--version", type=int, default=None, help="one version (default: latest)")
@params.as_json
@_with_catalog
def show(mesh: Any, cat: Any, product: str, version: int | None, as_json: bool) -> int:
    from duckmesh.catalog import queries

    record = queries.pick(cat, product, version)
    data = queries.detail(cat, record)
    return _emit(as_json, data, queries.show_text(record, data))


@catalog.command(help="what feeds a product / what it feeds")
@params.product
@click.option("--upstream", is_flag=True, help="only what it reads")
@click.option("--downstream", is_flag=True, help="only who reads it")
@click.option("--columns", is_flag=True, help="column-level lineage")
@params.as_json
@_with_catalog
def lineage(mesh: Any, cat: Any, product: str, upstream: bool, downstream: bool,
            columns: bool, as_json: bool) -> int:
    from duckmesh.catalog import queries
    from duckmesh.core.output import format_table

    if upstream and downstream:
        raise click.UsageError("--upstream and --downstream exclude each other")
    record = queries.pick(cat, product, None)
    if columns:
        rows = [[c.name, f"{queries.short(u)}.{col}"]
                for c in record.columns for u, col in c.lineage]
        data = [{"column": c.name, "from": [f"{u}#{col}" for u, col in c.lineage]}
                for c in record.columns]
        return _emit(as_json, data, format_table(["column", "fed by"], rows))
    edges = queries.lineage_edges(cat, record, upstream=not downstream, downstream=not upstream)
    rows = [[e.direction, str(e.depth), queries.short(e.from_id), queries.short(e.to_id)]
            for e in edges]
    text = (format_table(["direction", "depth", "from", "to"], rows) if rows
            else f"{record.key}: no lineage edges")
    return _emit(as_json, [{**e.__dict__, "from": queries.short(e.from_id),
                            "to": queries.short(e.to_id)} for e in edges], text)


@catalog.command(help="write ODCS + ODPS descriptors to a folder")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="folder (default target/catalog/contracts)")
@params.as_json
@_with_catalog
def export(mesh: Any, cat: Any, out: Path | None, as_json: bool) -> int:
    from duckmesh.catalog import store

    folder = out or store.contracts_dir(mesh)
    written = store.write_descriptors(cat, folder.resolve())
    return _emit(as_json, [str(p) for p in written],
                 f"{len(written)} descriptors ({len(cat.records)} product versions, "
                 f"ODCS + ODPS) in {folder}")


@catalog.command(help="fail when committed descriptors drift from the generated ones")
@click.argument("folder", type=click.Path(path_type=Path))
@params.as_json
@_with_catalog
def check(mesh: Any, cat: Any, folder: Path, as_json: bool) -> int:
    from duckmesh.catalog import store

    voice = console()
    committed = folder.resolve()
    if not committed.is_dir():
        raise MeshError(f"{committed} is not a folder of committed descriptors; create it "
                        f"with `duckmesh catalog export --out {folder}`")
    drift = store.descriptor_drift(cat, committed)
    problems = store.schema_problems(cat)
    if as_json:
        voice.json({"drift": drift, "invalid": problems})
    if drift or problems:
        for line in drift + problems:
            voice.out(f"  {line}")
        raise MeshError(f"{len(drift)} descriptor(s) in {folder} drift from the "
                        f"generated ones and {len(problems)} schema error(s): refresh with "
                        f"`duckmesh catalog export --out {folder}` and commit")
    voice.out(f"{len(cat.records) * 2} descriptors in {folder} match the mesh")
    return 0


@catalog.command(help="write the static HTML catalog site")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="folder (default target/catalog/site)")
@params.as_json
@_with_catalog
def site(mesh: Any, cat: Any, out: Path | None, as_json: bool) -> int:
    from duckmesh.catalog import site as catalog_site
    from duckmesh.observability.report import site_section

    folder = (out or mesh.target_dir / "catalog" / "site").resolve()
    index = catalog_site.write_site(cat, folder, mesh, sections=[site_section])
    return _emit(as_json, {"index": str(index)}, f"catalog site: {index.as_uri()}")


@catalog.command(help="rebuild the mesh_catalog tables and descriptors from target/")
@params.as_json
@pass_state
def refresh(state: CliState, as_json: bool) -> int:
    from duckmesh.catalog import store

    rebuilt = store.refresh(state.mesh())
    return _emit(as_json, {"product_versions": len(rebuilt.records)},
                 f"{len(rebuilt.records)} product versions -> {store.SCHEMA}.*")


@catalog.command("openlineage", help="send the last build's lineage as OpenLineage events: "
                 "one run per product version built, with its inputs, schema and column "
                 "lineage. Where to: the OpenLineage client's configuration (OPENLINEAGE_URL, "
                 "OPENLINEAGE_CONFIG or openlineage.yml), else target/openlineage/<run>.jsonl "
                 "(docs/lineage.md)")
@_with_catalog
def openlineage_(mesh: Any, cat: Any) -> int:
    from duckmesh.catalog import openlineage
    from duckmesh.core.artifacts import Artifacts

    sent = openlineage.emit(mesh, cat, Artifacts.load(mesh).run_results)
    console().out(f"OpenLineage: {sent.events} events ({sent.products} product runs) -> "
                  f"{sent.where}")
    return 0
