"""P13 declared reads: a model reads only what its ``ref``s and ``source``s name.

In DuckDB every schema of the build file is reachable by raw name, and a table function
reads any file the process can open, so ``ref``/``source`` (the node's ``depends_on``)
are the only evidence of what a model reads: a raw ``customers.stg_crm__customers``, a
relation built by a macro (``api.Relation.create``), ``read_csv('data/...')`` or
``read_text('.duckmesh/pii_salt')`` bypass the consumer access (P11), lineage (P12)
and PII (P06) policies, which all follow the graph. This policy parses each model's
compiled SQL with sqlglot (DuckDB dialect) and reports

- a relation (``exp.Table``) that is neither a CTE of the query nor one of the
  relations of the node's ``depends_on`` (nor the model itself: ``{{ this }}``);
- a table function that reads files or relations by name (``read_csv``, ``read_text``,
  ``glob``, ``query_table``, ...) other than a declared source's own reader (dbt-duckdb
  renders a file source as ``read_csv('<its file>')``) and the platform's PII salt
  read inside ``sha256()`` (macros/privacy/pseudonymise.sql);
- a ``source`` declared on a schema the build writes models to (another domain's, or a
  private one): a source is outside data, never a way around ``ref``.

It needs compiled SQL, which dbt writes only when it compiles a model, after the
on-run-start hook that runs the macro policies: so this policy runs in the platform
(governance/gate.py) over the manifest of every build and publish, before anything is
published, and in `duckmesh governance check` over the last build's manifest. One home:
this module; the rule's documentation is in macros/governance/_policies.yml (P13) and
docs/governance.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

POLICY = "P13"
# DuckDB table functions that read files, globs, other databases or relations by name
FILE_FUNCTIONS = frozenset({
    "read_csv", "read_csv_auto", "sniff_csv", "read_text", "read_blob", "read_parquet",
    "parquet_scan", "parquet_metadata", "parquet_schema", "parquet_file_metadata",
    "parquet_kv_metadata", "read_json", "read_json_auto", "read_json_objects",
    "read_json_objects_auto", "read_ndjson", "read_ndjson_auto", "read_ndjson_objects",
    "glob", "read_xlsx", "st_read", "delta_scan", "iceberg_scan", "sqlite_scan",
    "postgres_scan", "mysql_scan", "query_table", "query", "read_duckdb",
})
HASHES = frozenset({"sha256", "sha2"})


@dataclass(frozen=True)
class Finding:
    """One undeclared read of one model."""

    node: str  # unique_id
    domain: str
    relation: str  # what it reads, as written
    message: str
    fix: str


# the schemas the platform itself writes in the build database (sources/quarantine.py,
# catalog/store.py, observability/store.py)
PLATFORM_SCHEMAS = frozenset({"quarantine", "mesh_catalog", "mesh_observability"})


def _key(*parts: str | None) -> str:
    return ".".join(p.strip('"').lower() for p in parts if p)


def relation_key(relation_name: str) -> str:
    """'"mesh"."sales"."orders_v1"' -> 'mesh.sales.orders_v1'."""
    return _key(*relation_name.split("."))


def _function_name(func: exp.Func) -> str:
    if isinstance(func, exp.Anonymous):
        return str(func.name).lower()
    return func.sql_name().lower()


def _normal(sql: str) -> str:
    """A table function as sqlglot prints it (quotes and spacing normalised)."""
    try:
        tree = sqlglot.parse_one(f"select * from {sql}", dialect="duckdb")
        table = tree.find(exp.Table)
        return (table.this if table is not None else tree).sql(dialect="duckdb")
    except SqlglotError:
        return sql


@dataclass
class _Mesh:
    """What the check needs of the manifest, indexed once."""

    nodes: dict[str, dict]  # models, seeds, snapshots and sources
    by_relation: dict[str, str]  # relation key (and the latest alias view) -> unique_id
    readers: dict[str, str]  # a source's table function, normalised -> unique_id
    model_schemas: dict[str, set[str]]  # 'db.schema' the build writes -> packages

    @classmethod
    def of(cls, manifest: dict) -> _Mesh:
        # sources first: a model's relation wins over a source declared on it
        nodes = dict(manifest.get("sources") or {})
        nodes.update({uid: n for uid, n in manifest["nodes"].items()
                      if n["resource_type"] in ("model", "seed", "snapshot")})
        by_relation: dict[str, str] = {}
        readers: dict[str, str] = {}
        schemas: dict[str, set[str]] = {}
        for uid, node in nodes.items():
            name = node.get("relation_name") or ""
            if node["resource_type"] == "source" and "(" in name:
                readers[_normal(name)] = uid
                continue
            if name:
                by_relation[relation_key(name)] = uid
            if node["resource_type"] != "source":
                database = (node.get("database") or "").lower()
                schema = (node.get("schema") or "").lower()
                schemas.setdefault(f"{database}.{schema}", set()).add(node["package_name"])
                if node.get("access") == "public" and node.get("version") is not None \
                        and node.get("version") == node.get("latest_version"):
                    by_relation[f"{database}.{schema}.{node['name'].lower()}"] = uid
        return cls(nodes, by_relation, readers, schemas)

    def find(self, key: str) -> str | None:
        """The node a relation key names, matching a key written without its database
        (or schema) against the relations of the build."""
        if key in self.by_relation:
            return self.by_relation[key]
        matches = {uid for full, uid in self.by_relation.items() if full.endswith("." + key)}
        return next(iter(matches)) if len(matches) == 1 else None


def _domain(node: dict) -> str:
    return str(node.get("group") or node["package_name"])


def _label(node: dict) -> str:
    version = node.get("version")
    return node["name"] + (f" v{version}" if version is not None else "")


def _ref(node: dict, reader: dict) -> str:
    """How ``reader`` should name ``node``: a ref, a source, or the products to use."""
    if node["resource_type"] == "source":
        return f"{{{{ source('{node['source_name']}', '{node['name']}') }}}}"
    same = node["package_name"] == reader["package_name"]
    version = node.get("version")
    pinned = f", v={version}" if version is not None and version != node.get("latest_version") \
        else ""
    if same:
        return f"{{{{ ref('{node['name']}'{pinned}) }}}}"
    return f"{{{{ ref('{node['package_name']}', '{node['name']}'{pinned}) }}}}"


def _products_of(mesh: _Mesh, package: str) -> list[str]:
    return sorted({f"{{{{ ref('{n['package_name']}', '{n['name']}') }}}}"
                   for n in mesh.nodes.values()
                   if n.get("package_name") == package and n.get("access") == "public"
                   and n["resource_type"] == "model"})


def _instead(mesh: _Mesh, target: str, reader: dict) -> str:
    node = mesh.nodes[target]
    if node["resource_type"] == "source" or node.get("access") == "public" \
            or node["package_name"] == reader["package_name"]:
        return f"read it with {_ref(node, reader)}"
    products = _products_of(mesh, node["package_name"])
    if products:
        return (f"{node['name']} is private to {_domain(node)}: read one of its products "
                f"instead, {', '.join(products)}")
    return (f"{node['name']} is private to {_domain(node)}, which publishes no product: "
            "ask its owners for one")


SALT_FILE = "pii_salt"  # core.project.Mesh.pii_salt_path: .duckmesh/pii_salt


def _salt_read(table: exp.Table) -> bool:
    """The platform's salt read (pseudonymise): read_text of the salt file inside
    sha256(), so only a hash of salt and value leaves the query, never the salt."""
    arguments = table.this.expressions if isinstance(table.this, exp.Func) else []
    path = arguments[0] if arguments else None
    if not (isinstance(path, exp.Literal) and path.is_string
            and str(path.this).replace("\\", "/").rsplit("/", 1)[-1] == SALT_FILE):
        return False
    for parent in _ancestors(table):
        if isinstance(parent, exp.SHA2) or (isinstance(parent, exp.Anonymous)
                                            and str(parent.name).lower() in HASHES):
            return True
    return False


def _ancestors(node: exp.Expr) -> list[exp.Expr]:
    found, parent = [], node.parent
    while parent is not None:
        found.append(parent)
        parent = parent.parent
    return found


def _cte_names(tree: exp.Expr) -> set[str]:
    return {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}


def check_model(mesh: _Mesh, node: dict, sql: str) -> list[Finding]:
    """The undeclared reads of one model's compiled SQL."""
    uid = node["unique_id"]
    declared = set(node.get("depends_on", {}).get("nodes") or [])
    where = node.get("original_file_path") or uid
    label = _label(node)
    found: list[Finding] = []

    def report(relation: str, message: str, fix: str) -> None:
        found.append(Finding(uid, _domain(node), relation, message, fix))

    # a source on a schema the build writes models to: a read around ref()
    for parent in sorted(declared):
        source = mesh.nodes.get(parent)
        if source is None or source["resource_type"] != "source":
            continue
        schema = f"{(source.get('database') or '').lower()}.{(source.get('schema') or '').lower()}"
        if "(" in (source.get("relation_name") or ""):
            continue  # a file source: its reader is checked below
        if (source.get("schema") or "").lower() in PLATFORM_SCHEMAS:
            report(source["relation_name"],
                   f"{label} reads source {source['source_name']}.{source['name']}, declared "
                   f"on schema {source.get('schema')}, which the platform writes (quarantined "
                   "raw lines, the catalog, run history): no model reads it",
                   f"remove the source {source['source_name']} from "
                   f"{source.get('original_file_path')}")
            continue
        # a domain's own schema (its seeds, as an adopted project loads them) is its own
        if mesh.model_schemas.get(schema, set()) - {node["package_name"]}:
            target = mesh.find(relation_key(source.get("relation_name") or ""))
            owners = ", ".join(sorted(mesh.model_schemas[schema]))
            instead = (_instead(mesh, target, node) if target and
                       mesh.nodes[target]["resource_type"] != "source"
                       else f"read the products of {owners} with ref()")
            report(source["relation_name"],
                   f"{label} reads source {source['source_name']}.{source['name']}, declared "
                   f"on schema {source.get('schema')}, where the build writes the models of "
                   f"{owners}: a source is outside data, not a way around ref()",
                   f"{instead}; remove the source {source['source_name']} from "
                   f"{source.get('original_file_path')}")
    try:
        tree = sqlglot.parse_one(sql, dialect="duckdb")
    except SqlglotError as error:
        report("?", f"the compiled SQL of {label} does not parse ({str(error)[:120]}), so "
               "what it reads cannot be checked", f"simplify the SQL of {where}")
        return found
    allowed = {relation_key(mesh.nodes[p]["relation_name"])
               for p in declared if p in mesh.nodes and mesh.nodes[p].get("relation_name")}
    allowed_nodes = declared | {uid}
    ctes = _cte_names(tree)
    for table in tree.find_all(exp.Table):
        func = table.this
        if isinstance(func, exp.Func):
            name = _function_name(func)
            text = func.sql(dialect="duckdb")
            reader = mesh.readers.get(text)
            if reader in declared:
                continue
            if name not in FILE_FUNCTIONS:
                continue
            if name == "read_text" and _salt_read(table):
                continue
            if reader is not None:
                fix = f"read it with {_ref(mesh.nodes[reader], node)} (add it to {where})"
            else:
                fix = ("declare the file as a source of your domain (models/staging/"
                       "__sources.yml, meta.external_location under the source data) and read "
                       "it with {{ source('<source>', '<table>') }}; never read platform or "
                       "system files")
            shown = name + text[text.index("("):] if "(" in text else text
            report(shown, f"{label} reads {shown}, a {name}() no source or ref of {label} "
                   "declares (a model may read only what its refs and sources name)", fix)
            continue
        if not isinstance(func, exp.Identifier):
            continue
        if not table.db and not table.catalog and table.name.lower() in ctes:
            continue
        key = _key(table.catalog, table.db, table.name)
        if key in allowed or any(a.endswith("." + key) for a in allowed):
            continue
        target = mesh.find(key)
        if target in allowed_nodes:
            continue
        written = ".".join(p for p in (table.catalog, table.db, table.name) if p)
        if target is not None:
            fix = f"{_instead(mesh, target, node)}, in {where}"
        else:
            fix = (f"read what {written} holds through the ref() of the product that "
                   f"publishes it, or a source() of your domain, in {where}")
        report(written, f"{label} reads {written}, which none of its refs and sources "
               "names (in DuckDB every schema of the build is reachable by raw name; only "
               "ref() and source() are declared reads)", fix)
    return found


def check(manifest: dict, packages: set[str] | None = None) -> list[Finding]:
    """Every undeclared read of every model with compiled SQL (of ``packages`` only,
    when given)."""
    mesh = _Mesh.of(manifest)
    found: list[Finding] = []
    for _, node in sorted(manifest["nodes"].items()):
        if node["resource_type"] not in ("model", "snapshot"):
            continue
        if packages is not None and node["package_name"] not in packages:
            continue
        sql = node.get("compiled_code")
        if sql:
            found += check_model(mesh, node, sql)
    unique: dict[tuple[str, str], Finding] = {}
    for finding in found:
        unique.setdefault((finding.node, finding.relation), finding)
    return list(unique.values())
