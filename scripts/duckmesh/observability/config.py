"""Observability settings: the root dbt_project.yml var ``duckmesh_observability``,
overridden by environment variables (DUCKMESH_AS_OF, DUCKMESH_ALERT_FILE,
DUCKMESH_ALERT_WEBHOOK) and by command-line options."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path

from duckmesh.core import yamlio
from duckmesh.core.project import Mesh, MeshError

VAR_NAME = "duckmesh_observability"


@dataclass(frozen=True)
class AnomalyConfig:
    min_history: int = 3  # prior runs needed before any anomaly is raised
    window_runs: int = 14  # prior runs the median and MAD are taken over
    volume_z: float = 3.5  # robust z-score (0.6745 * deviation / MAD) above which ...
    volume_min_change: float = 0.2  # ... and a relative change above which rows are anomalous
    freshness_lag_hours: float = 12.0  # lag above the median lag by more than this
    null_rate_jump: float = 0.1  # null rate above the median null rate by more than this


@dataclass(frozen=True)
class ObservabilityConfig:
    # "now" (the end of the run being recorded) or an ISO timestamp: the reference
    # time data freshness is measured against
    as_of: str = "now"
    ledger_runs: int = 30  # SLO ledger window, in runs
    alert_file: str = "logs/duckmesh_alerts.jsonl"  # relative to the mesh root
    webhook_url: str | None = None
    webhook_timeout_seconds: float = 5.0
    anomaly: AnomalyConfig = field(default_factory=AnomalyConfig)

    def alert_path(self, root: Path) -> Path:
        path = Path(self.alert_file)
        return path if path.is_absolute() else root / path

    def as_of_time(self, run_ended_at: datetime) -> datetime:
        """The reference time for data freshness in a run that ended at ``run_ended_at``."""
        return run_ended_at if self.as_of == "now" else parse_time(self.as_of, "as_of")


def parse_time(value: str, name: str) -> datetime:
    """An ISO timestamp as an aware UTC datetime (naive means UTC)."""
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise MeshError(
            f"{name} {value!r} is not a timestamp: write ISO 8601, e.g. "
            "2025-12-31T00:00:00+00:00, or 'now'") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _build(cls: type, values: dict, where: str):  # noqa: ANN202 - dataclass factory
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise MeshError(
            f"unknown key(s) {', '.join(unknown)} in {where}: "
            f"allowed keys are {', '.join(sorted(known))}")
    return cls(**values)


def load_config(mesh: Mesh, as_of: str | None = None) -> ObservabilityConfig:
    """Settings from the root project, then the environment, then ``as_of`` if given."""
    project_file = mesh.root / "dbt_project.yml"
    project = yamlio.loads(project_file.read_text()) or {}
    raw = dict((project.get("vars") or {}).get(VAR_NAME) or {})
    where = f"vars.{VAR_NAME} of {project_file}"
    anomaly = _build(AnomalyConfig, dict(raw.pop("anomaly", None) or {}), f"{where}.anomaly")
    config = _build(ObservabilityConfig, {**raw, "anomaly": anomaly}, where)
    overrides = {
        "as_of": mesh.settings.as_of,
        "alert_file": mesh.settings.alert_file,
        "webhook_url": mesh.settings.alert_webhook,
    }
    config = replace(config, **{k: v for k, v in overrides.items() if v})
    if as_of:
        config = replace(config, as_of=as_of)
    if config.as_of != "now":
        parse_time(config.as_of, "as_of")  # fail early, with the fix in the message
    return config
