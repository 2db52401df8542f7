"""P10 over compiled SQL: SQL that only DuckDB accepts, caught before any other engine.

The macro P10 (macros/governance/p10_portability.sql) judges contracts and constraints
in dbt's hook, before dbt compiles: it cannot see a model's SQL. A product the mesh
builds on DuckDB every day may still not run on the other engines it is configured for
(``vars.duckmesh_governance.portability_engines``; Spark through profiles/, Snowflake
and BigQuery): a ``with`` nested inside a CTE (what adopt makes of a query that starts
with its own ``with``), ``range()`` over dates in a time spine, a ``::`` cast. This
check parses each compiled model with sqlglot (DuckDB dialect) and reports

- the DuckDB-only constructs of ``CONSTRUCTS`` that the model's own SQL writes, on the
  engines that reject them, with the portable form (a macro of macros/portability/, or
  dbt's cross-engine macro, where one exists). A construct a macro renders is the
  macro's business: dispatched macros render each engine's own SQL, so a construct is
  only reported when the model's SQL, Jinja removed, writes it too;
- anything sqlglot cannot write for an engine: every compiled model transpiles from
  DuckDB to each engine with ``unsupported_level=RAISE`` and the result parses back in
  that engine's dialect (a syntax-level check, no engine or emulator needed).

It runs in the governance gate (gate.py) with the policies over compiled SQL, on every
path that builds or publishes, and in `duckmesh governance check` over the last
build's manifest. Exempt a model as for any policy: ``{policy: P10, node: <unique_id>,
reason, expires}``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, SqlglotError
from sqlglot.tokens import TokenType

from duckmesh.core.project import MeshError
from duckmesh.governance.report import Violation

POLICY = "P10"
# what vars.duckmesh_governance.portability_engines may name: sqlglot dialect -> name
ENGINES = {"spark": "Spark", "snowflake": "Snowflake", "bigquery": "BigQuery"}
_JINJA = re.compile(r"{{.*?}}|{%.*?%}|{#.*?#}", re.DOTALL)
# the findings cached per SQL text change with the rules and with sqlglot
_CACHE_VERSION = f"2-{sqlglot.__version__}"
_DATE_TYPES = {exp.DataType.Type.DATE, exp.DataType.Type.DATETIME,
               exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPTZ,
               exp.DataType.Type.TIMESTAMPLTZ, exp.DataType.Type.TIMESTAMPNTZ}


@dataclass(frozen=True)
class Construct:
    """One DuckDB-only construct: where it is in a parsed query, which engines reject it."""

    name: str
    engines: tuple[str, ...]
    # (compiled tree, the model's own SQL without Jinja) -> what it is, as found
    find: Callable[[exp.Expr, str], Iterable[str]]
    written: re.Pattern[str]  # how the model's own SQL (Jinja removed) spells it
    fix: str


def _nested_with(tree: exp.Expr, _sql: str) -> Iterable[str]:
    for cte in tree.find_all(exp.CTE):
        if cte.this.args.get("with_") is not None:
            yield f"a `with` nested inside CTE {cte.alias_or_name}"


def _is_temporal(value: exp.Expr | None) -> bool:
    if isinstance(value, exp.Interval):
        return True
    if isinstance(value, (exp.Cast, exp.TryCast)):
        return value.to.this in _DATE_TYPES
    return isinstance(value, (exp.CurrentDate, exp.CurrentTimestamp, exp.DateAdd,
                              exp.DateSub, exp.DateTrunc, exp.TimestampTrunc))


def _range_over_dates(tree: exp.Expr, _own: str) -> Iterable[str]:
    for series in tree.find_all(exp.GenerateSeries):
        if any(_is_temporal(series.args.get(key)) for key in ("start", "end", "step")):
            name = "range" if series.args.get("is_end_exclusive") else "generate_series"
            yield f"{name}() over dates"


def _double_colon(_tree: exp.Expr, own: str) -> Iterable[str]:
    """A `::` the model writes (not in a comment or a string)."""
    try:
        tokens = sqlglot.Dialect.get_or_raise("duckdb").tokenize(own)
    except SqlglotError:
        return
    if any(token.token_type == TokenType.DCOLON for token in tokens):
        yield "a `::` cast"


def _qualify(tree: exp.Expr, _sql: str) -> Iterable[str]:
    if tree.find(exp.Qualify) is not None:
        yield "`qualify`"


def _star_exclude(tree: exp.Expr, _sql: str) -> Iterable[str]:
    for star in tree.find_all(exp.Star):
        if star.args.get("except_"):
            yield "`select * exclude (...)`"


CONSTRUCTS = (
    Construct("nested_with", ("spark",), _nested_with, re.compile(r"\bwith\b", re.I),
              "move the inner query's CTEs up into the model's own `with` list, before the "
              "CTE that used them (one level of CTEs runs everywhere)"),
    Construct("range_over_dates", ("spark", "snowflake", "bigquery"), _range_over_dates,
              re.compile(r"\b(range|generate_series)\s*\(", re.I),
              "build the dates with {{ dbt.date_spine('day', \"cast('<first>' as date)\", "
              "\"cast('<after the last>' as date)\") }}, which dbt renders for each engine "
              "(range() counts bigints only on Spark; Snowflake and BigQuery have no range "
              "table function)"),
    Construct("double_colon", ("spark", "bigquery"), _double_colon, re.compile(r"::"),
              "write cast(<value> as <type>), with {{ duckmesh_platform.mesh_type('<type>') }} "
              "for the type (macros/portability/mesh_type.sql)"),
    Construct("qualify", ("spark",), _qualify, re.compile(r"\bqualify\b", re.I),
              "compute the window function in a CTE and filter it with `where` in the next"),
    Construct("star_exclude", ("spark", "bigquery"), _star_exclude,
              re.compile(r"\bexclude\b", re.I),
              "list the columns the model keeps"),
)


def model_file(node: dict, root_package: str | None) -> str:
    """The model's SQL file from the mesh root (domains/<package>/models/...)."""
    path = node.get("original_file_path") or node["unique_id"]
    package = node.get("package_name")
    return path if package == root_package else f"domains/{package}/{path}"


