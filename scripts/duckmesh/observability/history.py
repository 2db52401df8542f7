"""Run history from dbt's artifacts, and product metrics measured in the database."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb

from duckmesh.core import yamlio
from duckmesh.core.products import ProductVersion, primary_key, public_products
from duckmesh.core.sql import quote_ident
from duckmesh.observability.config import parse_time

FAILED_STATUSES = {"error", "fail", "runtime error"}


@dataclass(frozen=True)
class Product:
    """A public product version with what observability needs from the manifest."""

    version: ProductVersion
    owner: str
    slo: dict[str, Any]
    key_columns: tuple[str, ...]

    @property
    def key(self) -> str:
        return self.version.key


@dataclass(frozen=True)
class NodeRun:
    unique_id: str
    resource_type: str
    package: str | None
    name: str
    version: int | None
    status: str
    started_at: datetime | None
    ended_at: datetime | None
    execution_seconds: float | None
    failures: int | None
    message: str | None


@dataclass(frozen=True)
class TestResult:
    product: str
    version: int | None
    test_id: str
    test_name: str
    status: str
    failures: int | None
    severity: str
    message: str | None


@dataclass
class RunRecord:
    run_id: str
    started_at: datetime
    ended_at: datetime
    status: str
    dbt_version: str | None
    target: str | None
    git_commit: str | None
    command: str | None
    elapsed_seconds: float | None
    nodes: list[NodeRun] = field(default_factory=list)
    tests: list[TestResult] = field(default_factory=list)

    def node(self, unique_id: str) -> NodeRun | None:
        return next((n for n in self.nodes if n.unique_id == unique_id), None)


@dataclass(frozen=True)
class Measurement:
    """What one product version's relation holds after a run."""

    exists: bool
    row_count: int | None = None
    key_distinct_count: int | None = None
    null_counts: dict[str, int] = field(default_factory=dict)
    freshness_min: datetime | None = None
    freshness_max: datetime | None = None


# --- the manifest ---------------------------------------------------------------------

def products_from_manifest(manifest: dict) -> list[Product]:
    owners = {
        group["name"]: _owner(group.get("owner") or {})
        for group in manifest.get("groups", {}).values()
    }
    products = []
    for version in public_products(manifest):
        node = manifest["nodes"][version.unique_id]
        meta = (node.get("config") or {}).get("meta") or node.get("meta") or {}
        products.append(Product(
            version=version,
            owner=owners.get(node.get("group") or "", "") or "(no owner: add a group)",
            slo=dict(meta.get("slo") or {}),
            key_columns=primary_key(node),
        ))
    return products


def _owner(owner: dict) -> str:
    name, email = owner.get("name"), owner.get("email")
    if name and email:
        return f"{name} <{email}>"
    return name or email or ""


# --- run_results.json -----------------------------------------------------------------

def run_from_artifacts(run_results: dict, manifest: dict, products: list[Product],
                       root: Path | None = None, build_failed: bool = False) -> RunRecord:
    """One run as dbt recorded it; ``build_failed`` marks it failed whatever the nodes say."""
    metadata = run_results.get("metadata") or {}
    args = run_results.get("args") or {}
    ended_at = parse_time(metadata.get("generated_at") or _utcnow().isoformat(), "generated_at")
    started_raw = metadata.get("invocation_started_at")
    elapsed = run_results.get("elapsed_time")
    if started_raw:
        started_at = parse_time(started_raw, "invocation_started_at")
    else:
        started_at = ended_at
    nodes = [_node_run(result, manifest) for result in run_results.get("results", [])]
    failed = build_failed or any(n.status in FAILED_STATUSES for n in nodes)
    run = RunRecord(
        run_id=metadata.get("invocation_id") or f"run-{ended_at:%Y%m%dT%H%M%S}",
        started_at=started_at, ended_at=ended_at, status="error" if failed else "success",
        dbt_version=metadata.get("dbt_version"),
        target=args.get("target") or (_default_target(root) if root else None),
        git_commit=git_commit(root) if root else None,
        command=args.get("invocation_command") or args.get("which"),
        elapsed_seconds=float(elapsed) if elapsed is not None else None,
        nodes=nodes,
    )
    run.tests = _test_results(run.nodes, manifest, products)
    return run


