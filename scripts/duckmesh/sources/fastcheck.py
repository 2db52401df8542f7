"""The fast path of the CSV and JSON-lines checks: one DuckDB query per file.

DuckDB reads the file with its own reject handling (``read_csv(..., store_rejects =
true)``: malformed rows, invalid UTF-8, lines over the size limit) and one aggregate
counts the rows whose values break the contract: missing required values, wrong types,
dates outside the window, duplicate keys. Every condition is at least as strict as the
line-by-line checks of validation.py (a date must also print back to the same text, a
file must hold as many rows as lines), so a file found clean here has no bad row there.
When a file is not clean, or DuckDB cannot read it, this returns None and the line-by-line
checks report each bad row with its line and reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Protocol

import duckdb

from duckmesh.core.sql import quote_ident, quote_literal
from duckmesh.sources import expectations
from duckmesh.sources.expectations import ColumnSpec  # what this module reads of a column


class SourceSpec(Protocol):
    """What this module reads of validation.SourceSpec."""

    @property
    def columns(self) -> tuple[ColumnSpec, ...]: ...
    @property
    def key(self) -> tuple[str, ...]: ...
    @property
    def delimiter(self) -> str: ...
    @property
    def date_window(self) -> tuple[date, date]: ...

class ExpectationSpec(SourceSpec, expectations.SourceSpec, Protocol):
    """A contract with declared expectations (validation.SourceSpec)."""

    @property
    def columns(self) -> tuple[expectations.ColumnSpec, ...]: ...


_INT_LIMITS = {"integer": "2147483648", "bigint": "9223372036854775808"}
_INT = r"[+-]?[0-9]+"
_DECIMAL = r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)"
_ISO = (r"[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?"
        r"(Z|[+-][0-9]{2}:[0-9]{2})?)?")


@dataclass
class Clean:
    rows: int
    typed: dict[str, int] = field(default_factory=dict)  # non-empty values per column
    # (0-based row, reasons) of the rows breaking a declared expectation (``violations``),
    # found on the same read when the caller passed its data folder
    violations: list[tuple[int, str]] | None = None


def _lines(path: Path) -> tuple[int, int]:
    """(non-blank lines, longest line in bytes)."""
    count = longest = 0
    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                count += 1
                longest = max(longest, len(line.rstrip(b"\r\n")))
    return count, longest


def _text_ok(column: ColumnSpec, value: str, window: tuple) -> str:
    """SQL true when the text ``value`` is a valid ``column`` (not null, not empty)."""
    kind = column.data_type.split("(")[0].strip()
    low, high = (quote_literal(str(d)) for d in (window[0], window[1] + timedelta(days=1)))
    if kind in ("varchar", "text", "string"):
        return "true"
    if kind in _INT_LIMITS:
        return (f"(regexp_full_match({value}, '{_INT}') and "
                f"abs(try_cast({value} as hugeint)) < {_INT_LIMITS[kind]})")
    if kind in ("decimal", "numeric", "double", "float"):
        return f"regexp_full_match(trim({value}), '{_DECIMAL}')"
    if kind == "boolean":
        return f"lower({value}) in ('true', 'false', 't', 'f', '1', '0')"
    if kind == "date" or kind.startswith("timestamp"):
        if column.format or kind == "date":
            fmt = quote_literal(column.format or "%Y-%m-%d")
            parsed = f"try_strptime({value}, {fmt})"
            return (f"(strftime({parsed}, {fmt}) = {value} and "
                    f"{parsed} >= {low}::timestamp and {parsed} < {high}::timestamp)")
        day = f"try_strptime(left({value}, 10), '%Y-%m-%d')"
        return (f"(regexp_full_match({value}, '{_ISO}') and "
                f"try_cast(replace({value}, 'Z', '+00:00') as timestamptz) is not null and "
                f"{day} >= {low}::timestamp and {day} < {high}::timestamp)")
    return "true"


@dataclass(frozen=True)
class _Column:
    name: str  # lower case, as validation.py keys its values
    empty: str  # SQL: null, absent or ''
    ok: str  # SQL: a valid value (asked only when not empty)
    value: str  # SQL: the value as text (for keys)
    required: bool


def _verdict(con: duckdb.DuckDBPyConnection, spec: SourceSpec, columns: list[_Column],
             rows_expected: int) -> Clean | None:
    """Clean when the temp table ``rows`` holds ``rows_expected`` rows, none breaking
    the contract and no key twice."""
    bad = " or ".join([f"({c.empty})" for c in columns if c.required]
                      + [f"(not ({c.empty}) and not coalesce({c.ok}, false))"
                         for c in columns]) or "false"
    typed = "".join(f", count(*) filter (where not ({c.empty}))" for c in columns)
    row = con.execute(f"select count(*), count(*) filter (where {bad}){typed} from rows"
                      ).fetchall()[0]
    if row[0] != rows_expected or row[1]:
        return None
    by_name = {c.name: c for c in columns}
    keys = [by_name.get(k.lower()) for k in spec.key]
    if keys and all(keys):
        found = [k for k in keys if k is not None]
        not_empty = " and ".join(f"not ({k.empty})" for k in found)
        duplicates = con.execute(
            f"select count(*) - count(distinct row({', '.join(k.value for k in found)})) "
            f"from rows where {not_empty}").fetchall()[0][0]
        if duplicates:
            return None
    return Clean(int(row[0]), {c.name: int(n) for c, n in zip(columns, row[2:])})


def clean_csv(spec: ExpectationSpec, path: Path, header: list[str], max_line: int,
              data_dir: Path | None = None) -> Clean | None:
    """The rows of a CSV file when DuckDB finds every row good, else None; with
    ``data_dir``, also its rows breaking a declared expectation."""
    lines, longest = _lines(path)
    if longest > max_line or len({h.lower() for h in header}) != len(header) or lines < 2:
        return None
    types = "{" + ", ".join(f"{quote_literal(h)}: 'VARCHAR'" for h in header) + "}"
    con = duckdb.connect()
    try:
        con.execute(f"""create temp table rows as select * from read_csv({quote_literal(str(path))},
            delim = {quote_literal(spec.delimiter)}, header = true, columns = {types},
            quote = '"', escape = '"', strict_mode = true, null_padding = false,
            max_line_size = {max_line + 2}, store_rejects = true,
            rejects_table = 'rejected', rejects_scan = 'scanned')""")
        if con.execute("select count(*) from rejected").fetchall()[0][0]:
            return None
        names = {h.lower(): quote_ident(h) for h in header}
        columns = [_Column(n, f"({names[n]} is null or {names[n]} = '')",
                           _text_ok(c, names[n], spec.date_window), names[n], c.required)
                   for c in spec.columns if (n := c.name.lower()) in names]
        clean = _verdict(con, spec, columns, lines - 1)
        if clean is not None and data_dir is not None:
            clean.violations = _violations(con, spec, data_dir, "csv")
        return clean
    except duckdb.Error:
        return None
    finally:
        con.close()


def _json_ok(column: ColumnSpec, value: str, window: tuple) -> tuple[str, str]:
    """(SQL true when the JSON ``value`` is null, absent or '', SQL true when it is valid)."""
    kind_of = f"json_type({value})"
    text = f"({value} ->> '$')"
    empty = f"({kind_of} is null or {kind_of} = 'NULL' or ({kind_of} = 'VARCHAR' and {text} = ''))"
    kind = column.data_type.split("(")[0].strip()
    integer = f"{kind_of} in ('BIGINT', 'UBIGINT')"
    # a number written as a JSON string ("123") is not a number: read_json would type
    # the whole column as JSON
    if kind in ("varchar", "text", "string"):
        ok = f"{kind_of} = 'VARCHAR'"
    elif kind in _INT_LIMITS:
        ok = (f"({integer} and regexp_full_match({text}, '{_INT}') "
              f"and abs(try_cast({text} as hugeint)) < {_INT_LIMITS[kind]})")
    elif kind in ("decimal", "numeric", "double", "float"):
        ok = f"({integer} or {kind_of} = 'DOUBLE')"
    elif kind == "boolean":
        ok = (f"({kind_of} = 'BOOLEAN' or ({kind_of} = 'VARCHAR' and "
              f"lower({text}) in ('true', 'false', 't', 'f', '1', '0')))")
    elif kind == "date" or kind.startswith("timestamp"):
        ok = f"({kind_of} = 'VARCHAR' and {_text_ok(column, text, window)})"
    else:
        ok = "true"
    return empty, ok


def clean_jsonl(spec: ExpectationSpec, path: Path, max_line: int,
                data_dir: Path | None = None) -> Clean | None:
    """The rows of a JSON-lines file when DuckDB finds every row good (every key one of
    the contract's, spelt as there), else None."""
    lines, longest = _lines(path)
    if longest > max_line or not lines:
        return None
    paths = ", ".join(quote_literal(f"$.{c.name}") for c in spec.columns)
    con = duckdb.connect()
    try:
        # each line parsed three times (kind, keys, values), each value once more
        con.execute(f"""create temp table rows as
            select json_type(json) as kind, json_keys(json) as keys,
                json_extract(json, [{paths}]) as v
            from read_ndjson_objects({quote_literal(str(path))})""")
        if con.execute("select count(*) from rows where kind <> 'OBJECT'").fetchall()[0][0]:
            return None
        keys = {k for (k,) in con.execute(
            "select distinct unnest(keys) from rows").fetchall()}
        if keys != {c.name for c in spec.columns}:
            return None
        columns = []
        for index, column in enumerate(spec.columns, start=1):
            empty, ok = _json_ok(column, f"v[{index}]", spec.date_window)
            columns.append(_Column(column.name.lower(), empty, ok, f"(v[{index}] ->> '$')",
                                   column.required))
        clean = _verdict(con, spec, columns, lines)
        if clean is not None and data_dir is not None:
            clean.violations = _violations(con, spec, data_dir, "jsonl")
        return clean
    except duckdb.Error:
        return None
    finally:
        con.close()


def violations(spec: ExpectationSpec, path: Path, data_dir: Path,
               fmt: str) -> list[tuple[int, str]]:
    """(0-based data row, reasons) of every row of a CSV or JSON-lines file that breaks a
    declared expectation (expectations.py): the file holds only rows the type checks
    passed. Rows are numbered in file order (a CSV's header is not a row)."""
    con = duckdb.connect()
    try:
        con.execute("set preserve_insertion_order = true")
        if fmt == "csv":
            con.execute(f"""create temp table rows as select * from read_csv(
                {quote_literal(str(path))}, delim = {quote_literal(spec.delimiter)},
                header = true, all_varchar = true, quote = '"', escape = '"')""")
        else:
            paths = ", ".join(quote_literal(f"$.{c.name}") for c in spec.columns)
            con.execute(f"""create temp table rows as
                select json_extract(json, [{paths}]) as v
                from read_ndjson_objects({quote_literal(str(path))})""")
        return _violations(con, spec, data_dir, fmt)
    finally:
        con.close()


def _violations(con: duckdb.DuckDBPyConnection, spec: ExpectationSpec, data_dir: Path,
                fmt: str) -> list[tuple[int, str]]:
    """``violations`` over the temp table ``rows`` of ``con`` (a CSV's columns as text, or
    a JSON line's values as ``v``, a list in the contract's column order)."""
    if fmt == "csv":
        names = {name.lower(): quote_ident(name) for (name, *_) in
                 con.execute("describe rows").fetchall()}

        def text(name: str) -> str:
            return names.get(name.lower(), "null")

        def typed(name: str) -> str | None:
            column = next(c for c in spec.columns if c.name == name)
            found = names.get(name.lower())
            return None if found is None else expectations.text_value(
                column, f"nullif({found}, '')")
    else:
        index = {c.name: i for i, c in enumerate(spec.columns, start=1)}

        def text(name: str) -> str:
            return f"(v[{index[name]}] ->> '$')"

        def typed(name: str) -> str | None:
            column = next(c for c in spec.columns if c.name == name)
            return expectations.text_value(column, f"nullif(v[{index[name]}] ->> '$', '')")
    checks = expectations.row_checks(
        spec, typed, expectations.load_references(con, spec, data_dir), text)
    if not checks:
        return []
    return [(int(n), str(r)) for n, r in con.execute(
        f"select rowid, reason from (select rowid, {expectations.reason_sql(checks)} "
        "as reason from rows) where reason <> '' order by rowid").fetchall()]
