"""Source contracts and the row checks behind quarantine.

A source table opts in with ``config.meta.validation`` in its domain's ``__sources.yml``;
its ``columns`` (``data_type``, ``config.meta.required``, ``config.meta.format``) are the
contract every row is checked against:

    - name: customers
      config:
        meta:
          validation: {format: csv, path: crm/customers.csv, delimiter: ";",
                       key: [CUST_ID], max_bad_fraction: 0.01}
      columns:
        - name: SIGNUP_DT
          data_type: date
          config: {meta: {required: true, format: "%d/%m/%Y"}}

CSV and JSON-lines files are first checked by one DuckDB query each (fastcheck.py); a
file it does not find clean is read line by line (one record per line), which names each
bad row: the lines are split here (UTF-8, CSV fields, JSON objects) and their values go
through fastcheck's checks, the one home of every value check. Parquet is read through
DuckDB. A bad row never disappears: it is returned with its line, reason and raw text.
A line that is not UTF-8 or is longer than MAX_LINE_BYTES is a bad row; a date or
timestamp outside the source's ``date_window`` (default 1900-01-01 to a year after
today) is a bad row; a file that cannot be read at all, or a source without any row,
stops the build before dbt reads it (``threshold_error``).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb

from duckmesh.core import fingerprint, yamlio
from duckmesh.core.sql import quote_ident, quote_literal
from duckmesh.sources import expectations, fastcheck
from duckmesh.sources.expectations import Reference

FORMATS = ("csv", "jsonl", "parquet")
DEFAULT_MAX_BAD_FRACTION = 0.01
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# below DuckDB's max_line_size (2,097,152): a longer line would stop dbt's read_csv
MAX_LINE_BYTES = 1_000_000
RAW_LINE_CHARS = 1_000  # of an over-long line, the part kept in quarantine
DEFAULT_DATE_MIN = date(1900, 1, 1)


def default_date_window(today: date | None = None) -> tuple[date, date]:
    today = today or datetime.now().date()
    return DEFAULT_DATE_MIN, today + timedelta(days=366)


class SourceSpecError(ValueError):
    """A validation block in __sources.yml that cannot be used."""


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    data_type: str = "varchar"
    required: bool = False
    format: str | None = None  # strptime format for date/timestamp columns
    # declared expectations (expectations.py)
    accepted_range: tuple[object, object] | None = None
    not_before: str | None = None
    references: Reference | None = None
    dense: bool = False


@dataclass(frozen=True)
class Extract:
    """A source read from a legacy database table (legacy.py lands it as the Parquet file
    at the source's ``path`` before the checks): ``plugin`` names the dbt-duckdb plugin,
    ``table`` the database's table, ``dsn_env`` the environment variable holding the
    connection string (never written in the project)."""
    plugin: str
    table: str
    dsn_env: str


@dataclass(frozen=True)
class SourceSpec:
    domain: str
    source: str
    table: str
    format: str
    path: str  # relative to the data folder; a glob for parquet
    columns: tuple[ColumnSpec, ...]
    key: tuple[str, ...] = ()
    delimiter: str = ","
    max_bad_rows: int | None = None
    max_bad_fraction: float | None = DEFAULT_MAX_BAD_FRACTION
    fail_on_drift: tuple[str, ...] = ("removed", "retyped")
    date_window: tuple[date, date] = field(default_factory=default_date_window)
    min_rows: int = 1
    extract: Extract | None = None

    @property
    def name(self) -> str:
        return f"{self.source}.{self.table}"

    @property
    def quarantine_table(self) -> str:
        return f"{self.source}__{self.table}"

    def column(self, name: str) -> ColumnSpec | None:
        return next((c for c in self.columns if c.name.lower() == name.lower()), None)


@dataclass(frozen=True)
class BadRow:
    file: str  # relative to the data folder
    line_number: int  # physical line (header = 1) or 1-based parquet row
    reason: str
    raw_line: str


@dataclass(frozen=True)
class Drift:
    kind: str  # added | removed | retyped
    column: str
    detail: str

    def __str__(self) -> str:
        return f"column {self.kind}: {self.column} ({self.detail})"


@dataclass
class CheckResult:
    spec: SourceSpec
    rows: int = 0  # data rows read (good + bad)
    bad_rows: list[BadRow] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # files that cannot be read, and why

    @property
    def bad_files(self) -> set[str]:
        return {row.file for row in self.bad_rows}

    def threshold_error(self) -> str | None:
        """Why this source fails the build, or None."""
        spec, bad = self.spec, len(self.bad_rows)
        if self.unreadable:
            return (f"source {spec.name}: " + "; ".join(self.unreadable)
                    + ": replace the file with a good export, or remove it")
        if self.rows < spec.min_rows:
            shown = ", ".join(sorted({f.name for f in self.files})) or spec.path
            return (f"source {spec.name}: {self.rows:,} rows in {shown} (empty, cut short or "
                    f"a header only), fewer than its min_rows {spec.min_rows}: check the "
                    f"export, or set validation.min_rows in "
                    f"domains/{spec.domain}/models/staging/__sources.yml")
        failing = [d for d in self.drift if d.kind in spec.fail_on_drift]
        if failing:
            return (f"source {spec.name}: schema drift " + "; ".join(map(str, failing))
                    + f": fix the export or update the columns of {spec.name} in "
                    f"domains/{spec.domain}/models/staging/__sources.yml")
        if spec.max_bad_rows is not None and bad > spec.max_bad_rows:
            limit = f"max_bad_rows {spec.max_bad_rows}"
        elif (spec.max_bad_fraction is not None and self.rows
              and bad / self.rows > spec.max_bad_fraction):
            limit = f"max_bad_fraction {spec.max_bad_fraction:g}"
        else:
            return None
        where = ", ".join(sorted(self.bad_files))
        return (f"source {spec.name}: {bad:,} of {self.rows:,} rows quarantined ({where}), "
                f"over its {limit}: see quarantine.{spec.quarantine_table}, fix the file, or "
                f"raise the threshold in domains/{spec.domain}/models/staging/__sources.yml")


# -- reading the contracts ---------------------------------------------------------------

def load_specs(domain_dirs: list[Path]) -> list[SourceSpec]:
    """Every source table with a validation block, across the domains. A ``references``
    to a source of another domain (one domain built alone) is resolved from the domains
    beside it."""
    declared = _declared(domain_dirs)
    by_name = {spec.name: spec for spec, *_ in declared}
    if any(_references_elsewhere(table, by_name) for _, _, _, table in declared):
        siblings = sorted({d.parent for d in domain_dirs})
        others = [p for folder in siblings for p in sorted(folder.iterdir())
                  if p.is_dir() and p not in domain_dirs]
        for spec, *_ in _declared(others):
            by_name.setdefault(spec.name, spec)
    return [_with_references(spec, domain_dir, yml, table, by_name)
            for spec, domain_dir, yml, table in declared]


def _declared(domain_dirs: list[Path]) -> list[tuple[SourceSpec, Path, Path, dict]]:
    """(spec, domain folder, yml, table) of every source table with a validation block,
    its references not yet resolved."""
    found = []
    for domain_dir in domain_dirs:
        for yml in sorted((domain_dir / "models").rglob("*.yml")):
            document = yamlio.loads(yml.read_text()) or {}
            for source in document.get("sources") or []:
                for table in source.get("tables") or []:
                    meta = (table.get("config") or {}).get("meta") or table.get("meta") or {}
                    if "validation" in meta:
                        found.append((_spec(domain_dir.name, source["name"], table,
                                            meta["validation"], yml), domain_dir, yml, table))
    return found


def _references_elsewhere(table: dict, specs: dict[str, SourceSpec]) -> bool:
    for column in table.get("columns") or []:
        declared = _column_meta(column).get("references")
        if isinstance(declared, dict) and "source" in declared and \
                str(declared["source"]) not in specs:
            return True
    return False



def _column_meta(column: dict) -> dict:
    return (column.get("config") or {}).get("meta") or column.get("meta") or {}


def _with_references(spec: SourceSpec, domain_dir: Path, yml: Path, table: dict,
                     specs: dict[str, SourceSpec]) -> SourceSpec:
    """``spec`` with each declared ``references`` resolved to the files it reads."""
    columns = list(spec.columns)
    for column in table.get("columns") or []:
        declared = _column_meta(column).get("references")
        if declared is None:
            continue
        where = f"{yml} source {spec.name}: column {column['name']}: references"
        if not isinstance(declared, dict) or not declared.get("column") or \
                ("source" in declared) == ("seed" in declared):
            raise SourceSpecError(f"{where} needs a source or a seed, and a column: "
                                  "{source: order_system.orders, column: order_id} or "
                                  "{seed: campaigns, column: campaign_id}")
        target = str(declared["column"])
        if "source" in declared:
            other = specs.get(str(declared["source"]))
            if other is None or other.format == "jsonl" or other.column(target) is None:
                raise SourceSpecError(
                    f"{where}: {declared['source']}.{target} is not a column of a CSV or "
                    f"Parquet source with a validation block (one of {sorted(specs)})")
            ref = Reference(f"{other.name}.{target}", target, other.format, other.path, True,
                            other.delimiter)
        else:
            seed = domain_dir / "seeds" / f"{declared['seed']}.csv"
            if not seed.is_file():
                raise SourceSpecError(f"{where}: no seed {seed}")
            ref = Reference(f"seed {declared['seed']}.{target}", target, "csv",
                            str(seed.resolve()), False)
        index = next(i for i, c in enumerate(columns) if c.name == column["name"])
        columns[index] = dataclasses.replace(columns[index], references=ref)
    return dataclasses.replace(spec, columns=tuple(columns))


def _spec(domain: str, source: str, table: dict, block: dict, yml: Path) -> SourceSpec:
    where = f"{yml} source {source}.{table['name']}"
    if not all(_IDENTIFIER.fullmatch(n) for n in (source, table["name"])):
        raise SourceSpecError(f"{where}: source and table names must be identifiers "
                              "(letters, digits, underscores) to name a quarantine table")
    fmt = block.get("format")
    if fmt not in FORMATS:
        raise SourceSpecError(f"{where}: validation.format must be one of {FORMATS}, got {fmt!r}")
    path = str(block.get("path") or "")
    if not path or Path(path).is_absolute() or ".." in Path(path).parts:
        raise SourceSpecError(f"{where}: validation.path must be a path inside the data folder "
                              f"(relative, no '..'), got {path!r}")
    columns = []
    for column in table.get("columns") or []:
        meta = _column_meta(column)
        columns.append(ColumnSpec(
            column["name"], str(column.get("data_type", "varchar")).lower(),
            bool(meta.get("required", False)), meta.get("format"),
            _accepted_range(where, column["name"], meta.get("accepted_range")),
            meta.get("not_before"), None, bool(meta.get("dense", False))))
    if not columns:
        raise SourceSpecError(f"{where}: list the expected columns (name, data_type)")
    names = {c.name.lower() for c in columns}
    for column in columns:
        if column.not_before and column.not_before.lower() not in names:
            raise SourceSpecError(f"{where}: column {column.name}: not_before names an unknown "
                                  f"column {column.not_before!r}")
    key = tuple(block.get("key") or ())
    unknown = [k for k in key if k.lower() not in names]
    if unknown:
        raise SourceSpecError(f"{where}: validation.key names unknown columns {unknown}")
    fraction = block.get("max_bad_fraction", DEFAULT_MAX_BAD_FRACTION)
    window = block.get("date_window") or {}
    low, high = default_date_window()
    try:
        low = date.fromisoformat(str(window.get("min", low)))
        high = date.fromisoformat(str(window.get("max", high)))
    except ValueError as error:
        raise SourceSpecError(f"{where}: validation.date_window needs ISO dates "
                              f"(min: 2000-01-01, max: 2030-12-31): {error}") from error
    return SourceSpec(
        domain=domain, source=source, table=table["name"], format=fmt, path=block["path"],
        extract=_extract(where, fmt, path, block.get("extract")),
        columns=tuple(columns), key=key, delimiter=block.get("delimiter", ","),
        max_bad_rows=block.get("max_bad_rows"),
        max_bad_fraction=None if fraction is None else float(fraction),
        fail_on_drift=tuple(block.get("fail_on_drift", ("removed", "retyped"))),
        date_window=(low, high), min_rows=int(block.get("min_rows", 1)))


EXTRACT_PLUGINS = ("postgres",)


def _extract(where: str, fmt: str, path: str, declared: object) -> Extract | None:
    """The ``validation.extract`` block of a legacy database source, checked."""
    if declared is None:
        return None
    example = ("extract: {plugin: postgres, table: public.invoices, dsn_env: ERP_DSN}")
    if not isinstance(declared, dict):
        raise SourceSpecError(f"{where}: validation.extract must be a mapping, e.g. {example}")
    plugin, table, dsn_env = (str(declared.get(k) or "") for k in ("plugin", "table", "dsn_env"))
    if plugin not in EXTRACT_PLUGINS:
        raise SourceSpecError(f"{where}: validation.extract.plugin must be one of "
                              f"{EXTRACT_PLUGINS}, got {plugin!r}")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?", table):
        raise SourceSpecError(f"{where}: validation.extract.table must name a table "
                              f"(schema.table), got {table!r}")
    if not re.fullmatch(r"[A-Z_][A-Z0-9_]*", dsn_env):
        raise SourceSpecError(f"{where}: validation.extract.dsn_env must name the environment "
                              f"variable that holds the connection string, got {dsn_env!r}")
    if fmt != "parquet" or any(ch in path for ch in "*?["):
        raise SourceSpecError(f"{where}: a legacy database source is landed as one Parquet "
                              "file: set validation.format: parquet and a path without "
                              f"wildcards, e.g. erp/invoices.parquet (got {fmt} {path!r})")
    return Extract(plugin, table, dsn_env)


def _accepted_range(where: str, column: str, declared: object) -> tuple[object, object] | None:
    if declared is None:
        return None
    if not isinstance(declared, dict) or not ({"min", "max"} & set(declared)) or \
            not all(isinstance(v, (int, float, date)) and not isinstance(v, bool)
                    for v in declared.values()):
        raise SourceSpecError(f"{where}: column {column}: accepted_range needs a number or "
                              f"date min, max or both ({{min: 0}}, {{min: 1, max: 5}}), "
                              f"got {declared!r}")
    return declared.get("min"), declared.get("max")


# -- value checks ------------------------------------------------------------------------
# The checks themselves are fastcheck.py's (SQL, one home for both paths); the line checks
# word what they find about each value.

def _show(value: object) -> str:
    return json.dumps(value) if not isinstance(value, str) else repr(value)


def _reason(spec: SourceSpec, column: ColumnSpec, value: object, problem: str) -> str:
    """What ``problem`` (fastcheck.PROBLEMS) means for ``value`` of ``column``."""
    if problem == "missing":
        return f"missing required column {column.name}"
    if problem == "window":
        return (f"implausible date in {column.name}: {_show(value)} is outside the plausible "
                f"dates {spec.date_window[0]} to {spec.date_window[1]} "
                "(validation.date_window)")
    if problem == "quoted":
        return (f"wrong type in {column.name}: {_show(value)} is a JSON string, not a "
                f"{column.data_type}: the producer must write the number without quotes "
                f"({str(value).strip()})")
    if column.data_type.split("(")[0].strip() in ("varchar", "text", "string"):
        return f"wrong type in {column.name}: {_show(value)} is not a string"
    expected = column.data_type + (f" ({column.format})" if column.format else "")
    return f"wrong type in {column.name}: {_show(value)} is not a {expected}"


def _value_rows(result: CheckResult, relative: str,
                rows: list[tuple[int, str, dict[str, object]]],
                checked: fastcheck.Values) -> None:
    """Bad rows from the contract checks of ``rows`` ((line, text, lower-case name ->
    value), as split by the line checks): every problem of a row, else a repeated key."""
    spec = result.spec
    columns = [spec.column(name) for name in checked.columns]
    for (number, line, values), problems, first in zip(rows, checked.problems,
                                                        checked.first):
        reasons = [_reason(spec, column, values.get(column.name.lower()), problem)
                   for column, problem in zip(columns, problems)
                   if column is not None and problem]
        if not reasons and first is not None:
            shown = ", ".join(f"{name}={values.get(name.lower())}" for name in spec.key)
            reasons = [f"duplicate key {shown} (first seen on line {rows[first][0]})"]
        if reasons:
            result.bad_rows.append(BadRow(relative, number, "; ".join(reasons), line))
    result.bad_rows.sort(key=lambda r: (r.file, r.line_number))


# -- file checks -------------------------------------------------------------------------

MANIFEST = "_manifest.json"


def producer_manifest(path: Path, data_dir: Path) -> tuple[str, dict] | None:
    """What the producer of a drop recorded about ``path``: (where, {bytes, rows, sha256},
    each optional), from a ``<file>.sha256`` beside it (sha256sum's format) or a
    ``_manifest.json`` (``{"files": {"<path from its folder>": {...}}}``) in its folder or
    any folder above it inside the data folder; None when nothing is recorded."""
    sidecar = path.with_name(path.name + ".sha256")
    if sidecar.is_file():
        words = sidecar.read_text(errors="replace").split()
        return sidecar.relative_to(data_dir).as_posix(), {"sha256": words[0] if words else ""}
    folder = path.parent
    while folder == data_dir or folder.is_relative_to(data_dir):
        manifest = folder / MANIFEST
        if manifest.is_file():
            try:
                entry = (json.loads(manifest.read_text()).get("files") or {}).get(
                    path.relative_to(folder).as_posix())
            except (ValueError, AttributeError):
                entry = None
            if isinstance(entry, dict):
                return manifest.relative_to(data_dir).as_posix(), entry
        if folder == data_dir:
            break
        folder = folder.parent
    return None


def _manifest_problems(result: CheckResult, data_dir: Path,
                       digests: Mapping[Path, str]) -> list[str]:
    """Files that differ from what their producer recorded (size, SHA-256)."""
    problems = []
    for path in result.files:
        recorded = producer_manifest(path, data_dir)
        if recorded is None:
            continue
        where, entry = recorded
        relative = path.relative_to(data_dir).as_posix()
        size = path.stat().st_size
        if entry.get("bytes") is not None and int(entry["bytes"]) != size:
            problems.append(f"{relative} is {size:,} bytes, its producer recorded "
                            f"{int(entry['bytes']):,} ({where}): cut short or replaced")
        elif entry.get("sha256") and str(entry["sha256"]).lower() != (
                digests.get(path) or fingerprint.file_sha256(path)):
            problems.append(f"{relative} does not match the SHA-256 its producer recorded "
                            f"({where}): damaged in transit or changed after the export")
    return problems


def _recorded_rows(result: CheckResult, data_dir: Path) -> str | None:
    """Why the rows read differ from the rows the producer recorded (when it recorded
    them for every file of the source)."""
    recorded = [producer_manifest(p, data_dir) for p in result.files]
    if not recorded or any(r is None or r[1].get("rows") is None for r in recorded):
        return None
    expected = sum(int(r[1]["rows"]) for r in recorded if r is not None)
    if expected == result.rows:
        return None
    where = ", ".join(sorted({r[0] for r in recorded if r is not None}))
    return (f"{result.spec.path} holds {result.rows:,} rows, its producer recorded "
            f"{expected:,} ({where}): a partial drop")


def check(spec: SourceSpec, data_dir: Path,
          digests: Mapping[Path, str] | None = None) -> CheckResult:
    """Check a source's files against its contract. ``digests``: SHA-256 of files already
    hashed (check_cached), reused for the producer's manifest."""
    result = CheckResult(spec)
    result.files = sorted(data_dir.glob(spec.path))
    if not result.files:
        raise SourceSpecError(
            f"source {spec.name}: no file matches {data_dir / spec.path}: generate the data "
            f"(duckmesh generate) or fix validation.path in domains/{spec.domain}")
    folders = [p for p in result.files if p.is_dir()]
    if folders:
        result.unreadable += [f"{p.relative_to(data_dir).as_posix()} is a directory, not a "
                              "file: put the exported file there" for p in folders]
        return result
    try:
        result.unreadable += _manifest_problems(result, data_dir, digests or {})
        if result.unreadable:
            return result
        {"csv": _check_csv, "jsonl": _check_jsonl, "parquet": _check_parquet}[spec.format](
            result, data_dir)
        rows = _recorded_rows(result, data_dir) if not result.unreadable else None
        result.unreadable += [rows] if rows else []
    except OSError as error:
        result.unreadable.append(f"cannot read {error.filename or spec.path} "
                                 f"({error.strerror or error})")
    return result


CACHE_VERSION = 3


def check_cached(spec: SourceSpec, data_dir: Path, cache_dir: Path) -> CheckResult:
    """``check``, reusing the last result for this source when its contract and every one of
    its files (path, size, mtime_ns, content hash) are unchanged; the cache lives in
    ``cache_dir`` (target/validation_cache/)."""
    files = sorted(data_dir.glob(spec.path))
    if not files or any(p.is_dir() for p in files):
        return check(spec, data_dir)
    fingerprints = {p.relative_to(data_dir).as_posix(): fingerprint.file_fingerprint(p)
                    for p in files}
    key = {"version": CACHE_VERSION, "spec": repr(spec), "data_dir": str(data_dir.resolve()),
           "files": fingerprints,
           # as JSON stores them (lists), so a stored key compares equal
           "manifests": {p.relative_to(data_dir).as_posix(): json.loads(json.dumps(
               producer_manifest(p, data_dir))) for p in files},
           "references": _reference_fingerprints(spec, data_dir)}
    cache = cache_dir / f"{spec.quarantine_table}.json"
    try:
        stored = json.loads(cache.read_text())
    except (OSError, ValueError):
        stored = None
    if isinstance(stored, dict) and stored.get("key") == key:
        try:
            return CheckResult(spec, rows=stored["rows"],
                               bad_rows=[BadRow(**row) for row in stored["bad_rows"]],
                               drift=[Drift(**d) for d in stored["drift"]],
                               files=[data_dir / f for f in stored["files"]],
                               unreadable=list(stored["unreadable"]))
        except (KeyError, TypeError):
            pass
    result = check(spec, data_dir, {data_dir / f: p[2] for f, p in fingerprints.items()})
    if [p.relative_to(data_dir).as_posix() for p in result.files] == list(fingerprints):
        cache_dir.mkdir(parents=True, exist_ok=True)
        temporary = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps({
            "key": key, "rows": result.rows,
            "bad_rows": [asdict(r) for r in result.bad_rows],
            "drift": [asdict(d) for d in result.drift],
            "files": list(fingerprints), "unreadable": result.unreadable}, default=str))
        os.replace(temporary, cache)
    return result


def _reference_fingerprints(spec: SourceSpec, data_dir: Path) -> list:
    """(path, size, mtime_ns) of every file a source's references read: a change to the
    referenced data changes the check's result."""
    found = []
    for column in spec.columns:
        ref = column.references
        if ref is None:
            continue
        paths = sorted(data_dir.glob(ref.path)) if ref.in_data else [Path(ref.path)]
        found += [[str(p), p.stat().st_size, p.stat().st_mtime_ns]
                  for p in paths if p.is_file()]
    return found


def _drift_by_name(spec: SourceSpec, found: list[str]) -> list[Drift]:
    found_lower = {f.lower() for f in found}
    drift = [Drift("added", name, "not in the source contract") for name in found
             if spec.column(name) is None]
    drift += [Drift("removed", c.name, "missing from the file") for c in spec.columns
              if c.name.lower() not in found_lower]
    return drift


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(physical line number, line without its end) of every non-blank line."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.rstrip(b"\r\n")
            if line.strip():
                yield number, line


def _text(line: bytes) -> tuple[str | None, str]:
    """(the line as text, or None when it is not usable text; what quarantine keeps)."""
    if len(line) > MAX_LINE_BYTES:
        shown = line[:RAW_LINE_CHARS].decode("utf-8", "backslashreplace")
        return None, f"{shown}... ({len(line):,} bytes)"
    try:
        return line.decode("utf-8"), ""
    except UnicodeDecodeError:
        return None, line.decode("utf-8", "backslashreplace")


def _unusable(line: bytes) -> str:
    if len(line) > MAX_LINE_BYTES:
        return f"line of {len(line):,} bytes, over the {MAX_LINE_BYTES:,}-byte limit"
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as error:
        return f"not UTF-8 text (byte 0x{line[error.start]:02x} at byte {error.start + 1})"
    return "unreadable line"


def _csv_fields(text: str, delimiter: str) -> list[str] | str:
    """The fields of one CSV line, or why it cannot be split."""
    try:
        return next(csv.reader([text], delimiter=delimiter), [])
    except csv.Error as error:
        return f"malformed row: {error}"


def _check_csv(result: CheckResult, data_dir: Path) -> None:
    spec = result.spec
    for path in result.files:
        relative = path.relative_to(data_dir).as_posix()
        lines = _lines(path)
        header_line = next(lines, None)
        if header_line is None:
            continue
        if _text(header_line[1])[0] is None:
            reason = _unusable(header_line[1])
            if reason.startswith("not UTF-8"):
                reason = reason.removesuffix(")") + "; export it as UTF-8)"
            result.unreadable.append(f"the header of {relative} is {reason}")
            continue
        # a byte order mark (Excel's "CSV UTF-8") is not part of the first column's name;
        # DuckDB skips it too
        header = _csv_fields(header_line[1].decode("utf-8").removeprefix("\ufeff"),
                             spec.delimiter)
        header = header if isinstance(header, list) else []
        result.drift += _drift_by_name(spec, header)
        names = [h.lower() for h in header]
        clean = fastcheck.clean_csv(spec, path, header, MAX_LINE_BYTES, data_dir)
        if clean is not None:
            result.rows += clean.rows
            _expectation_rows(result, path, data_dir, header=True, found=clean.violations)
            continue
        parsed: list[tuple[int, str, dict[str, object]]] = []
        split: list[list[str]] = []
        for number, raw in lines:
            result.rows += 1
            line, shown = _text(raw)
            if line is None:
                result.bad_rows.append(BadRow(relative, number, _unusable(raw), shown))
                continue
            fields = _csv_fields(line, spec.delimiter)
            if isinstance(fields, str):
                result.bad_rows.append(BadRow(relative, number, fields, line))
            elif len(fields) != len(names):
                result.bad_rows.append(BadRow(
                    relative, number,
                    f"malformed row: expected {len(names)} fields, found {len(fields)}", line))
            else:
                parsed.append((number, line, dict(zip(names, fields))))
                split.append(fields)
        if parsed:
            _value_rows(result, relative, parsed, fastcheck.csv_values(spec, header, split))
        if not _cut_short(result, path, data_dir):
            _expectation_rows(result, path, data_dir, header=True)


def _cut_short(result: CheckResult, path: Path, data_dir: Path) -> bool:
    """True (and the file named unreadable) when its last line has no line end and is a
    bad row: the file was cut in the middle of a record (a truncated copy)."""
    relative = path.relative_to(data_dir).as_posix()
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell() == 0:
            return False
        handle.seek(-1, os.SEEK_END)
        if handle.read(1) in (b"\n", b"\r"):
            return False
    last = max((n for n, _ in _lines(path)), default=0)
    cut = [r for r in result.bad_rows if r.file == relative and r.line_number == last]
    if not cut:
        return False
    result.unreadable.append(
        f"{relative} ends in the middle of line {last:,} (no line end, and the line is not a "
        f"whole record: {cut[0].reason}): the file was cut short")
    return True


def _expectation_rows(result: CheckResult, path: Path, data_dir: Path, header: bool,
                      found: list[tuple[int, str]] | None = None) -> None:
    """Quarantine the rows of a CSV or JSON-lines file that break a declared expectation
    (expectations.py, run by DuckDB over the rows the type checks passed; ``found``: what
    the fast path already found in the whole file)."""
    spec = result.spec
    relative = path.relative_to(data_dir).as_posix()
    bad = {r.line_number for r in result.bad_rows if r.file == relative}
    if not bad:
        if found is None:
            found = fastcheck.violations(spec, path, data_dir, spec.format)
        if not found:
            return
    lines = list(_lines(path))
    head, rows = (lines[:1], lines[1:]) if header else ([], lines)
    good = [(n, raw) for n, raw in rows if n not in bad]
    if bad:
        with tempfile.TemporaryDirectory() as folder:
            copy = Path(folder) / path.name
            copy.write_bytes(b"".join(raw + b"\n" for _, raw in head + good))
            found = fastcheck.violations(spec, copy, data_dir, spec.format)
    for index, reason in found or []:
        number, raw = good[index]
        result.bad_rows.append(BadRow(relative, number, reason,
                                      raw.decode("utf-8", "backslashreplace")))
    result.bad_rows.sort(key=lambda r: (r.file, r.line_number))


def _check_jsonl(result: CheckResult, data_dir: Path) -> None:
    spec = result.spec
    seen_keys: dict[str, str] = {}
    wrong: dict[str, int] = {}
    typed: dict[str, int] = {}
    for path in result.files:
        relative = path.relative_to(data_dir).as_posix()
        clean = fastcheck.clean_jsonl(spec, path, MAX_LINE_BYTES, data_dir)
        if clean is not None:
            result.rows += clean.rows
            for name in (c.name for c in spec.columns):
                seen_keys.setdefault(name.lower(), name)
                typed[name.lower()] = typed.get(name.lower(), 0) + clean.typed.get(name.lower(), 0)
            _expectation_rows(result, path, data_dir, header=False, found=clean.violations)
            continue
        parsed: list[tuple[int, str, dict[str, object]]] = []
        for number, raw in _lines(path):
            result.rows += 1
            line, shown = _text(raw)
            if line is None:
                result.bad_rows.append(BadRow(relative, number, _unusable(raw), shown))
                continue
            try:
                document = json.loads(line)
            except ValueError as error:
                result.bad_rows.append(BadRow(relative, number, f"malformed JSON: {error}",
                                              line))
                continue
            if not isinstance(document, dict):
                result.bad_rows.append(BadRow(relative, number,
                                              "malformed JSON: not an object", line))
                continue
            for k in document:
                seen_keys.setdefault(k.lower(), k)
            parsed.append((number, line, {k.lower(): v for k, v in document.items()}))
        if parsed:
            checked = fastcheck.jsonl_values(spec, [values for _, _, values in parsed])
            _value_rows(result, relative, parsed, checked)
            _count_types(checked, [values for _, _, values in parsed], wrong, typed)
        if not _cut_short(result, path, data_dir):
            _expectation_rows(result, path, data_dir, header=False)
    if seen_keys:
        result.drift += _drift_by_name(spec, list(seen_keys.values()))
    for name, count in wrong.items():
        if count and count == typed.get(name):
            column = spec.column(name)
            assert column is not None  # counted from the spec's own columns
            result.drift.append(Drift("retyped", column.name,
                                      f"every value fails {column.data_type}"))


def _count_types(checked: fastcheck.Values, documents: list[dict[str, object]],
                 wrong: dict, typed: dict) -> None:
    """Per column: the values given, and those of another type (drift when all are)."""
    for values, problems in zip(documents, checked.problems):
        for name, problem in zip(checked.columns, problems):
            if values.get(name) is None or values.get(name) == "":
                continue
            typed[name] = typed.get(name, 0) + 1
            if problem in ("type", "quoted"):
                wrong[name] = wrong.get(name, 0) + 1


def _check_parquet(result: CheckResult, data_dir: Path) -> None:
    """The checks below; a file DuckDB cannot read (not Parquet, cut short, damaged
    pages) is named in ``result.unreadable`` instead."""
    try:
        _check_parquet_files(result, data_dir)
    except duckdb.Error as error:
        result.rows, result.bad_rows, result.drift = 0, [], []
        for path in result.files:
            problem = _parquet_unreadable(path)
            if problem:
                result.unreadable.append(
                    f"{path.relative_to(data_dir).as_posix()} is not readable Parquet ({problem})")
        if not result.unreadable:
            result.unreadable.append(f"{result.spec.path} cannot be read together "
                                     f"({_first_line(error)})")


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _parquet_unreadable(path: Path) -> str | None:
    """Why DuckDB cannot read every value of one Parquet file (None: it can)."""
    con = duckdb.connect()
    try:
        con.execute("select * from read_parquet(?)", [str(path)]).fetchall()
        return None
    except duckdb.Error as error:
        return _first_line(error)
    finally:
        con.close()


def _window_checks(spec: SourceSpec, schema: dict[str, str]) -> list[tuple[str, str]]:
    """(column, SQL condition true when its value is outside the date window) for the
    contract's date and timestamp columns present in the files."""
    low, high = spec.date_window
    found = {name.lower(): (name, kind) for name, kind in schema.items()}
    checks = []
    for column in spec.columns:
        name, kind = found.get(column.name.lower(), (None, ""))
        if name is None or not (kind.upper() == "DATE" or kind.upper().startswith("TIMESTAMP")):
            continue
        ident = quote_ident(name)
        checks.append((column.name, f"({ident} < '{low}'::{kind} or "
                                    f"{ident} >= '{high + timedelta(days=1)}'::{kind})"))
    return checks


def _size_checks(schema: dict[str, str]) -> list[tuple[str, str]]:
    """(column, SQL condition true when its text is longer than a line may be) for the
    text columns of the files: the same limit as a CSV or JSON line."""
    return [(name, f"strlen({quote_ident(name)}) > {MAX_LINE_BYTES}")
            for name, kind in schema.items() if kind.upper() == "VARCHAR"]


def _check_parquet_files(result: CheckResult, data_dir: Path) -> None:
    spec = result.spec
    con = duckdb.connect()
    try:
        files = [str(p) for p in result.files]
        # Parquet is typed: the schema comes from the files' metadata (each file's own: a
        # new file of a drop may retype a column the first one has right), and one
        # aggregate per row group counts the rows, the rows breaking the contract and the
        # values' range against the footer's statistics. Only when it finds a bad row are
        # the rows read one by one to report them.
        schemas = {path: {row[0]: row[1] for row in con.execute(
            "describe select * from read_parquet(?)", [path]).fetchall()} for path in files}
        schema = schemas[files[0]]
        result.drift += _parquet_drift(spec, schemas, data_dir)
        references = expectations.load_references(con, spec, data_dir)
        present = {s.lower(): s for s in schema}

        def typed(name: str) -> str | None:
            found = present.get(name.lower())
            return None if found is None else quote_ident(found)

        declared = expectations.row_checks(spec, typed, references)
        clean = _parquet_clean(con, spec, files, schema, declared, result, data_dir)
        result.unreadable += expectations.dense_problems(
            con, spec, typed, f"read_parquet({_sql_list(files)})")
        if clean or result.unreadable:
            return
        con.execute("create temp table src as select * from read_parquet(?, filename = true, "
                    "file_row_number = true)", [files])
        payload = ", ".join(f"{quote_ident(c)} := {quote_ident(c)}" for c in schema)
        required = [c for c in spec.columns if c.required and c.name.lower() in present]
        checks = [f"case when {quote_ident(c.name)} is null then 'missing required column {c.name}' end"
                  for c in required]
        low, high = spec.date_window
        checks += [f"case when {outside} then 'implausible date in {name}: ' || "
                   f"{quote_ident(name)}::varchar || ' is outside the plausible dates {low} to "
                   f"{high} (validation.date_window)' end"
                   for name, outside in _window_checks(spec, schema)]
        checks += [f"case when {too_long} then 'value of ' || strlen({quote_ident(name)}) || "
                   f"' bytes in {name}, over the {MAX_LINE_BYTES:,}-byte limit' end"
                   for name, too_long in _size_checks(schema)]
        checks += [f"case when coalesce({c.violated}, false) then {c.reason} end"
                   for c in declared]
        key_cols = [k for k in spec.key if k.lower() in present]
        if len(key_cols) == len(spec.key) and key_cols:
            partition = ", ".join(quote_ident(k) for k in key_cols)
            shown = " || ', ' || ".join(f"'{k}=' || {quote_ident(k)}::varchar" for k in key_cols)
            checks.append(
                f"case when row_number() over (partition by {partition} order by filename, "
                f"file_row_number) > 1 and {' and '.join(quote_ident(k) + ' is not null' for k in key_cols)} "
                f"then 'duplicate key ' || {shown} || ' (first seen on line ' || "
                f"(first_value(file_row_number) over (partition by {partition} "
                f"order by filename, file_row_number) + 1)::varchar || ')' end")
        if not checks:
            return
        reason = "concat_ws('; ', " + ", ".join(checks) + ")"
        rows = con.execute(f"""
            select filename, file_row_number + 1, reason, raw from (
                select filename, file_row_number, {reason} as reason,
                    to_json(struct_pack({payload}))::varchar as json_row,
                    case when strlen(json_row) > {MAX_LINE_BYTES}
                        then left(json_row, {RAW_LINE_CHARS}) || '... ('
                            || format('{{:,}}', strlen(json_row)) || ' bytes)'
                        else json_row end as raw
                from src
            ) where reason <> '' order by filename, file_row_number""").fetchall()
        for filename, line, text, raw in rows:
            relative = Path(filename).relative_to(data_dir).as_posix()
            result.bad_rows.append(BadRow(relative, int(line), text, raw))
    finally:
        con.close()


def _sql_list(items: list[str]) -> str:
    return "[" + ", ".join(quote_literal(i) for i in items) + "]"


def _parquet_drift(spec: SourceSpec, schemas: dict[str, dict[str, str]],
                   data_dir: Path) -> list[Drift]:
    """Drift of every file against the contract; a change found in some files only names
    them (a new file of a drop that retypes a column)."""
    found: dict[Drift, list[str]] = {}
    for path, schema in schemas.items():
        drift = _drift_by_name(spec, list(schema))
        for name, found_type in schema.items():
            column = spec.column(name)
            if column and column.data_type.lower() != found_type.lower():
                drift.append(Drift("retyped", column.name,
                                   f"expected {column.data_type}, found {found_type.lower()}"))
        for item in drift:
            found.setdefault(item, []).append(Path(path).relative_to(data_dir).as_posix())
    return [item if len(where) == len(schemas) else
            Drift(item.kind, item.column, f"{item.detail} in {', '.join(where)}")
            for item, where in found.items()]


SCALARS = ("BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT",
           "USMALLINT", "UINTEGER", "UBIGINT", "DATE", "VARCHAR")


def _comparable(kind: str) -> bool:
    """A DuckDB type whose footer statistics compare with its values: whole numbers,
    decimals, dates, timestamps and text (floating point may hold NaN outside them)."""
    upper = kind.upper()
    return upper in SCALARS or upper.startswith(("DECIMAL", "TIMESTAMP"))


def _parquet_clean(con: duckdb.DuckDBPyConnection, spec: SourceSpec, files: list[str],
                   schema: dict[str, str], declared: list[expectations.Check],
                   result: CheckResult, data_dir: Path) -> bool:
    """One aggregate per row group over the files: the row count set; a row group whose
    rows or values differ from its footer (row count, lowest and highest value, nulls per
    column: a damaged page read as other values) names its file in
    ``result.unreadable``; True when no row has a missing required value, a value breaking
    a declared expectation or a duplicate key (the checks the row-by-row query reports)."""
    names = {s.lower() for s in schema}
    present = [c for c in spec.columns if c.name.lower() in names]
    required = [c for c in present if c.required]
    missing = " or ".join([f"{quote_ident(c.name)} is null" for c in required]
                          + [outside for _, outside in _window_checks(spec, schema)]
                          + [too_long for _, too_long in _size_checks(schema)]
                          + ([expectations.any_sql(declared)] if declared else [])) or "false"
    columns = [(name, kind) for name, kind in schema.items() if _comparable(kind)]
    ranges = "".join(f", min({quote_ident(n)}) as min_{i}, max({quote_ident(n)}) as max_{i}, "
                     f"count(*) - count({quote_ident(n)}) as nulls_{i}"
                     for i, (n, _) in enumerate(columns))
    listed = _sql_list(files)
    con.execute(f"""create temp table footer as
        select distinct file_name, row_group_id, row_group_num_rows
        from parquet_metadata({listed})""")
    # writers cut row groups of one size (the last one shorter): a row's group is then its
    # row number divided by that size; otherwise it is found by an as-of join
    sizes = con.execute("""select distinct row_group_num_rows from footer as f
        where row_group_id < (select max(row_group_id) from footer as l
                              where l.file_name = f.file_name)""").fetchall()
    if len(sizes) <= 1:
        size = sizes[0][0] if sizes else 2**62
        con.execute(f"""create temp table groups as
            select g.*, coalesce(f.row_group_num_rows, 0) as footer_rows from (
                select filename as file_name, file_row_number // {size} as row_group_id,
                    count(*) as row_count, count(*) filter (where {missing}) as bad{ranges}
                from read_parquet({listed}, filename = true, file_row_number = true)
                group by all
            ) as g left join footer as f using (file_name, row_group_id)""")
    else:
        con.execute(f"""create temp table groups as
            with starts as (
                select *, sum(row_group_num_rows) over (partition by file_name
                    order by row_group_id) - row_group_num_rows as first_row
                from footer
            )
            select s.file_name, s.row_group_id, any_value(s.row_group_num_rows) as footer_rows,
                count(*) as row_count, count(*) filter (where {missing}) as bad{ranges}
            from read_parquet({listed}, filename = true, file_row_number = true) as r
            asof join starts as s
                on r.filename = s.file_name and r.file_row_number >= s.first_row
            group by all""")
    rows, bad = con.execute("select sum(row_count), sum(bad) from groups").fetchall()[0]
    result.rows = int(rows or 0)
    mismatches = [f"""select g.file_name, g.row_group_id, {quote_literal(n)},
            g.min_{i}::varchar, g.max_{i}::varchar, g.nulls_{i},
            m.stats_min_value, m.stats_max_value, m.stats_null_count
        from groups as g join parquet_metadata({listed}) as m
            on m.file_name = g.file_name and m.row_group_id = g.row_group_id
            and m.path_in_schema = {quote_literal(n)}
        where coalesce(g.min_{i} < try_cast(m.stats_min_value as {kind}), false)
            or coalesce(g.max_{i} > try_cast(m.stats_max_value as {kind}), false)
            or coalesce(g.nulls_{i} <> m.stats_null_count, false)"""
                  for i, (n, kind) in enumerate(columns)]
    damaged: dict[str, str] = {}
    for name, group, footer, counted in con.execute(
            "select file_name, row_group_id, footer_rows, row_count from groups "
            "where footer_rows <> row_count order by all").fetchall():
        damaged.setdefault(name, f"row group {group}: {counted:,} rows read, {footer:,} in "
                                 "the footer")
    if mismatches:
        for name, group, column, low, high, nulls, s_low, s_high, s_nulls in con.execute(
                " union all ".join(mismatches) + " order by 1, 2, 3").fetchall():
            damaged.setdefault(name, f"row group {group}, {column}: {low} to {high} and "
                                     f"{nulls:,} nulls read, {s_low} to {s_high} and "
                                     f"{s_nulls:,} nulls in the footer")
    for name, detail in sorted(damaged.items()):
        result.unreadable.append(
            f"{Path(name).relative_to(data_dir).as_posix()} holds values its footer's "
            f"statistics do not allow ({detail}): a damaged page")
    key_cols = [k for k in spec.key if spec.column(k) in present]
    duplicates = 0
    if key_cols and len(key_cols) == len(spec.key):
        not_null = " and ".join(f"{quote_ident(k)} is not null" for k in key_cols)
        duplicates = con.execute(
            "select count(*) - count(distinct row(" + ", ".join(quote_ident(k) for k in key_cols)
            + f")) from read_parquet({listed}) where {not_null}").fetchall()[0][0]
    return not bad and not duplicates
