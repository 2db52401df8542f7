"""Column-level lineage from dbt's compiled SQL, parsed with sqlglot (DuckDB dialect).

Each model's compiled query is qualified (stars expanded where the upstream columns
are known), unused CTE columns are pruned, then every output column is followed
through CTEs and subqueries to the base relations it reads. Private models are then
looked through, so a product column resolves to the columns of the sources, seeds
and upstream public products that feed it: the value lineage (what flows into the
column), as sqlglot's own ``lineage`` defines it; filters and join keys count as
"used" columns (for the consumers table) but not as lineage.

Each query is parsed and qualified once and every output column is resolved in one walk
over its scopes (memoised per scope and column). The per-model result is cached in
terms of table keys (``target/catalog/lineage_cache.json``), keyed by a hash of the
compiled SQL and the upstream schema, so a rebuild re-parses only models whose SQL or
inputs changed (optionally a large batch of misses is spread over worker processes).
"""

from __future__ import annotations

import json
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.pushdown_projections import pushdown_projections
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, build_scope

from duckmesh.core.fingerprint import json_digest
from duckmesh.core.sql import qualified_name

# an upstream column: (dbt unique_id, column name)
ColumnKey = tuple[str, str]

SOURCE_PLACEHOLDER_CATALOG = "__duckmesh_source__"
# the pseudo column of a relation's rows: an aggregate that reads no column (count(*),
# count(1)) derives from the rows of what its query reads (P12: restrictions follow
# counts); every model's lineage also has it, so it chains through private models
ROWS = "*rows"

# bump when the analysis changes what it returns: old cache entries are then ignored
CACHE_VERSION = f"3/sqlglot-{sqlglot.__version__}"
# DUCKMESH_LINEAGE_WORKERS=N spreads a batch of at least this many uncached models over N
# processes; off by default: on a 2-core machine the spawned workers made it slower
PARALLEL_MIN_MODELS = 200


@dataclass
class ModelColumns:
    """One model's direct lineage: output column -> base relation columns it reads;
    ``counted``: output column -> (relation, ROWS) of the rows an aggregate that reads
    no column counts (and ROWS -> the rows the model reads), apart from the value
    lineage, for access (publish.derived), not for the catalog."""

    columns: dict[str, set[ColumnKey]] = field(default_factory=dict)
    used: set[ColumnKey] = field(default_factory=set)
    error: str | None = None
    counted: dict[str, set[ColumnKey]] = field(default_factory=dict)


def relation_key(relation_name: str) -> str:
    """'"mesh"."sales"."orders_v1"' -> 'mesh.sales.orders_v1' (lowercase)."""
    return ".".join(part.strip('"').lower() for part in relation_name.split("."))


def _table_key(table: exp.Table) -> str:
    return ".".join(part.lower() for part in (table.catalog, table.db, table.name) if part)


@dataclass
class RawColumns:
    """One model's direct lineage in terms of table keys ('db.schema.table', as written
    in the query): what is cached, independent of the mesh's unique_ids."""

    columns: dict[str, set[ColumnKey]] = field(default_factory=dict)
    used: set[ColumnKey] = field(default_factory=set)
    error: str | None = None
    counted: dict[str, set[ColumnKey]] = field(default_factory=dict)

    def resolve(self, relations: dict[str, str]) -> ModelColumns:
        """Table keys -> unique_ids (relations: table key -> unique_id); others dropped."""
        def ids(found: set[ColumnKey]) -> set[ColumnKey]:
            out = set()
            for key, column in found:
                unique_id = relations.get(key) or relations.get(key.split(".", 1)[-1])
                if unique_id:
                    out.add((unique_id, column))
            return out

        return ModelColumns(columns={name: ids(found) for name, found in self.columns.items()},
                            used=ids(self.used), error=self.error,
                            counted={name: ids(found) for name, found in self.counted.items()})

    def to_json(self) -> dict:
        """Compact: table keys once, columns as [table index, column] pairs."""
        tables = sorted({key for found in (*self.columns.values(), *self.counted.values(),
                                           self.used) for key, _ in found})
        index = {key: position for position, key in enumerate(tables)}

        def pairs(found: set[ColumnKey]) -> list:
            return sorted([index[key], column] for key, column in found)

        return {"tables": tables,
                "columns": [[name, pairs(found)] for name, found in self.columns.items()],
                "used": pairs(self.used), "error": self.error,
                "counted": [[name, pairs(found)] for name, found in self.counted.items()]}

    @classmethod
    def from_json(cls, data: dict) -> RawColumns:
        tables = data["tables"]
        return cls(columns={name: {(tables[i], column) for i, column in found}
                            for name, found in data["columns"]},
                   used={(tables[i], column) for i, column in data["used"]},
                   error=data["error"],
                   counted={name: {(tables[i], column) for i, column in found}
                            for name, found in data.get("counted") or []})


