"""The fast path of the CSV and JSON-lines checks: one DuckDB query per file.

DuckDB reads the file with its own reject handling (``read_csv(..., store_rejects =
true)``: malformed rows, invalid UTF-8, lines over the size limit) and one aggregate
counts the rows whose values break the contract: missing required values, wrong types,
dates outside the window, duplicate keys. A file must also hold as many rows as lines.
When a file is not clean, or DuckDB cannot read it, this returns None and the line-by-line
checks of validation.py read it, naming each bad row with its line and reason: they split
the lines (UTF-8, CSV fields, JSON objects) and hand the values to the same checks
(csv_values, jsonl_values), so each contract check is written once, here.
"""

from __future__ import annotations

import json
import math
import tempfile
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
_NUMBERS = (*_INT_LIMITS, "decimal", "numeric", "double", "float")
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


def _text_checks(column: ColumnSpec, value: str, window: tuple) -> tuple[str, str]:
    """(SQL true when the text ``value`` is a ``column.data_type``, SQL true when a date or
    timestamp is inside ``window``), for a value that is not null or empty."""
    kind = column.data_type.split("(")[0].strip()
    low, high = (quote_literal(str(d)) for d in (window[0], window[1] + timedelta(days=1)))
    if kind in _INT_LIMITS:
        return (f"(regexp_full_match({value}, '{_INT}') and "
                f"abs(try_cast({value} as hugeint)) < {_INT_LIMITS[kind]})", "true")
    if kind in _NUMBERS:
        return f"regexp_full_match(trim({value}), '{_DECIMAL}')", "true"
    if kind == "boolean":
        return f"lower({value}) in ('true', 'false', 't', 'f', '1', '0')", "true"
    if kind == "date" or kind.startswith("timestamp"):
        if column.format or kind == "date":
            parsed = f"try_strptime({value}, {quote_literal(column.format or '%Y-%m-%d')})"
            # no blank around the value: DuckDB's strptime would skip it
            return (f"({parsed} is not null and {value} = trim({value}))",
                    f"({parsed} >= {low}::timestamp and {parsed} < {high}::timestamp)")
        day = f"try_strptime(left({value}, 10), '%Y-%m-%d')"
        return (f"(regexp_full_match({value}, '{_ISO}') and "
                f"try_cast(replace({value}, 'Z', '+00:00') as timestamptz) is not null)",
                f"({day} >= {low}::timestamp and {day} < {high}::timestamp)")
    return "true", "true"  # text, and types the contract does not check


@dataclass(frozen=True)
class _Column:
    name: str  # lower case, as validation.py keys its values
    empty: str  # SQL: null, absent or ''
    typed: str  # SQL: a value of the column's type (asked only when not empty)
    value: str  # SQL: the value as text (for keys)
    required: bool
    in_window: str = "true"  # SQL: a date or timestamp inside the date window
    quoted: str = "false"  # SQL: a number written as a JSON string

    @property
    def problem(self) -> str:
        """SQL: why the value breaks the contract (a PROBLEMS key), null when it holds."""
        missing = "'missing'" if self.required else "null"
        return (f"case when {self.empty} then {missing} "
                f"when not coalesce({self.typed}, false) then "
                f"case when coalesce({self.quoted}, false) then 'quoted' else 'type' end "
                f"when not coalesce({self.in_window}, false) then 'window' end")


# what a value may be found to be (Values.problems), worded by validation.py
PROBLEMS = ("missing", "type", "quoted", "window")


@dataclass
class Values:
    """The contract checks of every row of the temp table ``rows``, in row order."""

    columns: list[str]  # the contract columns checked (lower case)
    problems: list[tuple[str | None, ...]]  # per row, per column: a PROBLEMS key or None
    first: list[int | None]  # per row: the first earlier row with its key (a duplicate)


def _checked(spec: SourceSpec, columns: list[_Column]) -> str:
    """SQL over the temp table ``rows``: its rowid, each column's problem, and the rowid
    of the first row with the same key when this row repeats it (only rows with no
    problem and a whole key count, as in the key check of every format)."""
    # _dm_ names: a file's own columns may be called anything else
    problems = (", ".join(f"{c.problem} as _dm_p{i}" for i, c in enumerate(columns))
                or "null as _dm_p0")
    by_name = {c.name: c for c in columns}
    keys = [by_name.get(k.lower()) for k in spec.key]
    if not (keys and all(keys)):
        return f"select rowid as _dm_i, {problems}, null as _dm_first from rows"
    found = [k for k in keys if k is not None]
    clean = " and ".join([f"_dm_p{i} is null" for i in range(len(columns))]
                         + [f"not _dm_e{i}" for i in range(len(found))])
    values = ", ".join(f"{k.value} as _dm_k{i}, ({k.empty}) as _dm_e{i}"
                       for i, k in enumerate(found))
    partition = ", ".join(f"_dm_k{i}" for i in range(len(found)))
    helpers = ", ".join(f"_dm_k{i}, _dm_e{i}" for i in range(len(found)))
    return f"""with checked as (select rowid as _dm_i, {problems}, {values} from rows)
        select checked.* exclude ({helpers}), keyed._dm_first
        from checked left join (
            select _dm_i, min(_dm_i) over (partition by {partition}) as _dm_first
            from checked where {clean}) as keyed using (_dm_i)"""


