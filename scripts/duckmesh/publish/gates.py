"""Quality gates: what a product version must satisfy, beyond its dbt tests, before it
is published (docs/quality-gates.md).

Every built product version is measured in the build database with one aggregate query
against its declared expectations (``config.meta.quality``, defaults below):

- ``min_rows``: at least this many rows (default ``meta.slo.min_rows``, else 1);
- ``volume_band``: ``[low, high]``, its rows divided by the rows of its last publish
  (default ``[0.5, 2.0]``; ``null`` turns it off). A publish from another data set (scale,
  seed or data folder) starts a new baseline: the band is not checked;
- ``totals_band``: ``[low, high]``, the total of each numeric column that is not a key
  divided by its total at the last publish (default ``[0.8, 1.25]``; ``null``: off): the
  same rows with a sharply smaller total (a source cut short under an aggregate);
- ``date_window``: ``{min, max}``, every date and timestamp column inside it (default
  1900-01-01 to one year after today);
- its primary key columns never null or blank.

Products that reference each other (a relationships test, or one reading the other
through any chain of models) form a set: when one of them is held back (failed model,
failed test or failed gate), the others of its set are held back with it, so consumers
never see new versions next to stale ones they reference. Each held-back product raises
an error alert before the publish.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import duckdb

from duckmesh.core.products import ProductVersion, primary_key, public_products
from duckmesh.core.project import Mesh
from duckmesh.core.sql import qualified_name, quote_ident
from duckmesh.observability import alerts
from duckmesh.observability.config import load_config
from duckmesh.observability.history import products_from_manifest
from duckmesh.observability.store import ensure_schema
from duckmesh.publish import files
from duckmesh.publish.plan import Plan

DEFAULT_VOLUME_BAND = (0.5, 2.0)
DEFAULT_TOTALS_BAND = (0.8, 1.25)
NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
           "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "DECIMAL")
DEFAULT_DATE_MIN = date(1900, 1, 1)
TEMPORAL = ("DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_NS", "TIMESTAMP_MS",
            "TIMESTAMP_S")
GATE = "quality gate"
HELD_WITH = "held back with its set"


@dataclass(frozen=True)
class Expectations:
    min_rows: int
    volume_band: tuple[float, float] | None
    date_min: date
    date_max: date
    keys: tuple[str, ...]
    totals_band: tuple[float, float] | None = DEFAULT_TOTALS_BAND


@dataclass
class GateResult:
    """What the gates did to a plan: relation -> why it was held back."""
    failed: dict[str, str] = field(default_factory=dict)  # by its own gates
    held: dict[str, str] = field(default_factory=dict)  # by its set
    # relation -> (rows, checksum) of each product version checked, from the same scan
    # (publish reuses them instead of reading the tables again)
    measured: dict[str, tuple[int, str]] = field(default_factory=dict)
    # relation -> [[name, type], ...] of each product version checked, as described then
    columns: dict[str, list[list[str]]] = field(default_factory=dict)
    # relation -> {column: total} of each numeric column that is not a key (publish
    # records them: the next publish's totals_band compares with them)
    totals: dict[str, dict[str, float]] = field(default_factory=dict)


def _meta(node: dict) -> dict:
    return (node.get("config") or {}).get("meta") or node.get("meta") or {}


def _date(value: object, default: date) -> date:
    if value is None:
        return default
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def expectations(node: dict, today: date) -> Expectations:
    """A product version's expectations: its ``meta.quality`` over the defaults."""
    meta = _meta(node)
    quality = meta.get("quality") or {}
    min_rows = quality.get("min_rows", (meta.get("slo") or {}).get("min_rows", 1))
    band = quality.get("volume_band", DEFAULT_VOLUME_BAND)
    totals = quality.get("totals_band", DEFAULT_TOTALS_BAND)
    window = quality.get("date_window") or {}
    return Expectations(
        min_rows=int(min_rows),
        volume_band=None if band is None else (float(band[0]), float(band[1])),
        date_min=_date(window.get("min"), DEFAULT_DATE_MIN),
        date_max=_date(window.get("max"), today + timedelta(days=366)),
        keys=primary_key(node),
        totals_band=None if totals is None else (float(totals[0]), float(totals[1])))


