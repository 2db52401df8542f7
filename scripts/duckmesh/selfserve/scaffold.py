"""`duckmesh new-domain`, `new-product`, `new-version`: a domain team's product
without the platform team. Every generated file follows the mesh's conventions and
passes governance, except the descriptions only the team can write (marked TODO).
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from duckmesh.core import dbt, yamledit
from duckmesh.core.artifacts import load_manifest
from duckmesh.core.names import IDENTIFIER, InvalidInput, check_name, reserved_words
from duckmesh.core.project import Mesh, MeshError, relative
from duckmesh.core.sql import quote_ident
from duckmesh.core.templates import render
from duckmesh.selfserve.contracts import (
    TODO_MARKER,
    Column,
    ProductSpec,
    castable,
    connect_db,
    describe_query,
    field_type_rules,
    guess_primary_key,
    is_todo,
    looks_like_pii,
    product_yaml,
    scalar,
    suggest_types,
)
from duckmesh.selfserve.rules import (
    RefusedOverwrite,
    check_email,
    check_product_name,
    domain_dir,
    refuse_existing,
    write_text,
)

KINDS = {
    "source": "source-aligned: publishes the data of its own operational systems",
    "aggregate": "aggregate: combines its own data with other domains' products",
    "consumer": "consumer-aligned: reads other domains' products for one use",
}
# Layer folders per kind (products/ always).
FOLDERS = {
    "source": ["staging", "products"],
    "aggregate": ["staging", "intermediate", "products"],
    "consumer": ["intermediate", "products"],
}
FOLDER_README = {
    "staging": "`models/staging/`: `stg_<source>__<entity>.sql`, rename and cast only (private)",
    "intermediate": "`models/intermediate/`: `int_<thing>.sql`, joins and aggregates (private)",
    "products": "`models/products/`: `<product>_v<N>.sql`, public, contracted, versioned",
}
TEMPLATES = Path(__file__).parent / "templates"
# P08: how long consumers get to move off a deprecated version.
DEPRECATION_NOTICE_DAYS = 90


# ---------------------------------------------------------------- new-domain

@dataclass(frozen=True)
class DomainRequest:
    name: str
    owner: str
    email: str
    kind: str
    description: str | None = None


def domain_files(request: DomainRequest) -> dict[str, str]:
    """Relative path -> content of a new domain's dbt package (templates/domain/)."""
    folders = FOLDERS[request.kind]
    description = request.description or f"The {request.name} domain ({request.kind}-aligned)."
    values = {"name": request.name, "label": KINDS[request.kind], "owner": request.owner,
              "email": request.email, "description": description, "folders": folders,
              "folder_readme": FOLDER_README, "owner_yaml": scalar(request.owner),
              "description_yaml": scalar(description)}
    files = {
        "dbt_project.yml": render(TEMPLATES / "domain", "dbt_project.yml.j2", **values),
        **package_files(request.name),
        "models/_groups.yml": render(TEMPLATES / "domain", "_groups.yml.j2", **values),
        "README.md": render(TEMPLATES / "domain", "README.md.j2", **values),
        "seeds/.gitkeep": "",
    }
    for folder in folders:
        files[f"models/{folder}/.gitkeep"] = ""
    return files


def package_files(name: str, reads: list[str] | None = None,
                  libraries: list[str] | None = None) -> dict[str, str]:
    """What makes a domain a self-contained package (README "Domains"): its packages.yml
    (the platform, the upstream domains it ``reads``, third-party ``libraries`` as
    one-line YAML flow mappings), the default selector of its own nodes and its address
    convention (macros/generate_schema_name.sql)."""
    values = {"name": name, "reads": reads or [], "libraries": libraries or []}
    return {
        "packages.yml": render(TEMPLATES / "domain", "packages.yml.j2", **values),
        "selectors.yml": render(TEMPLATES / "domain", "selectors.yml.j2", **values),
        "macros/generate_schema_name.sql": render(
            TEMPLATES / "domain", "generate_schema_name.sql.j2", **values),
    }