def _node_run(result: dict, manifest: dict) -> NodeRun:
    unique_id = result["unique_id"]
    node = manifest.get("nodes", {}).get(unique_id) or manifest.get("unit_tests", {}).get(
        unique_id) or {}
    starts = [t["started_at"] for t in result.get("timing") or [] if t.get("started_at")]
    ends = [t["completed_at"] for t in result.get("timing") or [] if t.get("completed_at")]
    version = node.get("version")
    failures = result.get("failures")
    return NodeRun(
        unique_id=unique_id,
        resource_type=unique_id.split(".")[0],
        package=node.get("package_name") or unique_id.split(".")[1],
        name=node.get("name") or unique_id.split(".")[-1],
        version=int(version) if version is not None else None,
        status=str(result.get("status")),
        started_at=parse_time(min(starts), "started_at") if starts else None,
        ended_at=parse_time(max(ends), "completed_at") if ends else None,
        execution_seconds=result.get("execution_time"),
        failures=int(failures) if failures is not None else None,
        message=result.get("message"),
    )


def _test_results(nodes: list[NodeRun], manifest: dict,
                  products: list[Product]) -> list[TestResult]:
    by_id = {p.version.unique_id: p for p in products}
    results = []
    for run in nodes:
        if run.resource_type not in ("test", "unit_test"):
            continue
        node = manifest.get("nodes", {}).get(run.unique_id) or manifest.get(
            "unit_tests", {}).get(run.unique_id) or {}
        attached = node.get("attached_node")
        targets = [attached] if attached in by_id else [
            uid for uid in (node.get("depends_on") or {}).get("nodes", []) if uid in by_id]
        severity = str((node.get("config") or {}).get("severity") or "error").lower()
        for uid in dict.fromkeys(targets):
            product = by_id[uid]
            results.append(TestResult(
                product=product.key, version=product.version.version, test_id=run.unique_id,
                test_name=run.name, status=run.status, failures=run.failures,
                severity=severity, message=run.message))
    return results


def run_label(run_id: str) -> str:
    """How a run is shown: a dbt invocation id by its first 8 characters, any other id
    (failed-<time>, run-<time>) whole, so two runs never look alike."""
    if len(run_id) == 36 and run_id.count("-") == 4:
        return run_id[:8]
    return run_id


def failed_run(ended_at: datetime, build_seconds: float, root: Path | None) -> RunRecord:
    """A build that failed before dbt wrote run results (e.g. a parse error)."""
    started_at = datetime.fromtimestamp(ended_at.timestamp() - build_seconds, UTC)
    return RunRecord(
        run_id=f"failed-{ended_at:%Y%m%dT%H%M%S%f}", started_at=started_at,
        ended_at=ended_at, status="error", dbt_version=None,
        target=_default_target(root) if root else None,
        git_commit=git_commit(root) if root else None, command="build (no run results)",
        elapsed_seconds=build_seconds)


def _default_target(root: Path) -> str | None:
    """The profile's target: DUCKMESH_TARGET, else the default written in profiles.yml
    (``{{ env_var('DUCKMESH_TARGET', 'dev') }}`` -> dev)."""
    target = os.environ.get("DUCKMESH_TARGET")
    if target:
        return target
    try:
        profiles = yamlio.loads((root / "profiles" / "profiles.yml").read_text()) or {}
    except OSError:
        return None
    target = str((profiles.get("duckmesh") or {}).get("target") or "")
    default = re.search(r"env_var\(\s*'[^']*'\s*,\s*'([^']*)'", target)
    return default.group(1) if default else target or None


def git_commit(root: Path) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"],
                              capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and len(commit) == 40 else None


def _utcnow() -> datetime:
    return datetime.now(UTC)


# --- product metrics -------------------------------------------------------------------