def measure(con: duckdb.DuckDBPyConnection, product: ProductVersion, expected: Expectations
            ) -> tuple[int, list[str], str, list[list[str]], dict[str, float]]:
    """(rows, why the product version fails its expectations, its checksum as
    files.checksum computes it, its columns [[name, type], ...], the total of each
    numeric column that is not a key) from one aggregate query; values are compared and
    shown in SQL, so no value can break the check.

    A date or timestamp column is first checked by its lowest and highest value (a
    small query: the date of a value never decreases as the value grows); only a column
    with a value outside its window counts those rows in the scan."""
    relation = qualified_name(product.schema, product.relation_name)
    columns = con.execute(f"describe {relation}").fetchall()
    names = {c[0] for c in columns}
    select = ["count(*)"]
    keys = [k for k in expected.keys if k in names]
    for key in keys:
        select.append(f"count(*) filter (where {quote_ident(key)} is null "
                      f"or trim({quote_ident(key)}::varchar) = '')")
    temporal = [c[0] for c in columns if str(c[1]).upper() in TEMPORAL]
    low, high = expected.date_min.isoformat(), expected.date_max.isoformat()
    ranges: dict[str, tuple[object, object, object]] = {}  # column -> (outside?, min, max)
    if temporal:
        bounds = []
        for column in temporal:
            quoted = quote_ident(column)
            bounds += [f"coalesce(min({quoted})::date < date '{low}' "
                       f"or max({quoted})::date > date '{high}', false)",
                       f"min({quoted})::varchar", f"max({quoted})::varchar"]
        found = con.execute(f"select {', '.join(bounds)} from {relation}").fetchall()[0]
        ranges = {column: tuple(found[3 * i: 3 * i + 3])
                  for i, column in enumerate(temporal)}
    outside = [column for column in temporal if ranges[column][0]]
    for column in outside:
        value = f"{quote_ident(column)}::date"
        select.append(f"count(*) filter (where {value} < date '{low}' or {value} > date '{high}')")
    numeric = [c[0] for c in columns if str(c[1]).upper().split("(")[0] in NUMERIC
               and c[0] not in expected.keys]
    select += [f"sum({quote_ident(c)})::double" for c in numeric]
    select.append(files.CHECKSUM)
    row = con.execute(f"select {', '.join(select)} from {relation} as t").fetchall()[0]
    totals = {c: float(v) for c, v in zip(numeric, row[-1 - len(numeric):-1]) if v is not None}
    rows, problems = int(row[0]), []
    if rows < expected.min_rows:
        problems.append(f"{rows:,} rows, fewer than its min_rows {expected.min_rows:,}")
    for index, key in enumerate(keys, start=1):
        if row[index]:
            problems.append(f"{row[index]:,} rows with a null or blank key {key}")
    offset = 1 + len(keys)
    for index, column in enumerate(outside):
        count, lowest, highest = row[offset + index], ranges[column][1], ranges[column][2]
        if count:
            problems.append(f"{count:,} rows with {column} outside its date_window "
                            f"{low} to {high} (found {lowest} to {highest})")
    return rows, problems, str(row[-1]), [[str(c[0]), str(c[1])] for c in columns], totals


def _volume(rows: int, totals: dict[str, float], previous: dict | None,
            expected: Expectations) -> list[str]:
    """The volume against the last publish: its rows (volume_band) and the total of each
    numeric column (totals_band; a previous total of 0 or below is not compared)."""
    if not previous:
        return []
    problems = []
    if expected.volume_band is not None and previous.get("rows"):
        low, high = expected.volume_band
        ratio = rows / previous["rows"]
        if not low <= ratio <= high:
            problems.append(f"{rows:,} rows against {previous['rows']:,} at its last publish "
                            f"({ratio:.2f}x), outside its volume_band [{low:g}, {high:g}]")
    if expected.totals_band is not None:
        low, high = expected.totals_band
        for column, before in sorted((previous.get("totals") or {}).items()):
            now = totals.get(column)
            if now is None or not before or before <= 0:
                continue
            ratio = now / before
            if not low <= ratio <= high:
                problems.append(f"{column} totals {now:,.2f} against {before:,.2f} at its last "
                                f"publish ({ratio:.2f}x), outside its totals_band "
                                f"[{low:g}, {high:g}]")
    return problems


def linked_sets(manifest: dict) -> list[set[str]]:
    """The public product versions (unique ids) that reference each other, by a
    relationships test or through lineage, grouped into connected sets."""
    nodes = manifest["nodes"]
    products = {p.unique_id for p in public_products(manifest)}
    upstream: dict[str, set[str]] = {}

    def products_above(unique_id: str) -> set[str]:
        if unique_id not in upstream:
            upstream[unique_id] = set()  # a guard against cycles
            found: set[str] = set()
            for parent in (nodes.get(unique_id) or {}).get("depends_on", {}).get("nodes", []):
                if parent in products:
                    found.add(parent)
                elif parent in nodes:
                    found |= products_above(parent)
            upstream[unique_id] = found
        return upstream[unique_id]

    parent_of = {p: p for p in products}

    def find(x: str) -> str:
        while parent_of[x] != x:
            x = parent_of[x]
        return x

    def union(a: str, b: str) -> None:
        parent_of[find(a)] = find(b)

    for product in products:
        for other in products_above(product):
            union(product, other)
    for node in nodes.values():
        if node.get("resource_type") != "test":
            continue
        linked = [n for n in node.get("depends_on", {}).get("nodes", []) if n in products]
        attached = node.get("attached_node")
        if attached in products:
            linked.append(attached)
        for other in linked[1:]:
            union(linked[0], other)
    groups: dict[str, set[str]] = {}
    for product in products:
        groups.setdefault(find(product), set()).add(product)
    return sorted(groups.values(), key=lambda g: sorted(g))


HOLDING = ("model ", "tests failed", GATE)


