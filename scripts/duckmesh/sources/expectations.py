"""Declared expectations of a source contract, written once as SQL that DuckDB runs.

A column of a source table in ``__sources.yml`` declares what its values must satisfy
beside its type, under ``config.meta`` (docs/quality-gates.md lists them):

    required: true                     not null and, for text, not blank
    accepted_range: {min: 1, max: 5}   a number (or date) inside the range; {min: 0} for
                                       amounts that are never negative
    not_before: opened_at              a timestamp never earlier than another column's
    references: {source: order_system.orders, column: order_id}
    references: {seed: campaigns, column: campaign_id}
                                       a value that exists in another source or a seed
    dense: true                        a whole-number key: every value between its lowest
                                       and highest is present (a file-level check)

Every text column is also checked for control characters (a NUL byte in a name): no
export writes them; a damaged file does. A row that breaks a row-level expectation is
quarantined with the reason; ``dense`` holds the whole source back.

The checks are SQL over the contract's columns as typed values: ``typed`` maps a column
name to an SQL expression of its value in its declared type (Parquet: the column itself;
CSV and JSON lines: a cast of its text), so one definition serves every format.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import duckdb

from duckmesh.core.sql import quote_ident, quote_literal

# C0 control characters other than tab, line feed and carriage return
CONTROL = r"[\x00-\x08\x0B\x0C\x0E-\x1F]"
TEXT = ("varchar", "text", "string")


@dataclass(frozen=True)
class Reference:
    """Where the values a column references are: a source's files or a seed."""
    label: str  # as declared: order_system.orders.order_id, or seed campaigns.campaign_id
    column: str
    format: str  # parquet | csv
    path: str  # a glob relative to the data folder (source) or an absolute path (seed)
    in_data: bool  # path is relative to the data folder
    delimiter: str = ","


class ColumnSpec(Protocol):
    """What this module reads of validation.ColumnSpec."""

    @property
    def name(self) -> str: ...
    @property
    def data_type(self) -> str: ...
    @property
    def required(self) -> bool: ...
    @property
    def format(self) -> str | None: ...
    @property
    def accepted_range(self) -> tuple[object, object] | None: ...
    @property
    def not_before(self) -> str | None: ...
    @property
    def references(self) -> Reference | None: ...
    @property
    def dense(self) -> bool: ...


class SourceSpec(Protocol):
    @property
    def columns(self) -> Sequence[ColumnSpec]: ...


@dataclass(frozen=True)
class Check:
    violated: str  # SQL, true when the row breaks the expectation (null: it does not)
    reason: str  # SQL text expression: the quarantine reason


def kind(column: ColumnSpec) -> str:
    return column.data_type.split("(")[0].strip().lower()


def text_value(column: ColumnSpec, text: str) -> str:
    """SQL: the text ``text`` as a value of the column's declared type (null when it is
    not one: the type checks report that)."""
    base = kind(column)
    if base in TEXT:
        return text
    if base in ("integer", "bigint", "smallint", "hugeint"):
        return f"try_cast(trim({text}) as hugeint)"
    if base in ("decimal", "numeric", "double", "float"):
        return f"try_cast(trim({text}) as double)"
    if base == "date" or base.startswith("timestamp"):
        if column.format:
            return f"try_strptime({text}, {quote_literal(column.format)})"
        if base == "date":
            return f"try_cast({text} as date)"
        return f"try_cast(replace({text}, 'Z', '+00:00') as timestamptz)"
    return text


def _literal(value: object) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value)
    return quote_literal(str(value))