class _Resolver:
    """Follows columns of one qualified query through its scopes to base tables."""

    def __init__(self, unmasked: bool = False) -> None:
        self.memo: dict[tuple[int, str], set[ColumnKey]] = {}
        # P06: leave out the columns a masking form hides (pii.masked)
        self.unmasked = unmasked

    @staticmethod
    def leaf(table: exp.Table, column: str) -> set[ColumnKey]:
        return {(_table_key(table), column)}

    def column(self, scope: Scope, column: exp.Column) -> set[ColumnKey]:
        source = scope.sources.get(column.table) if column.table else None
        selected = scope.selected_sources
        if source is None and len(selected) == 1:
            source = next(iter(selected.values()))[1]
        if isinstance(source, exp.Table):
            return self.leaf(source, column.name)
        if isinstance(source, Scope):
            return self.output(source, column.name)
        return set()

    def expression(self, scope: Scope, node: exp.Expression) -> set[ColumnKey]:
        found: set[ColumnKey] = set()
        for column in node.find_all(exp.Column):
            if self.unmasked and masked(column, node):
                continue
            found |= self.column(scope, column)
        if any(not aggregate.find(exp.Column) for aggregate in node.find_all(exp.AggFunc)):
            found |= self.rows(scope)
        return found

    def rows(self, scope: Scope) -> set[ColumnKey]:
        """The rows ``scope`` reads: (table, ROWS) of every base relation under it."""
        memo_key = (id(scope), ROWS)
        if memo_key in self.memo:
            return self.memo[memo_key]
        self.memo[memo_key] = set()
        found: set[ColumnKey] = set()
        branches = scope.set_operation_scopes if isinstance(
            scope.expression, exp.SetOperation) else []
        for branch in branches:
            found |= self.rows(branch)
        # a left join's optional side does not decide how many rows there are (joined on
        # its key, it adds columns, not rows): its columns carry their own lineage
        optional = {join.this.alias_or_name.lower()
                    for join in scope.expression.args.get("joins") or []
                    if str(join.side or "").upper() == "LEFT"}
        for name, (_, source) in scope.selected_sources.items():
            if name.lower() in optional:
                continue
            if isinstance(source, exp.Table):
                found |= self.leaf(source, ROWS)
            elif isinstance(source, Scope):
                found |= self.rows(source)
        self.memo[memo_key] = found
        return found

    def output(self, scope: Scope, name: str) -> set[ColumnKey]:
        """Base columns feeding output column ``name`` of ``scope``."""
        memo_key = (id(scope), name.lower())
        if memo_key in self.memo:
            return self.memo[memo_key]
        self.memo[memo_key] = set()  # guards against recursive CTEs
        if isinstance(scope.expression, exp.SetOperation):
            found = set()
            first = scope.set_operation_scopes[0] if scope.set_operation_scopes else None
            names = [n.lower() for n in _named_selects(first.expression)] if first else []
            position = names.index(name.lower()) if name.lower() in names else None
            for branch in scope.set_operation_scopes:
                branch_names = _named_selects(branch.expression)
                if position is not None and position < len(branch_names):
                    found |= self.output(branch, branch_names[position])
        elif isinstance(scope.expression, exp.Select):
            found = self._select_output(scope, name)
        else:
            found = set()
        self.memo[memo_key] = found
        return found

    def _select_output(self, scope: Scope, name: str) -> set[ColumnKey]:
        select = scope.expression
        for projection in select.expressions:
            if projection.alias_or_name.lower() == name.lower() and not isinstance(
                    projection, exp.Star):
                return self.expression(scope, projection)
        # an unexpanded `select *` (upstream columns unknown): pass the name through
        if any(isinstance(p, exp.Star) or (isinstance(p, exp.Column) and p.is_star)
               for p in select.expressions):
            for _, source in scope.selected_sources.values():
                if isinstance(source, exp.Table):
                    return self.leaf(source, name)
                found = self.output(source, name)
                if found:
                    return found
        return set()

    def used(self, root: Scope) -> set[ColumnKey]:
        found: set[ColumnKey] = set()
        for scope in root.traverse():
            for column in scope.columns:
                found |= self.column(scope, column)
        return found