def _verdict(con: duckdb.DuckDBPyConnection, spec: SourceSpec, columns: list[_Column],
             rows_expected: int, expected: list[expectations.Check] | None = None
             ) -> Clean | None:
    """Clean when the temp table ``rows`` holds ``rows_expected`` rows, none breaking
    the contract and no key twice. ``expected``: the declared expectations, counted in
    the same pass; their rows are read (``violations``) only when some break one."""
    bad = " or ".join(f"_dm_p{i} is not null" for i in range(len(columns))) or "false"
    typed = "".join(f", count(*) filter (where not ({c.empty}))" for c in columns)
    broken = expectations.any_sql(expected or [])
    row = con.execute(
        f"select count(*), count(*) filter (where {bad} or _dm_first <> _dm_i), "
        f"count(*) filter (where {broken}){typed} "
        f"from ({_checked(spec, columns)}) as checked join (select rowid as _dm_i, * "
        "from rows) using (_dm_i)").fetchall()[0]
    if row[0] != rows_expected or row[1]:
        return None
    clean = Clean(int(row[0]), {c.name: int(n) for c, n in zip(columns, row[3:])})
    if expected is not None:
        clean.violations = _violation_rows(con, expected) if row[2] else []
    return clean


def _values(con: duckdb.DuckDBPyConnection, spec: SourceSpec, columns: list[_Column]
            ) -> Values:
    rows = con.execute(f"select * from ({_checked(spec, columns)}) order by _dm_i"
                       ).fetchall()
    index = {i: n for n, (i, *_) in enumerate(rows)}
    return Values([c.name for c in columns], [tuple(r[1:len(columns) + 1]) for r in rows],
                  [index[r[-1]] if r[-1] is not None and r[-1] != r[0] else None
                   for r in rows])


def _csv_columns(spec: SourceSpec, names: dict[str, str]) -> list[_Column]:
    """The checks of every contract column of a CSV, over ``rows`` (text columns
    ``names``: lower-case name -> quoted identifier) that the file has."""
    columns = []
    for column in spec.columns:
        name = names.get(column.name.lower())
        if name is None:
            continue  # schema drift, reported as such (validation.py)
        typed, in_window = _text_checks(column, name, spec.date_window)
        columns.append(_Column(column.name.lower(), f"({name} is null or {name} = '')",
                               typed, name, column.required, in_window))
    return columns


def csv_values(spec: SourceSpec, header: list[str], rows: list[list[str]]) -> Values:
    """The contract checks of CSV ``rows`` (fields split by the line checks, in the
    order of ``header``): the same checks as clean_csv's, one home for both."""
    names = {h.lower(): quote_ident(h.lower()) for h in header}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rows.jsonl"
        lower = [h.lower() for h in header]
        path.write_text("".join(json.dumps(dict(zip(lower, r))) + "\n" for r in rows))
        types = "{" + ", ".join(f"{quote_literal(n)}: 'VARCHAR'" for n in names) + "}"
        with duckdb.connect() as con:
            con.execute("set preserve_insertion_order = true")
            con.execute(f"create temp table rows as select * from read_json("
                        f"{quote_literal(str(path))}, format = 'newline_delimited', "
                        f"columns = {types})")
            return _values(con, spec, _csv_columns(spec, names))


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
        columns = _csv_columns(spec, {h.lower(): quote_ident(h) for h in header})
        expected = None if data_dir is None else _expectations(con, spec, data_dir, "csv")
        return _verdict(con, spec, columns, lines - 1, expected)
    except duckdb.Error:
        return None
    finally:
        con.close()