def row_checks(spec: SourceSpec, typed: Callable[[str], str | None],
               reference_tables: dict[str, str],
               text: Callable[[str], str] | None = None) -> list[Check]:
    """The row-level expectations of ``spec`` over the columns ``typed`` can name
    (None: the column is not in the file; drift reports it); ``text`` gives a column's
    value as the file wrote it, to show in a reason (default: the typed value as text)."""
    checks = []
    for column in spec.columns:
        value = typed(column.name)
        if value is None:
            continue
        shown = text(column.name) if text else f"{value}::varchar"
        if column.required and kind(column) in TEXT:
            checks.append(Check(f"trim({value}) = ''",
                                quote_literal(f"missing required column {column.name} "
                                              "(blank)")))
        if kind(column) in TEXT:
            found = f"regexp_extract({value}, '{CONTROL}')"
            checks.append(Check(
                f"regexp_matches({value}, '{CONTROL}')",
                f"'control character ' || printf('U+%04X', unicode({found})) || "
                f"{quote_literal(f' in {column.name}: a damaged file or a bad export')}"))
        if column.accepted_range:
            low, high = column.accepted_range
            parts = ([f"{value} < {_literal(low)}"] if low is not None else []) + (
                [f"{value} > {_literal(high)}"] if high is not None else [])
            bounds = " to ".join(str(b) for b in (low, high) if b is not None)
            side = "" if low is not None and high is not None else (
                "at least " if low is not None else "at most ")
            checks.append(Check(
                " or ".join(parts),
                f"'out of range in {column.name}: ' || {shown} || "
                f"{quote_literal(f' is not {side}{bounds} (accepted_range)')}"))
        if column.not_before:
            other = typed(column.not_before)
            if other is not None:
                checks.append(Check(
                    f"{value} < {other}",
                    f"'{column.name} before {column.not_before}: ' || {shown} || ' < ' || "
                    f"{text(column.not_before) if text else other + '::varchar'} || "
                    "' (not_before)'"))
        if column.references and column.name in reference_tables:
            table = reference_tables[column.name]
            ref = column.references
            checks.append(Check(
                f"trim({value}::varchar) <> '' and "
                f"trim({value}::varchar) not in (select v from {table})",
                f"'orphan {column.name}: ' || {shown} || "
                f"{quote_literal(f' is not in {ref.label} (references)')}"))
    return checks


def reason_sql(checks: list[Check]) -> str:
    """SQL: every broken expectation's reason, '; '-joined ('' when none)."""
    if not checks:
        return "''"
    return "concat_ws('; ', " + ", ".join(
        f"case when coalesce({c.violated}, false) then {c.reason} end" for c in checks) + ")"


def any_sql(checks: list[Check]) -> str:
    return " or ".join(f"coalesce({c.violated}, false)" for c in checks) or "false"


def load_references(con: duckdb.DuckDBPyConnection, spec: SourceSpec,
                    data_dir: Path) -> dict[str, str]:
    """Temp tables of the values each referencing column may take, column -> table
    name; a reference whose files are absent is not checked (their own source check
    names them)."""
    tables = {}
    for index, column in enumerate(c for c in spec.columns if c.references):
        ref = column.references
        assert ref is not None
        files = (sorted(str(p) for p in data_dir.glob(ref.path) if p.is_file())
                 if ref.in_data else ([ref.path] if Path(ref.path).is_file() else []))
        if not files:
            continue
        if ref.format == "parquet":
            read = f"read_parquet({_list(files)})"
        else:
            # a malformed line of the referenced file is skipped: it is quarantined from
            # its own source, so a row referencing it is an orphan in the products too
            read = (f"read_csv({_list(files)}, header = true, all_varchar = true, "
                    f"delim = {quote_literal(ref.delimiter)}, ignore_errors = true)")
        table = f"ref_{index}"
        try:
            con.execute(f"create or replace temp table {table} as select distinct "
                        f"trim({quote_ident(ref.column)}::varchar) as v from {read}")
        except duckdb.Error:
            continue  # unreadable: the referenced source's own check stops the build
        tables[column.name] = table
    return tables


def _list(files: list[str]) -> str:
    return "[" + ", ".join(quote_literal(f) for f in files) + "]"


def dense_problems(con: duckdb.DuckDBPyConnection, spec: SourceSpec,
                   typed: Callable[[str], str | None], relation: str,
                   where: str = "true") -> list[str]:
    """Why a ``dense`` key of ``relation`` is not: some values between its lowest and
    highest are missing (a damaged page that changed keys)."""
    problems = []
    for column in spec.columns:
        value = typed(column.name)
        if not column.dense or value is None:
            continue
        low, high, distinct = con.execute(
            f"select min({value}), max({value}), count(distinct {value}) "
            f"from {relation} where {where}").fetchall()[0]
        if low is not None and high - low + 1 != distinct:
            problems.append(f"key {column.name} is not dense: {distinct:,} distinct values "
                            f"from {low:,} to {high:,} (validation: dense), a damaged page "
                            "or a partial drop")
    return problems