def _named_selects(query: Any) -> list[str]:
    """The output names of a SELECT or set operation (sqlglot types its scopes loosely)."""
    return list(query.named_selects)


def _has_star_projection(tree: Any) -> bool:
    """A ``select *`` left after qualifying (every SELECT of the tree is a scope)."""
    return any(isinstance(p, exp.Star) for select in tree.find_all(exp.Select)
               for p in select.expressions)


# masking forms (macros/privacy): pseudonymise is a salted sha256(); mask_pii keeps the
# first character (left(x, 1)), the last two (right(x, 2)) or an e-mail's domain
# (split_part(x, '@', 2))
def masked(column: exp.Column, root: exp.Expression) -> bool:
    """``column`` reaches ``root`` only through a masking form."""
    node: exp.Expr | None = column
    while node is not None and node is not root:
        parent = node.parent
        if isinstance(parent, exp.SHA2) or (isinstance(parent, exp.Anonymous)
                                            and str(parent.name).lower() in ("sha256", "sha2")):
            return True
        if isinstance(parent, exp.Left | exp.Right) and node is parent.this:
            size = parent.args.get("expression")
            if isinstance(size, exp.Literal) and size.this in ("1", "2"):
                return True
        if isinstance(parent, exp.SplitPart) and node is parent.this:
            delimiter, part = parent.args.get("delimiter"), parent.args.get("part_index")
            if isinstance(delimiter, exp.Literal) and delimiter.this == "@" \
                    and isinstance(part, exp.Literal) and part.this == "2":
                return True
        node = parent
    return False


def _scoped(sql: str, schema: dict, prune: bool) -> Scope | None:
    tree = sqlglot.parse_one(sql, dialect="duckdb")
    tree = qualify(tree, dialect="duckdb", schema=schema, validate_qualify_columns=False,
                   identify=False, quote_identifiers=False)
    if prune and not _has_star_projection(tree):
        tree = pushdown_projections(tree)  # needs every star expanded
    return build_scope(tree)


def analyse_model(sql: str, schema: dict, relations: dict[str, str]) -> ModelColumns:
    """Direct column lineage of one compiled model query (relations: table key ->
    unique_id; base tables not in it are left out)."""
    return analyse_raw(sql, schema).resolve(relations)


def analyse_raw(sql: str, schema: dict, unmasked: bool = False) -> RawColumns:
    """Direct column lineage of one compiled model query, by table key.

    Tried with the known upstream columns first (stars expanded, unused columns
    pruned); a query sqlglot cannot qualify that way is retried without the schema,
    where ``select *`` is followed by column name.
    """
    errors = []
    root = None
    for attempt_schema, prune in ((schema, True), ({}, False)):
        try:
            root = _scoped(sql, attempt_schema, prune)
            break
        except (SqlglotError, KeyError, ValueError, AttributeError) as error:
            errors.append(f"{type(error).__name__}: {str(error)[:200]}")
    if root is None and errors:
        return RawColumns(error=errors[-1])
    if root is None:
        return RawColumns(error="no SELECT found")
    resolver = _Resolver(unmasked)
    result = RawColumns()
    outputs = (_named_selects(root.set_operation_scopes[0].expression)
               if root.set_operation_scopes else _named_selects(root.expression))
    for name in outputs:
        if name != "*":
            found = resolver.output(root, name)
            counted = {key for key in found if key[1] == ROWS}
            result.columns[name.lower()] = found - counted
            if counted:
                result.counted[name.lower()] = counted
    result.counted[ROWS] = resolver.rows(root)
    result.used = resolver.used(root)
    return result