def _engine_list(engines: Iterable[str]) -> str:
    names = [ENGINES[e] for e in engines]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _own_sql(raw: str) -> str:
    """The model's SQL without its Jinja: what it writes itself, not what macros render."""
    return _JINJA.sub(" ", raw)


def _transpile_error(tree: exp.Expr, engine: str) -> str | None:
    """Why sqlglot cannot write ``tree`` (parsed as DuckDB) for ``engine`` and parse it
    back in that engine's dialect."""
    try:
        sqlglot.parse(tree.sql(dialect=engine, unsupported_level=ErrorLevel.RAISE),
                      read=engine)
    except ParseError as error:
        first = error.errors[0] if error.errors else {}
        return (f"{first.get('description') or 'a parse error'} at "
                f"'{first.get('highlight') or '?'}'")
    except SqlglotError as error:
        return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
    return None


def check_sql(sql: str, raw: str, engines: Iterable[str]) -> list[tuple[str, str, str]]:
    """(construct, engines as a phrase, fix) for every portability problem of ``sql``
    (compiled, DuckDB) whose model's own SQL is ``raw`` (Jinja and all), on ``engines``."""
    wanted = [e for e in ENGINES if e in set(engines)]
    if not wanted:
        return []
    try:
        tree = sqlglot.parse_one(sql, dialect="duckdb")
    except SqlglotError:
        return []  # P13 reports SQL that does not parse
    own = _own_sql(raw)
    found: list[tuple[str, str, str]] = []
    for construct in CONSTRUCTS:
        rejecting = [e for e in wanted if e in construct.engines]
        if not rejecting or not construct.written.search(own):
            continue
        for what in dict.fromkeys(construct.find(tree, own)):
            found.append((what, _engine_list(rejecting), construct.fix))
    for engine in wanted:
        error = _transpile_error(tree, engine)
        if error is not None:
            found.append((f"SQL that sqlglot cannot write for {ENGINES[engine]} ({error})",
                          ENGINES[engine], "rewrite it with the portability macros of "
                          "macros/portability/ (docs/scale-out.md), or exempt the model"))
    return found


def _cached(path: Path | None) -> dict:
    try:
        data = json.loads(path.read_text()) if path is not None else {}
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != _CACHE_VERSION:
        return {}
    models = data.get("models")
    return models if isinstance(models, dict) else {}


def _keep(path: Path | None, models: dict) -> None:
    """Atomically; a cache that cannot be written only costs time."""
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps({"version": _CACHE_VERSION, "models": models}))
        os.replace(temporary, path)
    except OSError:
        pass


def violations(manifest: dict, engines: Iterable[str], packages: set[str] | None = None,
               cache_path: Path | None = None) -> list[Violation]:
    """P10 over every model with compiled SQL (of ``packages`` only, when given) of a
    manifest compiled for DuckDB;
    ``cache_path``: the findings of each SQL text kept between runs (a build that
    changed one model parses one model)."""
    given = {str(e).lower() for e in engines}
    unknown = sorted(given - set(ENGINES))
    if unknown:
        raise MeshError(f"vars.duckmesh_governance.portability_engines names {unknown}, "
                        f"which the portability check does not know: use {sorted(ENGINES)}")
    metadata = manifest.get("metadata") or {}
    if str(metadata.get("adapter_type") or "duckdb") != "duckdb":
        return []  # compiled for another engine: its SQL is that engine's already
    engines = [e for e in ENGINES if e in given]
    root = metadata.get("project_name")
    cached = _cached(cache_path)
    seen: dict[str, list] = {}
    found: list[Violation] = []
    for uid, node in sorted(manifest["nodes"].items()):
        if node["resource_type"] != "model" or not node.get("compiled_code"):
            continue
        if packages is not None and node["package_name"] not in packages:
            continue
        sql, raw = node["compiled_code"], node.get("raw_code") or ""
        digest = hashlib.sha256(json.dumps([sql, raw, engines]).encode()).hexdigest()
        problems = seen[digest] = cached[digest] if digest in cached else check_sql(
            sql, raw, engines)
        where = model_file(node, root)
        for what, rejecting, fix in problems:
            found.append(Violation(
                POLICY, "error", str(node.get("group") or node["package_name"]), uid, None,
                f"{where} uses {what}, which {rejecting} cannot run: the model is not "
                "portable", f"{fix}, in {where}"))
    if seen.keys() - cached.keys():
        _keep(cache_path, seen)
    return found