def to_utc(value: Any) -> datetime | None:
    """A freshness value (timestamp, timestamptz or date) as an aware UTC datetime; None
    for a value beyond Python's years 1-9999 (DuckDB hands those over as text): a damaged
    value never stops the run from being recorded."""
    if value is None or isinstance(value, str):
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(
            UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise TypeError(f"not a time: {value!r}")


def unique_keys(manifest: dict, run_results: dict | None) -> set[tuple[str, str]]:
    """(model unique_id, column) of every built-in ``unique`` test that passed in this run
    with no failing row, over the whole table (no ``where`` or ``limit``): that column
    holds no value twice, so its distinct values are its non-null ones."""
    passed = {r["unique_id"] for r in (run_results or {}).get("results", [])
              if r.get("status") == "pass" and r.get("failures") == 0}
    found = set()
    for unique_id in passed:
        node = manifest["nodes"].get(unique_id) or {}
        test = node.get("test_metadata") or {}
        config = node.get("config") or {}
        column = node.get("column_name") or (test.get("kwargs") or {}).get("column_name")
        if ((test.get("name"), test.get("namespace")) in (("unique", None),
                                                          ("unique_key", "duckmesh_platform"))
                and column
                and node.get("attached_node") and not config.get("where")
                and config.get("limit") is None):
            found.add((node["attached_node"], column))
    return found


def measure_products(con: duckdb.DuckDBPyConnection, products: list[Product],
                     progress: Callable[[str], None] | None = None,
                     unique: set[tuple[str, str]] | None = None) -> dict[str, Measurement]:
    """One aggregate query per product version: rows, nulls per column, distinct keys,
    min/max of the freshness column. A one-column key in ``unique`` (unique_keys) is not
    counted distinct: its count of non-null values is the same number."""
    columns: dict[tuple[str, str], list[str]] = {}
    for schema, table, column in con.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "order by table_schema, table_name, ordinal_position").fetchall():
        columns.setdefault((schema, table), []).append(column)
    measured = {}
    for index, product in enumerate(products, 1):
        version = product.version
        if progress:
            progress(f"[{index}/{len(products)}] measuring {version.relation}")
        table_columns = columns.get((version.schema, version.relation_name))
        if table_columns is None:
            measured[version.unique_id] = Measurement(exists=False)
            continue
        measured[version.unique_id] = _measure(con, product, table_columns, unique or set())
    return measured


def _measure(con: duckdb.DuckDBPyConnection, product: Product,
             table_columns: list[str], unique: set[tuple[str, str]]) -> Measurement:
    keys = [k for k in product.key_columns if k in table_columns]
    freshness = product.slo.get("freshness_column")
    freshness = freshness if freshness in table_columns else None
    select = ["count(*)"]
    proven = len(keys) == 1 and (product.version.unique_id, keys[0]) in unique
    if proven:
        select.append("null")  # its non-null count, below
    elif len(keys) == 1:
        select.append(f"count(distinct {quote_ident(keys[0])})")
    elif keys:
        select.append(f"count(distinct ({', '.join(map(quote_ident, keys))}))")
    else:
        select.append("null")
    select += [f"count({quote_ident(c)})" for c in table_columns]
    if freshness:
        select += [f"min({quote_ident(freshness)})", f"max({quote_ident(freshness)})"]
    relation = f"{quote_ident(product.version.schema)}.{quote_ident(product.version.relation_name)}"
    row = con.execute(f"select {', '.join(select)} from {relation}").fetchall()[0]
    count, distinct = row[0], row[1]
    non_null = row[2:2 + len(table_columns)]
    if proven:
        distinct = non_null[table_columns.index(keys[0])]
    fresh = row[2 + len(table_columns):]
    return Measurement(
        exists=True, row_count=count, key_distinct_count=distinct,
        null_counts={c: count - n for c, n in zip(table_columns, non_null)},
        freshness_min=to_utc(fresh[0]) if fresh else None,
        freshness_max=to_utc(fresh[1]) if fresh else None,
    )
