"""Contracts from data: a relation's or a query's columns and DuckDB types, the
harmonised type the P05 naming rules expect, and the product YAML that enforces them.

Types are read with DuckDB's DESCRIBE and written as DuckDB prints them, lower-cased
(``varchar``, ``bigint``, ``timestamp with time zone``, ``decimal(18,2)``): the names a
dbt-duckdb contract compares against.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import sqlglot
import yaml
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from duckmesh.core import builddb, yamledit, yamlio
from duckmesh.core.names import InvalidInput
from duckmesh.core.project import MeshError
from duckmesh.core.sql import quote_ident
from duckmesh.core.types import canonical_type

# A description the platform cannot know is written empty, with this marker as a
# YAML comment beside it: clearly marked for the team, and still missing for
# governance (P02 rejects empty descriptions) until someone writes it.
TODO_MARKER = "TODO: describe"

# P05: the type a column's name promises, as globs on the name (first match wins).
# The governance policy's defaults; the root dbt_project.yml may override them in
# vars.duckmesh_governance.field_types, which field_type_rules() reads.
DEFAULT_FIELD_TYPES: list[tuple[str, str]] = [
    ("*_id", "varchar"),
    ("*_at", "timestamp with time zone"),
    ("*_date", "date"),
    ("is_*", "boolean"),
    ("has_*", "boolean"),
    ("*_amount", "decimal(18,2)"),
]

# Column names that usually hold personal data (P06): flagged for review.
PII_NAMES = re.compile(
    r"(^|_)(e_?mail|phone|mobile|first_name|last_name|full_name|address|street|"
    r"birth_?date|date_of_birth|iban|ssn|passport|ip_address)($|_)")


@dataclass
class Column:
    name: str
    data_type: str
    description: str = ""
    # P05: the type the name asks for, when it differs from data_type
    suggested_type: str | None = None
    # the SQL casts the column to suggested_type (and data_type is that type)
    cast_applied: bool = False

    @property
    def needs_description(self) -> bool:
        return is_todo(self.description)


@dataclass
class ProductSpec:
    """What a product's YAML says: enough to write it and to list its gaps."""
    name: str
    description: str
    columns: list[Column]
    primary_key: str | None = None
    classification: str = "internal"
    lifecycle: str = "active"
    freshness_hours: int = 24
    min_rows: int = 1
    version: int = 1
    extra_tests: dict[str, list] = field(default_factory=dict)
    # the model's own data tests (model-level: dbt_utils.expression_is_true and the like)
    model_tests: list = field(default_factory=list)


def is_todo(description: str | None) -> bool:
    return not (description or "").strip() or (description or "").strip().startswith("TODO")


def normalise_type(duckdb_type: str) -> str:
    """DuckDB's printed type as a contract data_type: the canonical spelling of the
    mesh's one type table (lower case, no spaces in (p,s))."""
    return canonical_type(duckdb_type)


def field_type_rules(mesh_root: Path | None) -> list[tuple[str, str]]:
    """The mesh's P05 rules: vars.duckmesh_governance.field_types, else the defaults."""
    if mesh_root is not None and (mesh_root / "dbt_project.yml").is_file():
        project = yamlio.loads((mesh_root / "dbt_project.yml").read_text()) or {}
        config = (project.get("vars") or {}).get("duckmesh_governance") or {}
        rules = config.get("field_types") if isinstance(config, dict) else None
        if rules:
            return [(str(r["columns"]), normalise_type(str(r["data_type"]))) for r in rules]
    return list(DEFAULT_FIELD_TYPES)


def p05_type(column_name: str, rules: list[tuple[str, str]] | None = None) -> str | None:
    """The type the P05 naming rules expect for ``column_name`` (None: no rule)."""
    for glob, expected in rules or DEFAULT_FIELD_TYPES:
        if fnmatch.fnmatchcase(column_name.lower(), glob.lower()):
            return expected
    return None


def looks_like_pii(column_name: str) -> bool:
    return bool(PII_NAMES.search(column_name))


def connect_db(db_path: Path) -> duckdb.DuckDBPyConnection:
    if not db_path.exists():
        raise MeshError(f"database {db_path} does not exist: run `duckmesh build` first "
                        "(or set DUCKMESH_DB to the mesh's database file)")
    try:
        # read-only, so the one query scaffolding runs cannot change the database; when
        # this process already holds the file through dbt-duckdb (DuckDB refuses a second
        # instance of one file with another configuration), that instance is reused
        try:
            return builddb.connect(db_path, read_only=True)
        except duckdb.ConnectionException:
            return builddb.connect(db_path)
    except duckdb.IOException as error:
        raise MeshError(f"cannot open {db_path} ({error}): another process holds it; "
                        "wait for it to finish or stop it (`duckmesh doctor` shows which)"
                        ) from error


def require_one_query(sql: str, where: str) -> None:
    """A product is one query: refuse SQL that is anything else (several statements, DDL,
    COPY, ...) before DuckDB sees it, so scaffolding never changes the database."""
    try:
        statements = [s for s in sqlglot.parse(sql, dialect="duckdb") if s is not None]
    except sqlglot.errors.ParseError as error:
        raise InvalidInput(f"{where} is not valid SQL ({str(error).splitlines()[0]})") from error
    if len(statements) != 1 or not isinstance(statements[0], sqlglot.exp.Query):
        kinds = ", ".join(s.key.upper() for s in statements) or "nothing"
        raise InvalidInput(f"{where} must hold exactly one SELECT; it holds {len(statements)} "
                           f"statement(s) ({kinds}). A product is one query, and scaffolding "
                           "never runs anything that changes the database")