def _rank(why: str) -> int:
    """How directly a reason for holding a product back is the cause: a model that failed
    (0), a gate or a failing test (1), tests only skipped for an upstream failure (2), a
    model skipped for one (3)."""
    if why.startswith("model skipped"):
        return 3
    if why.startswith("model "):
        return 0
    if why.startswith("tests failed: ") and all(
            test.endswith(" skipped") for test in why.removeprefix("tests failed: ").split(", ")):
        return 2
    return 1


def apply(con: duckdb.DuckDBPyConnection, manifest: dict, decided: Plan, previous: dict,
          new_baseline: bool, today: date | None = None) -> GateResult:
    """Check every product version the plan builds; move the ones that fail, and the
    others of their set, to ``carry`` (or ``drop`` when never published)."""
    today = today or datetime.now(UTC).date()
    result = GateResult()
    for product in decided.build:
        expected = expectations(manifest["nodes"][product.unique_id], today)
        rows, problems, checksum, columns, totals = measure(con, product, expected)
        result.measured[product.relation] = (rows, checksum)
        result.columns[product.relation] = columns
        result.totals[product.relation] = totals
        if not new_baseline:
            problems += _volume(rows, totals, previous.get(product.relation), expected)
        if problems:
            result.failed[product.relation] = f"{GATE}: " + "; ".join(problems)
    by_id = {p.unique_id: p for p in public_products(manifest)}
    holding = dict(result.failed)
    holding.update({r: why for r, why in {**decided.carry, **decided.drop}.items()
                    if why.startswith(HOLDING)})
    for group in linked_sets(manifest):
        relations = {by_id[u].relation for u in group}
        # the first cause named: a failure of its own, before a model or a test skipped
        # because of it
        culprits = sorted(relations & set(holding), key=lambda r: (_rank(holding[r]), r))
        if not culprits:
            continue
        for product in decided.build:
            if product.relation in relations and product.relation not in result.failed:
                result.held[product.relation] = f"{HELD_WITH}: {culprits[0]} is held back"
    stopped = {**result.failed, **result.held}
    kept = []
    for product in decided.build:
        why = stopped.get(product.relation)
        if why is None:
            kept.append(product)
        elif product.relation in previous:
            decided.carry[product.relation] = why
        else:
            decided.drop[product.relation] = why
    decided.build = kept
    return result


def held_back(decided: Plan) -> dict[str, str]:
    """The product versions a plan holds back because of a failure (model, tests, quality
    gate or its set), not merely left unbuilt: relation -> why."""
    return {r: why for r, why in {**decided.carry, **decided.drop}.items()
            if why.startswith(HOLDING) or why.startswith(HELD_WITH)}


def raise_alerts(mesh: Mesh, con: duckdb.DuckDBPyConnection, manifest: dict, decided: Plan,
                 log: Callable[[str], None]) -> None:
    """An error alert per product version the quality gates hold back (its own, or with
    its set), raised before the publish; an alert of an earlier publish resolves when its
    product version goes out again."""
    owners = {p.version.relation: p for p in products_from_manifest(manifest)}
    # a failed model or test is alerted by observability for this run; the gates and the
    # sets are the publish's own reasons
    held = {r: why for r, why in held_back(decided).items()
            if why.startswith((GATE, HELD_WITH))}
    findings = [alerts.Finding(
        f"publish:{relation}", "publish", "held_back", owners[relation].key,
        owners[relation].version.version, owners[relation].owner, "error",
        f"{relation} not published: {why}") for relation, why in sorted(held.items())
        if relation in owners]
    checked = {f"publish:{p.relation}" for p in decided.build}
    run_id = manifest["metadata"]["invocation_id"]
    ensure_schema(con)
    raised, _ = alerts.reconcile(con, run_id, datetime.now(UTC), findings, checked)
    config = load_config(mesh)
    for problem in alerts.deliver(raised, config.alert_path(mesh.root), config.webhook_url,
                                  config.webhook_timeout_seconds):
        log(f"      warning: {problem}")


def check_plan(mesh: Mesh, manifest: dict, decided: Plan, previous: dict, new_baseline: bool,
               con: duckdb.DuckDBPyConnection, in_build: bool,
               log: Callable[[str], None]) -> GateResult:
    """The quality gates on the build database (``con``, left open); in a build (``con``
    writable) the alerts of the product versions they hold back are raised now, before
    anything is published; standalone, ``alert_standalone`` raises them."""
    result = apply(con, manifest, decided, previous, new_baseline)
    if in_build:
        raise_alerts(mesh, con, manifest, decided, log)
    return result


def alert_standalone(mesh: Mesh, manifest: dict, decided: Plan,
                     log: Callable[[str], None]) -> None:
    """A standalone publish (the build database closed): open it for writing just to
    record the alerts of held-back product versions, when there are any."""
    if not [why for why in held_back(decided).values() if why.startswith((GATE, HELD_WITH))]:
        return
    try:
        with duckdb.connect(str(mesh.db_path)) as writable:
            raise_alerts(mesh, writable, manifest, decided, log)
    except duckdb.Error as error:
        log(f"      warning: the alerts of held-back products were not recorded in "
            f"{mesh.db_path} ({error})")
