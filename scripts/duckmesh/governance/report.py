"""`duckmesh governance`: the mesh's policies (macros/governance/) as a report.

The policies live in one place, the dbt macros, which the root project's
on-run-start hook runs before every `dbt build`/`dbt run`. This module runs the
same check through `dbt run-operation mesh_governance --args '{format: json}'`,
catches the JSON line the macro logs, and prints it as text or JSON (for CI
annotations); it exits non-zero when a policy reports an error. When none of the
files dbt reads changed since that run (core/fingerprint.py), the same macros run over its
saved manifest without dbt (offline.py): seconds instead of dbt's parse at 10,000
models.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from duckmesh.core import fingerprint, yamlio
from duckmesh.core.project import Mesh, MeshError
from duckmesh.governance import offline, parse_checks, semver

MARKER = "DUCKMESH_GOVERNANCE_JSON "
# Own target path: the check never overwrites the build's run_results.json.
TARGET_PATH = "target/governance"
SAVED = "saved manifest"


@dataclass(frozen=True)
class Violation:
    policy: str  # P00..P13
    severity: str  # error | warn
    domain: str
    node: str  # unique_id (model.sales.orders.v1), group.*, package.* or exemption.N
    column: str | None
    message: str  # what is wrong
    fix: str  # how to fix it

    def line(self) -> str:
        where = f"{self.node}, column {self.column}" if self.column else self.node
        return (f"[{self.policy} {self.severity}] domain {self.domain}, {where}: "
                f"{self.message}. Fix: {self.fix}.")


@dataclass
class GovernanceReport:
    violations: list[Violation]
    exempted: int
    models: int
    public_models: int
    seconds: float  # time the policies took inside dbt
    changes: list[semver.ProductChange] = field(default_factory=list)
    source: str = "dbt"  # dbt | saved manifest (the macros run without dbt: offline.py)

    @property
    def errors(self) -> list[Violation]:
        return [v for v in self.violations if v.severity == "error"]

    @property
    def warnings(self) -> list[Violation]:
        return [v for v in self.violations if v.severity == "warn"]

    def text(self) -> str:
        lines = [f"DuckMesh governance: {len(self.errors)} error(s), {len(self.warnings)} "
                 f"warning(s), {self.exempted} exempted, over {self.models} models "
                 f"({self.public_models} public) in {self.seconds:.3f}s"
                 + (f" (over the {SAVED}: no file changed since dbt parsed)"
                    if self.source == SAVED else "")]
        lines += [v.line() for v in self.errors + self.warnings]
        if self.changes:
            lines.append("Product changes since the published manifest:")
            lines += [f"  {change.line()}" for change in self.changes]
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {
            "errors": len(self.errors), "warnings": len(self.warnings),
            "exempted": self.exempted, "models": self.models,
            "public_models": self.public_models, "seconds": self.seconds,
            "source": self.source,
            "violations": [asdict(v) for v in self.violations],
            "changes": [asdict(c) for c in self.changes],
        }


def run_checks(mesh: Mesh) -> list[Violation]:
    """Every violation of the mesh's policies (errors and warnings; exemptions applied)."""
    return check(mesh).violations


def check(mesh: Mesh, *, saved: bool = True) -> GovernanceReport:
    """Run the governance macros and return their report: over the saved manifest when
    ``saved`` and no file dbt reads changed since it was written, else through dbt."""
    manifest_path = mesh.root / TARGET_PATH / "manifest.json"
    taken = fingerprint.dbt_inputs(mesh)
    data, manifest, source = None, None, SAVED
    parsed: dict[str, Any] = {}  # JSON files the macros parsed (offline), by real path
    # a stamp is written only after parse_checks (mistakes dbt reports late) passed and
    # dbt parsed the files of that fingerprint: a current one needs neither again. The
    # check's own manifest first, then the last `duckmesh build`'s (core/fingerprint.py)
    for saved_path in (manifest_path, mesh.target_dir / "manifest.json") if saved else ():
        if not fingerprint.manifest_is_current(mesh, saved_path, taken):
            continue
        try:
            manifest = json.loads(saved_path.read_text())
            data = offline.governance_check(mesh, manifest, parsed=parsed)
            break
        except (offline.Unsupported, OSError, ValueError):
            # dbt answers: the same macros and dbt's own messages (or the manifest was
            # being rewritten by another check)
            data, manifest = None, None
            break
    if data is None:
        parse_checks.check(mesh)  # what dbt would only report as a parse error
        if not (mesh.root / "dbt_packages").is_dir():
            _invoke(mesh, ["--quiet", "deps"], [])
            taken = fingerprint.dbt_inputs(mesh)
        data, manifest, source = _dbt_check(mesh), None, "dbt"
        fingerprint.ManifestStamp(taken).record(manifest_path)
    report = GovernanceReport(
        violations=[Violation(**{key: v.get(key) for key in Violation.__dataclass_fields__})
                    for v in data["violations"]],
        exempted=data["exempted"], models=data["models"],
        public_models=data["public_models"], seconds=data["seconds"], source=source)
    baseline = published_manifest_path(mesh)
    if baseline.is_file() and (manifest is not None or manifest_path.is_file()):
        # P09 read the same file: offline, its parse is reused
        before = parsed.get(os.path.realpath(baseline))
        report.changes = semver.compare_manifests(
            before if before is not None else json.loads(baseline.read_text()),
            manifest or json.loads(manifest_path.read_text()))
    return report


def _dbt_check(mesh: Mesh) -> dict:
    """The report as `dbt run-operation mesh_governance --args '{format: json}'` logs it."""
    lines: list[str] = []

    def capture(event: Any) -> None:  # a dbt EventMsg
        if event.info.name == "JinjaLogInfo" and event.data.msg.startswith(MARKER):
            lines.append(event.data.msg[len(MARKER):])

    args = ["--quiet", "run-operation", "mesh_governance", "--args", "{format: json}",
            "--target-path", TARGET_PATH]
    own_state = mesh.root / TARGET_PATH / "partial_parse.msgpack"
    build_state = mesh.target_dir / "partial_parse.msgpack"
    if not own_state.is_file() and build_state.is_file():
        # the first check after a build starts from the build's parse (dbt re-parses what
        # changed) and keeps its own from then on
        args += ["--partial-parse-file-path", str(build_state)]
    result = _invoke(mesh, args, [capture])
    if not lines:
        detail = f": {result.exception}" if result.exception else ""
        raise MeshError(f"the governance check did not run{detail} "
                        "(see the dbt output above; `dbt parse` shows project errors)")
    data: dict = json.loads(lines[-1])
    return data


def published_manifest_path(mesh: Mesh) -> Path:
    """vars.duckmesh_governance.published_manifest of the root dbt_project.yml."""
    project = yamlio.loads((mesh.root / "dbt_project.yml").read_text()) or {}
    config = (project.get("vars") or {}).get("duckmesh_governance") or {}
    path = Path(config.get("published_manifest") or "published/manifest.json")
    return path if path.is_absolute() else mesh.root / path


def _invoke(mesh: Mesh, args: list[str], callbacks: list[Callable[[Any], None]]) -> Any:
    from duckmesh.core import dbt  # noqa: PLC0415 (dbt is imported only when it runs)

    return dbt.run_dbt(mesh, args, callbacks=callbacks)