def _nested_schema(columns_by_key: dict[str, list[str]]) -> dict:
    """{'db.schema.table': [cols]} -> sqlglot's nested {db: {schema: {table: {col: type}}}}."""
    nested: dict = {}
    for key, columns in columns_by_key.items():
        parts = key.split(".")
        if len(parts) != 3 or not columns:
            continue
        catalog, db, table = parts
        nested.setdefault(catalog, {}).setdefault(db, {})[table] = {
            column.lower(): "varchar" for column in columns}
    return nested


@dataclass
class MeshLineage:
    """Direct lineage of every model, and the product-level view built on it."""

    nodes: dict[str, dict]  # unique_id -> manifest node (models, sources, seeds)
    direct: dict[str, ModelColumns]

    def is_boundary(self, unique_id: str) -> bool:
        """Lineage stops at sources, seeds and public models (other products)."""
        node = self.nodes.get(unique_id, {})
        return node.get("resource_type") in ("source", "seed") or node.get("access") == "public"

    def column_inputs(self, unique_id: str, column: str, counts: bool = False
                      ) -> set[ColumnKey]:
        """Source, seed and upstream-product columns feeding ``unique_id.column``;
        ``counts``: and the relations whose rows it counts, as (unique_id, ROWS)."""
        found: set[ColumnKey] = set()
        stack = [(unique_id, column.lower())]
        seen = set(stack)
        while stack:
            node_id, name = stack.pop()
            model = self.direct.get(node_id)
            if model is None:
                continue
            inputs = model.columns.get(name, set())
            if counts:
                inputs = inputs | model.counted.get(name, set())
            for upstream in inputs:
                if upstream[0] == node_id:
                    continue  # an incremental model reading its own table ({{ this }})
                if self.is_boundary(upstream[0]):
                    found.add(upstream)
                elif upstream not in seen:
                    seen.add(upstream)
                    stack.append(upstream)
        return found


def compile_placeholders(nodes: dict[str, dict]) -> tuple[dict[str, str], dict[str, str]]:
    """(relation key -> unique_id, source text -> placeholder table) for the whole mesh.

    dbt-duckdb renders external sources as table functions (``read_parquet('…')``); they
    are swapped for a placeholder table name before parsing so they resolve like tables.
    """
    relations: dict[str, str] = {}
    placeholders: dict[str, str] = {}
    for unique_id, node in nodes.items():
        relation_name = node.get("relation_name")
        if not relation_name:
            continue
        if node["resource_type"] == "source" and "(" in relation_name:
            placeholder = qualified_name(SOURCE_PLACEHOLDER_CATALOG,
                                         node["source_name"].lower(), node["name"].lower())
            placeholders[relation_name] = placeholder
            relations[relation_key(placeholder)] = unique_id
        else:
            relations[relation_key(relation_name)] = unique_id
        if node.get("access") == "public" and node.get("version") is not None \
                and node.get("version") == node.get("latest_version"):
            # the latest view <schema>.<product> reads like the latest version
            database = (node.get("database") or "").lower()
            relations[f"{database}.{node['schema'].lower()}.{node['name'].lower()}"] = unique_id
    return relations, placeholders


