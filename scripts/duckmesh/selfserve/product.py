"""`duckmesh new-product`: a public, versioned, contracted product in a domain, its
SQL from templates/product/ and its contract typed from what DuckDB reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from duckmesh.core import dbt, yamledit
from duckmesh.core.artifacts import load_manifest
from duckmesh.core.names import IDENTIFIER, InvalidInput, check_name, reserved_words
from duckmesh.core.output import console
from duckmesh.core.project import Mesh, MeshError, relative
from duckmesh.core.sql import quote_ident
from duckmesh.core.templates import render
from duckmesh.governance import declared_reads
from duckmesh.lint.fixer import fix_sql
from duckmesh.selfserve.contracts import (
    TODO_MARKER,
    Column,
    ProductSpec,
    apply_casts,
    connect_db,
    describe_query,
    field_type_rules,
    guess_primary_key,
    is_todo,
    looks_like_pii,
    product_yaml,
    require_one_query,
    suggest_types,
)
from duckmesh.selfserve.domain import declare_upstream
from duckmesh.selfserve.rules import (
    RefusedOverwrite,
    check_product_name,
    domain_dir,
    refuse_existing,
    write_text,
)

TEMPLATES = Path(__file__).parent / "templates"


@dataclass
class ProductDraft:
    domain: str
    spec: ProductSpec
    sql_path: Path
    yml_path: Path
    notes: list[str] = field(default_factory=list)  # still to do
    done: list[str] = field(default_factory=list)  # applied by the platform


def ref_call(model: str) -> str:
    """``--from`` value as a ref(): ``model`` or ``domain.model`` (another domain's product)."""
    parts = model.split(".")
    if len(parts) > 2 or not all(parts):
        raise InvalidInput(f"--from {model!r}: give a model name or <domain>.<product>")
    for part in parts:
        check_name("model", part, new=True)
    return "ref(" + ", ".join(f"'{p}'" for p in parts) + ")"


def quote_column(name: str) -> str:
    if IDENTIFIER.fullmatch(name) and name not in reserved_words():
        return name
    return quote_ident(name)


def select_list(columns: list[Column]) -> str:
    items = []
    for column in columns:
        quoted = quote_column(column.name)
        if column.cast_applied:
            sql_type = column.data_type.replace(",", ", ")  # sqlfluff: space after comma
            items.append(f"cast({quoted} as {sql_type}) as {quoted}")
        else:
            items.append(quoted)
    return ",\n".join(f"        {item}" for item in items)


def select_sql(source_ref: str, columns: list[Column]) -> str:
    """The product SQL over one model: an explicit column list, P05 casts applied."""
    return render(TEMPLATES / "product", "product.sql.j2", source_ref=source_ref, body="",
                  select_list=select_list(columns))


def wrap_sql(user_sql: str, columns: list[Column]) -> str:
    """The team's query as a CTE, with the P05 casts applied on top of it."""
    body = "\n".join(f"    {line}" if line.strip() else "" for line in user_sql.splitlines())
    return render(TEMPLATES / "product", "product.sql.j2", source_ref=None, body=body,
                  select_list=select_list(columns))


def placeholder_yaml(name: str) -> str:
    """Just enough YAML for dbt to compile the new product (contracts need a column)."""
    return (f"models:\n  - name: {name}\n    latest_version: 1\n    columns:\n"
            "      - name: placeholder\n        data_type: varchar\n    versions:\n"
            "      - v: 1\n")


def defined_products(products_dir: Path) -> dict[str, Path]:
    """Model name -> YAML file, for every model declared in the products folder."""
    found: dict[str, Path] = {}
    for path in sorted(products_dir.glob("*.yml")):
        data = yamledit.load(path) or {}
        for entry in data.get("models") or []:
            if isinstance(entry, dict) and "name" in entry:
                found[str(entry["name"])] = path
    return found


def ensure_installed(mesh: Mesh, domain: str) -> None:
    """dbt deps when the domain is not yet in dbt_packages (new domains)."""
    if not (mesh.root / "dbt_packages" / domain).exists():
        console().step(f"installing domains/{domain} (dbt deps)")
        dbt.require_success(dbt.run_dbt(mesh, ["deps"], quiet=True), "deps")


def compile_node(mesh: Mesh, selector: str) -> tuple[str, list[str]]:
    """Compiled SQL and upstream unique_ids of the one node ``selector`` picks."""
    result = dbt.run_dbt(mesh, ["--log-level", "none", "compile", "--select", selector])
    if not result.success or result.result is None:
        detail = result.exception or next(
            (r.message for r in getattr(result.result, "results", []) if r.message), "")
        raise MeshError(f"dbt could not compile {selector}: {detail}")
    nodes = [r.node for r in getattr(result.result, "results", [])]
    if len(nodes) != 1:
        raise MeshError(f"expected one node for {selector}, dbt selected {len(nodes)}")
    node: Any = nodes[0]  # a compiled model node
    return str(node.compiled_code), list(node.depends_on.nodes)


def require_declared_reads(mesh: Mesh, domain: str, name: str) -> None:
    """Refuse a product query that reads anything its refs and sources do not name
    (P13, governance/declared_reads.py): a raw relation name, a file, a platform or
    system file (``read_text('/etc/passwd')``). Checked on the compiled SQL before
    DuckDB runs it to type the contract, so such a file is never read."""
    manifest = load_manifest(mesh)
    found = [f for f in declared_reads.check(manifest, {domain})
             if manifest["nodes"][f.node]["name"] == name]
    if found:
        raise InvalidInput(f"product {domain}.{name} reads what no ref or source declares "
                           "(policy P13):\n" + "\n".join(
                               f"  - {f.message}. Fix: {f.fix}." for f in found))


def upstream_descriptions(mesh: Mesh, unique_ids: list[str]) -> tuple[dict[str, str], str]:
    """Column descriptions of the upstream models (first wins), and a model description
    when there is exactly one upstream."""
    manifest = load_manifest(mesh)
    nodes = manifest.get("nodes", {})
    columns: dict[str, str] = {}
    for unique_id in unique_ids:
        for name, column in (nodes.get(unique_id, {}).get("columns") or {}).items():
            text = (column.get("description") or "").strip()
            if text and name not in columns:
                columns[name] = text
    model = ""
    if len(unique_ids) == 1:
        model = (nodes.get(unique_ids[0], {}).get("description") or "").strip()
    return columns, model


def new_product(mesh: Mesh, domain: str, name: str, *, source_model: str | None = None,
                sql_file: Path | None = None, primary_key: str | None = None,
                description: str | None = None, force: bool = False) -> ProductDraft:
    folder = domain_dir(mesh, domain)
    check_product_name(name)
    if (source_model is None) == (sql_file is None):
        raise InvalidInput("give exactly one of --from MODEL or --sql FILE")
    user_sql = None
    if sql_file is not None:
        if not sql_file.is_file():
            raise InvalidInput(f"--sql {sql_file}: no such file")
        user_sql = sql_file.read_text().strip()
        if not user_sql:
            raise InvalidInput(f"--sql {sql_file}: the file is empty")
    source_ref = ref_call(source_model) if source_model else ""
    products_dir = folder / "models" / "products"
    sql_path = products_dir / f"{name}_v1.sql"
    yml_path = products_dir / f"_{name}.yml"
    existing_versions = sorted(products_dir.glob(f"{name}_v*.sql"))
    declared = defined_products(products_dir) if products_dir.is_dir() else {}
    if name in declared and declared[name] != yml_path:
        raise RefusedOverwrite(
            f"product {domain}.{name} is already declared in "
            f"{relative(declared[name], mesh.root)}: for a breaking change run "
            f"`duckmesh new-version {domain}.{name}`")
    later = [p for p in existing_versions if p != sql_path]
    if later:
        raise RefusedOverwrite(
            f"product {domain}.{name} already has "
            f"{', '.join(relative(p, mesh.root) for p in later)}: --force only rewrites "
            f"v1; for a breaking change run `duckmesh new-version {domain}.{name}`")
    refuse_existing([sql_path, yml_path], force, mesh.root)
    # the product's own unversioned SQL (models/products/<name>.sql, which governance
    # names): it becomes <name>_v1.sql, since dbt takes no second model of that name
    unversioned = products_dir / f"{name}.sql"
    adopted = sql_file is not None and unversioned.is_file() and \
        sql_file.resolve() == unversioned.resolve()

    ensure_installed(mesh, domain)
    draft_sql = user_sql or f"select * from {{{{ {source_ref} }}}}"
    original = unversioned.read_text() if adopted else ""
    if adopted:
        unversioned.unlink()
    write_text(sql_path, draft_sql)
    write_text(yml_path, placeholder_yaml(name))
    done = False
    try:
        compiled, upstream = compile_node(mesh, f"{domain}.products.{name}")
        require_one_query(compiled, f"--sql {sql_file}" if sql_file else "the product's SQL")
        require_declared_reads(mesh, domain, name)  # before DuckDB runs the query
        con = connect_db(mesh.db_path)
        try:
            try:
                columns = describe_query(con, compiled)
            except Exception as error:  # duckdb.Error: a missing relation, bad SQL
                raise MeshError(
                    f"DuckDB could not run the product query ({str(error).splitlines()[0]}): "
                    "build what it reads first (`duckmesh build`) or fix the SQL") from error
            suggest_types(columns, field_type_rules(mesh.root))
            apply_casts(con, compiled, columns)
        finally:
            con.close()
        model_doc = ""
        if source_model:  # columns pass through unchanged: so do their descriptions
            column_docs, model_doc = upstream_descriptions(mesh, upstream)
            for column in columns:
                column.description = column_docs.get(column.name, "")
        names = [c.name for c in columns]
        if primary_key and primary_key not in names:
            raise InvalidInput(f"--primary-key {primary_key!r} is not a column of the "
                               f"product (columns: {', '.join(names)})")
        spec = ProductSpec(
            name=name,
            description=description or model_doc or TODO_MARKER,
            columns=columns,
            primary_key=primary_key or guess_primary_key(name, columns),
        )
        if source_model:
            final_sql = select_sql(source_ref, columns)
        elif any(c.cast_applied for c in columns):
            final_sql = wrap_sql(user_sql or "", columns)
        else:
            final_sql = draft_sql
        if final_sql == draft_sql and not draft_sql.endswith("\n"):
            final_sql += "\n"
        final_sql = fix_sql(mesh.root, final_sql)  # passes `make lint` as written
        write_text(sql_path, final_sql)
        write_text(yml_path, product_yaml(spec))
        upstream_added = declare_upstream(mesh, domain, final_sql)
        done = True
    finally:
        if not done:
            sql_path.unlink(missing_ok=True)
            yml_path.unlink(missing_ok=True)
            if adopted:
                unversioned.write_text(original)
    draft = ProductDraft(domain, spec, sql_path, yml_path)
    draft.notes = product_notes(draft, mesh)
    draft.done = applied_notes(draft, mesh)
    if adopted:
        draft.done.insert(0, f"moved {relative(unversioned, mesh.root)} to "
                             f"{relative(sql_path, mesh.root)} (v1 of the product)")
    for added in upstream_added:
        draft.done.insert(0, f"declared upstream domain {added} in domains/{domain}/"
                             "packages.yml and dbt_project.yml (+database: published), so "
                             f"{domain} still builds alone")
    return draft


def applied_notes(draft: ProductDraft, mesh: Mesh) -> list[str]:
    """What the platform already did to the product's SQL (nothing left to do)."""
    sql = relative(draft.sql_path, mesh.root)
    return [f"{c.name}: cast to {c.data_type} in {sql} (P05 naming rule)"
            for c in draft.spec.columns if c.cast_applied]


def product_notes(draft: ProductDraft, mesh: Mesh) -> list[str]:
    """What the team still has to do before governance passes."""
    spec, yml = draft.spec, relative(draft.yml_path, mesh.root)
    notes = []
    todo = [c.name for c in spec.columns if c.needs_description]
    if is_todo(spec.description) or todo:
        what = (["the product"] if is_todo(spec.description) else []) + todo
        notes.append(f"write the descriptions marked '# {TODO_MARKER}' in {yml}: "
                     f"{', '.join(what)}")
    for column in spec.columns:
        if column.suggested_type and not column.cast_applied:
            notes.append(f"{column.name} is {column.data_type} but P05/P10 expects "
                         f"{column.suggested_type}: cast it in "
                         f"{relative(draft.sql_path, mesh.root)} and update data_type")
        if looks_like_pii(column.name):
            notes.append(f"{column.name} looks like personal data (P06): pseudonymise or "
                         "mask it, or set the product's classification")
    if not spec.primary_key:
        notes.append(f"no primary key found (P07): rerun with --primary-key COLUMN --force "
                     f"or add a primary_key constraint in {yml}")
    return notes