def describe_query(con: duckdb.DuckDBPyConnection, sql: str) -> list[Column]:
    """Columns and types of ``sql`` without reading any row (LIMIT 0)."""
    body = sql.strip().rstrip(";")
    rows = con.execute(f"describe select * from ({body}) as query limit 0").fetchall()
    return [Column(name=row[0], data_type=normalise_type(row[1])) for row in rows]


def castable(con: duckdb.DuckDBPyConnection, sql: str, column: str, to_type: str) -> bool:
    """True when every non-null value of ``column`` in ``sql`` casts to ``to_type``."""
    body = sql.strip().rstrip(";")
    quoted = quote_ident(column)
    query = (f"select count(*) from ({body}) as query "
             f"where {quoted} is not null and try_cast({quoted} as {to_type}) is null")
    try:
        return con.execute(query).fetchall()[0][0] == 0
    except duckdb.Error:
        return False


# P10: DuckDB types a contract cannot carry to every engine, and the portable type
# each is cast to (duckmesh_platform.mesh_logical_type() lists the portable ones).
# sum() of an integer column is a hugeint in DuckDB: the usual case.
PORTABLE_TYPES = {
    "hugeint": "bigint", "uhugeint": "bigint", "ubigint": "bigint", "uinteger": "bigint",
    "tinyint": "integer", "smallint": "integer", "utinyint": "integer",
    "usmallint": "integer", "float": "double", "real": "double",
    "timestamp_s": "timestamp", "timestamp_ms": "timestamp", "timestamp_ns": "timestamp",
    "uuid": "varchar",
}


def p10_type(data_type: str) -> str | None:
    """The portable type P10 wants instead of ``data_type`` (None: already portable,
    or a type no cast makes portable, such as a list or a struct)."""
    return PORTABLE_TYPES.get(data_type)


def suggest_types(columns: list[Column], rules: list[tuple[str, str]] | None = None) -> None:
    """Mark each column whose type differs from what P05 expects of its name, or
    (no P05 rule) that P10 cannot carry to every engine."""
    for column in columns:
        expected = p05_type(column.name, rules) or p10_type(column.data_type)
        if expected and expected != column.data_type:
            column.suggested_type = expected


def apply_casts(con: duckdb.DuckDBPyConnection, sql: str, columns: list[Column]) -> None:
    """Take each suggested type (P05/P10) as the column's type, to be cast in the SQL,
    when every value of the column in ``sql`` casts to it; the others stay suggestions
    (a gap the team resolves). Shared by new-product and adopt."""
    for column in columns:
        if column.suggested_type and castable(con, sql, column.name, column.suggested_type):
            column.data_type, column.cast_applied = column.suggested_type, True


def scalar(value: str) -> str:
    """A string as a one-line YAML scalar, quoted only when it must be."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000, allow_unicode=True)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def set_description(mapping: CommentedMap, description: str | None) -> None:
    """``description:`` as given, or empty with the TODO marker as its comment."""
    if is_todo(description):
        mapping["description"] = ""
        mapping.yaml_add_eol_comment(TODO_MARKER, "description")
    else:
        mapping["description"] = description


def product_yaml(spec: ProductSpec) -> str:
    """The product's YAML: versioned, contract columns typed, TODOs marked."""
    entry = CommentedMap()
    entry["name"] = spec.name
    set_description(entry, spec.description)
    entry["latest_version"] = spec.version
    entry["config"] = {"meta": {
        "classification": spec.classification,
        "lifecycle": spec.lifecycle,
        "slo": {"freshness_hours": spec.freshness_hours, "min_rows": spec.min_rows},
    }}
    if spec.primary_key:
        key = CommentedSeq([spec.primary_key])
        key.fa.set_flow_style()
        entry["constraints"] = [{"type": "primary_key", "columns": key}]
    if spec.model_tests:
        entry["data_tests"] = list(spec.model_tests)
    columns = []
    for column in spec.columns:
        item = CommentedMap()
        item["name"] = column.name
        set_description(item, column.description)
        item["data_type"] = column.data_type
        if column.suggested_type and not column.cast_applied:
            item.yaml_add_eol_comment(
                f"P05 expects {column.suggested_type}: cast it in the SQL", "data_type")
        tests = list(spec.extra_tests.get(column.name, []))
        if column.name == spec.primary_key:
            item["constraints"] = [{"type": "not_null"}]
            tests = ["unique", "not_null"] + [t for t in tests if t not in ("unique", "not_null")]
        if tests:
            item["data_tests"] = tests
        columns.append(item)
    entry["columns"] = columns
    entry["versions"] = [{"v": spec.version}]
    return yamledit.dumps({"models": [entry]})


def guess_primary_key(product: str, columns: list[Column]) -> str | None:
    """``<product>_id`` (singular or plural), else the first column when it is an id."""
    names = [c.name for c in columns]
    for candidate in (f"{product}_id", f"{product.removesuffix('s')}_id"):
        if candidate in names:
            return candidate
    if names and names[0].endswith("_id"):
        return names[0]
    return None