def mesh_lineage(manifest: dict, node_columns: dict[str, list[str]] | None = None,
                 cache_path: Path | None = None, unmasked: bool = False) -> MeshLineage:
    """Analyse every model of the manifest.

    ``node_columns`` maps unique_ids to the columns of their relations (e.g. read from
    the built database); columns declared in the manifest fill the gaps. Without
    either, ``select *`` is followed by name. With ``cache_path`` (a JSON file), models
    whose compiled SQL and upstream schema are unchanged since the last call are not
    parsed again. ``unmasked``: leave out what reaches a column only through a masking
    form (P06's view: the PII a column carries in the clear).
    """
    nodes = {uid: node for uid, node in manifest["nodes"].items()
             if node["resource_type"] in ("model", "seed")}
    nodes.update(manifest.get("sources", {}))
    relations, placeholders = compile_placeholders(nodes)
    by_key: dict[str, list[str]] = {}
    for unique_id, node in nodes.items():
        # declared columns are complete only where a contract enforces them
        declared = list(node.get("columns") or []) if _contracted(node) else []
        columns = (node_columns or {}).get(unique_id) or declared
        if columns:
            by_key[_key_for(node, placeholders)] = columns
    queries: dict[str, tuple[str, dict]] = {}  # unique_id -> (sql, schema)
    for unique_id, node in nodes.items():
        if node["resource_type"] != "model" or not node.get("compiled_code"):
            continue
        # only the model's own inputs: a small schema per query keeps sqlglot fast
        upstream = [nodes[u] for u in node["depends_on"]["nodes"] if u in nodes]
        schema = _nested_schema({key: by_key[key] for key in
                                 (_key_for(n, placeholders) for n in upstream) if key in by_key})
        sql = node["compiled_code"]
        for upstream_node in upstream:
            source_text = upstream_node.get("relation_name") or ""
            if source_text in placeholders:
                sql = sql.replace(source_text, placeholders[source_text])
        queries[unique_id] = (sql, schema)
    raw = analyse_all(queries, cache_path, unmasked)
    direct = {unique_id: raw[unique_id].resolve(relations) for unique_id in queries}
    return MeshLineage(nodes=nodes, direct=direct)


def analyse_all(queries: dict[str, tuple[str, dict]], cache_path: Path | None = None,
                unmasked: bool = False) -> dict[str, RawColumns]:
    """analyse_raw for every (sql, schema), through the cache file when given."""
    hashes = {unique_id: json_digest([CACHE_VERSION, sql, schema, unmasked])
              for unique_id, (sql, schema) in queries.items()}
    cached = _read_cache(cache_path) if cache_path else {}
    results: dict[str, RawColumns] = {}
    missing: dict[str, tuple[str, dict]] = {}  # hash -> query
    for unique_id, digest in hashes.items():
        if digest in cached:
            try:
                results[digest] = RawColumns.from_json(cached[digest])
                continue
            except (KeyError, TypeError, ValueError, IndexError):
                pass  # a damaged entry: analysed again
        missing.setdefault(digest, queries[unique_id])
    results.update(_analyse_many(missing, unmasked))
    if cache_path and (missing or set(cached) != set(results)):
        _write_cache(cache_path, {digest: results[digest].to_json()
                                  for digest in sorted(set(hashes.values()))})
    return {unique_id: results[digest] for unique_id, digest in hashes.items()}


def _workers(count: int) -> int:
    setting = os.environ.get("DUCKMESH_LINEAGE_WORKERS", "1")
    if count < PARALLEL_MIN_MODELS or not setting.isdigit():
        return 1
    return max(1, int(setting))


def _analyse_pair(query: tuple[str, dict, bool]) -> RawColumns:
    return analyse_raw(*query)


def _analyse_many(queries: dict[str, tuple[str, dict]], unmasked: bool = False
                  ) -> dict[str, RawColumns]:
    workers = _workers(len(queries))
    if workers <= 1 or len(queries) < 2:
        return {digest: analyse_raw(sql, schema, True) if unmasked else analyse_raw(sql, schema)
                for digest, (sql, schema) in queries.items()}
    # spawn, not fork: the caller may hold a DuckDB connection (threads, locks)
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        chunk = max(1, len(queries) // (workers * 4))
        found = pool.map(_analyse_pair, [(sql, schema, unmasked)
                                         for sql, schema in queries.values()], chunksize=chunk)
        return dict(zip(queries, found))


def _read_cache(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
        return {}
    models = data.get("models")
    return models if isinstance(models, dict) else {}


def _write_cache(path: Path, models: dict) -> None:
    """Atomically (a reader never sees half a file); a cache that cannot be written
    only costs time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=".lineage-",
                                         suffix=".tmp", delete=False) as handle:
            json.dump({"version": CACHE_VERSION, "models": models}, handle,
                      separators=(",", ":"))
        os.replace(handle.name, path)
    except OSError:
        try:
            os.unlink(handle.name)
        except (OSError, UnboundLocalError):
            pass


def _key_for(node: dict, placeholders: dict[str, str]) -> str:
    relation_name = node.get("relation_name") or ""
    return relation_key(placeholders.get(relation_name, relation_name))


def _contracted(node: dict) -> bool:
    return bool((node.get("contract") or {}).get("enforced"))
