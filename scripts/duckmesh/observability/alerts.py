"""Alerts: one record per open breach (SLO, anomaly, failed test on a public product).

An alert opens when a check first fails, is only "seen again" while it keeps failing
(no duplicate per run), and resolves the first time the same check passes. New
alerts are appended as JSON lines to the alert file, POSTed to a webhook, and shown on
stdout as one readable line each (``Alert.line``)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from duckmesh.core.output import console
from duckmesh.observability.store import SCHEMA


@dataclass(frozen=True)
class Finding:
    """A failed check in this run; becomes an alert unless one is already open."""

    key: str
    kind: str  # slo, anomaly, test
    check: str
    product: str
    version: int | None
    owner: str
    severity: str
    message: str


@dataclass(frozen=True)
class Alert:
    alert_id: int
    alert_key: str
    kind: str
    check: str
    product: str
    version: int | None
    owner: str
    severity: str
    message: str
    status: str
    raised_run_id: str
    raised_at: datetime
    last_seen_run_id: str
    occurrences: int
    resolved_run_id: str | None = None
    resolved_at: datetime | None = None

    def line(self) -> str:
        """The alert for people: 'alert 3 (error) customers.customers v1: ...'."""
        owner = f" [owner: {self.owner}]" if self.owner else ""
        return f"alert {self.alert_id} ({self.severity}) {self.message}{owner}"

    def to_json(self) -> str:
        record = asdict(self)
        for name in ("raised_at", "resolved_at"):
            value = getattr(self, name)
            record[name] = value.astimezone(UTC).isoformat() if value else None
        return json.dumps(record, sort_keys=True)


ALERT_COLUMNS = ("alert_id, alert_key, kind, check_name, product, version, owner, severity, "
                 "message, status, raised_run_id, raised_at, last_seen_run_id, occurrences, "
                 "resolved_run_id, resolved_at")


def reconcile(con: duckdb.DuckDBPyConnection, run_id: str, at: datetime,
              findings: list[Finding], checked: set[str]) -> tuple[list[Alert], list[Alert]]:
    """Open an alert per new finding, mark open ones seen again, resolve the ones whose
    check passed in this run. Returns (raised, resolved)."""
    open_alerts = {a.alert_key: a for a in query_alerts(con, include_resolved=False)}
    next_id = con.execute(f"select coalesce(max(alert_id), 0) + 1 "
                          f"from {SCHEMA}.alerts").fetchall()[0][0]
    raised = []
    seen = set()
    for finding in findings:
        if finding.key in seen:
            continue
        seen.add(finding.key)
        if finding.key in open_alerts:
            con.execute(f"update {SCHEMA}.alerts set last_seen_run_id = ?, "
                        f"occurrences = occurrences + 1 where alert_id = ?",
                        [run_id, open_alerts[finding.key].alert_id])
            continue
        alert = Alert(next_id, finding.key, finding.kind, finding.check, finding.product,
                      finding.version, finding.owner, finding.severity, finding.message,
                      "open", run_id, at, run_id, 1)
        con.execute(f"insert into {SCHEMA}.alerts ({ALERT_COLUMNS}) values "
                    f"({', '.join('?' for _ in range(16))})",
                    [getattr(alert, f) for f in Alert.__dataclass_fields__])
        raised.append(alert)
        next_id += 1
    resolved = []
    for key, alert in open_alerts.items():
        if key in checked and key not in seen:
            con.execute(f"update {SCHEMA}.alerts set status = 'resolved', resolved_run_id = ?, "
                        f"resolved_at = ? where alert_id = ?", [run_id, at, alert.alert_id])
            resolved.append(alert)
    return raised, resolved


def query_alerts(con: duckdb.DuckDBPyConnection, include_resolved: bool = False,
                 product: str | None = None) -> list[Alert]:
    where, params = [], []
    if not include_resolved:
        where.append("status = 'open'")
    if product:
        where.append("product = ?")
        params.append(product)
    clause = f"where {' and '.join(where)}" if where else ""
    rows = con.execute(f"select {ALERT_COLUMNS} from {SCHEMA}.alerts {clause} "
                       f"order by alert_id", params).fetchall()
    return [Alert(*r) for r in rows]


def deliver(alerts: list[Alert], alert_file: Path, webhook_url: str | None,
            timeout: float = 5.0) -> list[str]:
    """JSON lines to ``alert_file``, one readable line each on the console, one
    POST of ``{"alerts": [...]}`` to the webhook. Returns delivery problems (never
    raises)."""
    if not alerts:
        return []
    problems = []
    lines = [a.to_json() for a in alerts]
    try:
        alert_file.parent.mkdir(parents=True, exist_ok=True)
        with alert_file.open("a", encoding="utf-8") as handle:
            handle.writelines(line + "\n" for line in lines)
    except OSError as error:
        problems.append(f"could not append alerts to {alert_file}: {error} (set alert_file "
                        "in vars.duckmesh_observability or DUCKMESH_ALERT_FILE)")
    for alert in alerts:
        console().warn(alert.line(), err=False)
    if webhook_url:
        body = json.dumps({"alerts": [json.loads(line) for line in lines]}).encode()
        request = urllib.request.Request(
            webhook_url, data=body, method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "duckmesh"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                response.read()
        except (urllib.error.URLError, OSError, ValueError) as error:
            problems.append(f"could not POST {len(alerts)} alert(s) to the webhook "
                            f"{webhook_url}: {error} (check webhook_url in "
                            "vars.duckmesh_observability or DUCKMESH_ALERT_WEBHOOK)")
    return problems