def _json_column(column: ColumnSpec, value: str, window: tuple) -> _Column:
    """The checks of one contract column over the JSON ``value`` (null when absent). A
    number written as a JSON string ("123") is not a number: read_json would type the
    whole column as JSON."""
    kind_of = f"json_type({value})"
    text = f"({value} ->> '$')"
    empty = f"({kind_of} is null or {kind_of} = 'NULL' or ({kind_of} = 'VARCHAR' and {text} = ''))"
    kind = column.data_type.split("(")[0].strip()
    integer = f"{kind_of} in ('BIGINT', 'UBIGINT')"
    in_window, quoted = "true", "false"
    if kind in ("varchar", "text", "string"):
        typed = f"{kind_of} = 'VARCHAR'"
    elif kind in _INT_LIMITS:
        typed = (f"({integer} and regexp_full_match({text}, '{_INT}') "
                 f"and abs(try_cast({text} as hugeint)) < {_INT_LIMITS[kind]})")
    elif kind in _NUMBERS:
        typed = f"({integer} or {kind_of} = 'DOUBLE')"
    elif kind == "boolean":
        typed = (f"({kind_of} = 'BOOLEAN' or ({kind_of} = 'VARCHAR' and "
                 f"lower({text}) in ('true', 'false', 't', 'f', '1', '0')))")
    elif kind == "date" or kind.startswith("timestamp"):
        as_text, in_window = _text_checks(column, text, window)
        typed = f"({kind_of} = 'VARCHAR' and {as_text})"
    else:
        typed = "true"
    if kind in _NUMBERS:
        quoted = (f"({kind_of} = 'VARCHAR' and (regexp_full_match(trim({text}), '{_INT}') "
                  f"or regexp_full_match(trim({text}), '{_DECIMAL}')))")
    return _Column(column.name.lower(), empty, typed, text, column.required, in_window,
                   quoted)


def _json_columns(spec: SourceSpec) -> list[_Column]:
    """The checks of every contract column over ``rows.v`` (the values, in the
    contract's column order)."""
    return [_json_column(c, f"v[{i}]", spec.date_window)
            for i, c in enumerate(spec.columns, start=1)]


def _json_rows(con: duckdb.DuckDBPyConnection, spec: SourceSpec, path: Path,
               lower: bool = False) -> None:
    """The temp table ``rows`` of a JSON-lines file: each line's kind, keys and the
    values of the contract's columns (``lower``: keys in lower case)."""
    paths = ", ".join(quote_literal(f"$.{c.name.lower() if lower else c.name}")
                      for c in spec.columns)
    # each line parsed three times (kind, keys, values), each value once more
    con.execute(f"""create temp table rows as
        select json_type(json) as kind, json_keys(json) as keys,
            json_extract(json, [{paths}]) as v
        from read_ndjson_objects({quote_literal(str(path))})""")


def jsonl_values(spec: SourceSpec, documents: list[dict]) -> Values:
    """The contract checks of JSON ``documents`` (objects the line checks parsed, keys
    in lower case): the same checks as clean_jsonl's, one home for both."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rows.jsonl"
        path.write_text("".join(json.dumps({k: _finite(v) for k, v in d.items()}) + "\n"
                                for d in documents))
        with duckdb.connect() as con:
            con.execute("set preserve_insertion_order = true")
            _json_rows(con, spec, path, lower=True)
            return _values(con, spec, _json_columns(spec))


def _finite(value: object) -> object:
    """JSON has no NaN or infinity (Python's parser takes them): their text instead."""
    return str(value) if isinstance(value, float) and not math.isfinite(value) else value


def clean_jsonl(spec: ExpectationSpec, path: Path, max_line: int,
                data_dir: Path | None = None) -> Clean | None:
    """The rows of a JSON-lines file when DuckDB finds every row good (every key one of
    the contract's, spelt as there), else None."""
    lines, longest = _lines(path)
    if longest > max_line or not lines:
        return None
    con = duckdb.connect()
    try:
        _json_rows(con, spec, path)
        if con.execute("select count(*) from rows where kind <> 'OBJECT'").fetchall()[0][0]:
            return None
        keys = {k for (k,) in con.execute(
            "select distinct unnest(keys) from rows").fetchall()}
        if keys != {c.name for c in spec.columns}:
            return None
        expected = None if data_dir is None else _expectations(con, spec, data_dir, "jsonl")
        return _verdict(con, spec, _json_columns(spec), lines, expected)
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
        return _violation_rows(con, _expectations(con, spec, data_dir, fmt))
    finally:
        con.close()


def _expectations(con: duckdb.DuckDBPyConnection, spec: ExpectationSpec, data_dir: Path,
                  fmt: str) -> list[expectations.Check]:
    """The declared expectations over the temp table ``rows`` of ``con`` (a CSV's columns
    as text, or a JSON line's values as ``v``, a list in the contract's column order),
    their reference tables loaded."""
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
    return expectations.row_checks(
        spec, typed, expectations.load_references(con, spec, data_dir), text)


def _violation_rows(con: duckdb.DuckDBPyConnection, checks: list[expectations.Check]
                    ) -> list[tuple[int, str]]:
    """(0-based row, reasons) of the rows of ``rows`` breaking one of ``checks``."""
    if not checks:
        return []
    return [(int(n), str(r)) for n, r in con.execute(
        f"select rowid, reason from (select rowid, {expectations.reason_sql(checks)} "
        "as reason from rows) where reason <> '' order by rowid").fetchall()]