UPSTREAM_REF = re.compile(r"""\bref\(\s*['"](\w+)['"]\s*,\s*['"]\w+['"]""")


def declare_upstream(mesh: Mesh, domain: str, sql: str) -> list[str]:
    """Declare every other domain that ``sql`` refs (ref('<domain>', ...)) as a
    dependency of ``domain``: an entry in its packages.yml and `+database: published`
    for it in its dbt_project.yml, so the domain still builds alone (policy P03).
    Returns the domains added."""
    folder = mesh.root / "domains" / domain
    domains = {d.name for d in mesh.domain_dirs()}
    wanted = [d for d in dict.fromkeys(UPSTREAM_REF.findall(sql)) if d in domains and d != domain]
    added = []
    for upstream in wanted:
        entry = "{{ env_var('DUCKMESH_DOMAINS', '..') }}/" + upstream
        if yamledit.add_local_package(folder / "packages.yml", entry):
            added.append(upstream)
        project = yamledit.load(folder / "dbt_project.yml")
        models = project.setdefault("models", {})
        if upstream not in models:
            models[upstream] = {"+database": "published"}
            yamledit.dump(project, folder / "dbt_project.yml")
    return added


def new_domain(mesh: Mesh, request: DomainRequest, force: bool = False) -> Path:
    check_name("domain", request.name, new=True)
    if not request.owner.strip():
        raise InvalidInput("--owner is empty: give the owning team's name, e.g. \"Finance Team\"")
    check_email(request.email)
    if request.kind not in KINDS:
        raise InvalidInput(f"--kind {request.kind!r}: choose one of {', '.join(KINDS)}")
    folder = mesh.root / "domains" / request.name
    if folder.exists() and not force:
        raise RefusedOverwrite(f"domains/{request.name} already exists: pass --force to "
                               "overwrite its generated files")
    for relative_path, content in domain_files(request).items():
        path = folder / relative_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    yamledit.add_local_package(mesh.root / "packages.yml", f"domains/{request.name}")
    return folder


# ---------------------------------------------------------------- new-product

@dataclass
class ProductDraft:
    domain: str
    spec: ProductSpec
    sql_path: Path
    yml_path: Path
    notes: list[str] = field(default_factory=list)


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
        print(f"installing domains/{domain} (dbt deps)", flush=True)
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

    ensure_installed(mesh, domain)
    draft_sql = user_sql or f"select * from {{{{ {source_ref} }}}}"
    write_text(sql_path, draft_sql)
    write_text(yml_path, placeholder_yaml(name))
    done = False
    try:
        compiled, upstream = compile_node(mesh, f"{domain}.products.{name}")
        con = connect_db(mesh.db_path)
        try:
            try:
                columns = describe_query(con, compiled)
            except Exception as error:  # duckdb.Error: a missing relation, bad SQL
                raise MeshError(
                    f"DuckDB could not run the product query ({str(error).splitlines()[0]}): "
                    "build what it reads first (`duckmesh build`) or fix the SQL") from error
            suggest_types(columns, field_type_rules(mesh.root))
            for column in columns:
                if column.suggested_type and castable(
                        con, compiled, column.name, column.suggested_type):
                    column.data_type, column.cast_applied = column.suggested_type, True
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
        write_text(sql_path, final_sql)
        write_text(yml_path, product_yaml(spec))
        upstream_added = declare_upstream(mesh, domain, final_sql)
        done = True
    finally:
        if not done:
            sql_path.unlink(missing_ok=True)
            yml_path.unlink(missing_ok=True)
    draft = ProductDraft(domain, spec, sql_path, yml_path)
    draft.notes = product_notes(draft, mesh)
    for added in upstream_added:
        draft.notes.insert(0, f"declared upstream domain {added} in domains/{domain}/"
                              "packages.yml and dbt_project.yml (+database: published), so "
                              f"{domain} still builds alone")
    return draft


def product_notes(draft: ProductDraft, mesh: Mesh) -> list[str]:
    spec, yml = draft.spec, relative(draft.yml_path, mesh.root)
    notes = []
    todo = [c.name for c in spec.columns if c.needs_description]
    if is_todo(spec.description) or todo:
        what = (["the product"] if is_todo(spec.description) else []) + todo
        notes.append(f"write the descriptions marked '# {TODO_MARKER}' in {yml}: "
                     f"{', '.join(what)}")
    for column in spec.columns:
        if column.cast_applied:
            notes.append(f"{column.name}: cast to {column.data_type} (P05 naming rule)")
        elif column.suggested_type:
            notes.append(f"{column.name} is {column.data_type} but P05 expects "
                         f"{column.suggested_type}: cast it in "
                         f"{relative(draft.sql_path, mesh.root)} and update data_type")
        if looks_like_pii(column.name):
            notes.append(f"{column.name} looks like personal data (P06): pseudonymise or "
                         "mask it, or set the product's classification")
    if not spec.primary_key:
        notes.append(f"no primary key found (P07): rerun with --primary-key COLUMN --force "
                     f"or add a primary_key constraint in {yml}")
    return notes


# ---------------------------------------------------------------- new-version

@dataclass(frozen=True)
class NewVersion:
    domain: str
    product: str
    old_version: int
    new_version: int
    sql_path: Path
    yml_path: Path
    deprecation_date: datetime.date


def new_version(mesh: Mesh, target: str, deprecation_date: datetime.date | None = None,
                force: bool = False, today: datetime.date | None = None) -> NewVersion:
    if target.count(".") != 1:
        raise InvalidInput(f"{target!r}: give DOMAIN.PRODUCT, e.g. sales.orders")
    domain, product = target.split(".")
    folder = domain_dir(mesh, domain)
    check_name("product", product, new=True)
    products_dir = folder / "models" / "products"
    declared = defined_products(products_dir) if products_dir.is_dir() else {}
    if product not in declared:
        known = ", ".join(sorted(declared)) or "none"
        raise InvalidInput(f"no product {product!r} in domain {domain!r} (products: {known}); "
                           f"create it with `duckmesh new-product {domain} {product} ...`")
    yml_path = declared[product]
    data = yamledit.load(yml_path)
    entry = next(e for e in data["models"] if e.get("name") == product)
    versions = entry.get("versions") or []
    if not versions:
        raise InvalidInput(f"{domain}.{product} is not versioned: add `versions: [{{v: 1}}]` "
                           f"and `latest_version: 1` in {relative(yml_path, mesh.root)}")
    numbers = [int(v["v"]) for v in versions]
    old = int(entry.get("latest_version") or max(numbers))
    new = max(numbers) + 1
    old_entry = next(v for v in versions if int(v["v"]) == old)
    source = products_dir / str(old_entry.get("defined_in") or f"{product}_v{old}") \
        .removesuffix(".sql")
    source = source.with_name(source.name + ".sql")
    if not source.is_file():
        raise MeshError(f"{relative(source, mesh.root)} not found: the SQL of "
                        f"{domain}.{product} v{old} must exist to copy it")
    destination = products_dir / f"{product}_v{new}.sql"
    refuse_existing([destination], force, mesh.root)
    today = today or datetime.date.today()
    minimum = today + datetime.timedelta(days=DEPRECATION_NOTICE_DAYS)
    if deprecation_date is None:
        deprecation_date = minimum
    elif deprecation_date < minimum:
        raise InvalidInput(
            f"--deprecation-date {deprecation_date} gives consumers less than "
            f"{DEPRECATION_NOTICE_DAYS} days (P08): use {minimum} or later")
    destination.write_text(source.read_text())
    entry["latest_version"] = new
    versions.insert(0, {"v": new})
    old_entry["deprecation_date"] = deprecation_date
    yamledit.dump(data, yml_path)
    return NewVersion(domain, product, old, new, destination, yml_path, deprecation_date)


# ---------------------------------------------------------------- CLI
