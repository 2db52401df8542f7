"""Build the project the way it really builds, alone, into a scratch DuckDB file:
`dbt deps` (its own packages), `dbt seed` (its raw data, before anything reads it
through a source), `dbt run` and `dbt snapshot`, then `dbt test`, with the --vars it
needs. A model that does not build stops adoption; a test that fails or warns does not
(real projects carry some): it is reported and kept as it is. What comes back: each
model with the columns and types DuckDB reports (and whether it is in the marts
folder), which P05/P10 casts its data allows, and the tests that did not pass."""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from duckmesh.build.deps import check_hub
from duckmesh.core import dbt, yamledit
from duckmesh.core.project import MeshError
from duckmesh.core.sql import qualified_name
from duckmesh.selfserve.contracts import (
    Column,
    apply_casts,
    connect_db,
    describe_query,
    suggest_types,
)

# never copied, never built: build output, installed packages, tools' folders
SKIP = {"target", "dbt_packages", "logs", ".git", ".venv", "__pycache__", ".user.yml"}


@dataclass
class BuiltMart:
    """A model of the marts folder as the project builds it."""
    name: str
    path: Path  # the SQL file, relative to the project
    columns: list[Column]
    time_spine: bool = False  # MetricFlow's time spine: a technical model
    entry: dict[str, Any] = field(default_factory=dict)  # its yml entry (docs, tests)
    in_marts: bool = True  # in the marts folder (--marts-dir)
    leaf: bool = False  # no other model of the project selects from it


@dataclass(frozen=True)
class TestResult:
    """A data or unit test of the project that did not pass when it built alone."""
    name: str
    status: str  # fail | warn | error
    file: str  # the file that declares it, relative to the project
    message: str


@dataclass
class Built:
    models: list[BuiltMart]
    tests: list[TestResult]

    def marts(self) -> list[BuiltMart]:
        return [m for m in self.models if m.in_marts]


def vars_arg(variables: dict[str, Any]) -> list[str]:
    return ["--vars", json.dumps(variables)] if variables else []


def run_step(step: list[str], project: Path, scratch: Path, variables: dict[str, Any],
             env: dict[str, str], source: Path) -> list[TestResult]:
    """One dbt command in the scratch copy. A test that fails or warns is returned (a
    `dbt test` step); anything else that fails stops adoption with dbt's reason."""
    extra = [] if step == ["deps"] else [
        "--target-path", str(scratch / "target"), *vars_arg(variables)]
    result = dbt.invoke([
        "--quiet", *step, "--project-dir", str(project), "--profiles-dir", str(scratch),
        "--log-path", str(scratch / "logs"), *extra], env)
    results = getattr(result.result, "results", None) or []
    if step[0] == "test" and result.exception is None:
        return [TestResult(r.node.name, str(r.status), str(r.node.original_file_path),
                           str(r.message or "").splitlines()[0] if r.message else "")
                for r in results if str(r.status) in ("fail", "warn", "error")]
    if result.success:
        return []
    failed = [f"{r.node.name}: {str(r.message or '').splitlines()[0] if r.message else r.status}"
              for r in results if str(r.status) in ("error", "fail")]
    lines = [line.strip() for line in str(result.exception or "; ".join(failed)).splitlines()
             if line.strip() and line.strip() != "Internal Error"]
    detail = " ".join(lines)[:400] or "failed"
    raise MeshError(f"{source.name} does not build on its own (dbt {step[0]}: "
                    f"{detail}): fix it so that `dbt {step[0]}` "
                    "passes in the project, or pass the --vars it needs, then adopt again")


def anchor_local_packages(source: Path, copy: Path) -> None:
    """A local: package path is relative to the project: make it absolute in the
    scratch copy, which lives elsewhere."""
    for name in ("packages.yml", "dependencies.yml"):
        data = yamledit.load(copy / name)
        entries = (data or {}).get("packages") or []
        local = [e for e in entries if isinstance(e, dict) and "local" in e]
        for entry in local:
            entry["local"] = str((source / str(entry["local"])).resolve())
        if local:
            yamledit.dump(data, copy / name)


def has_snapshots(project: Path) -> bool:
    folders = (yamledit.load(project / "dbt_project.yml") or {}).get("snapshot-paths") \
        or ["snapshots"]
    return any(path.suffix in (".sql", ".yml") for folder in folders
               for path in (project / str(folder)).rglob("*"))


def build_alone(source: Path, profile: str, marts_dir: str, variables: dict[str, Any],
                rules: list[tuple[str, str]], env: dict[str, str] | None = None) -> Built:
    """deps, seed, run, snapshot and test ``source`` alone in a scratch copy; its models
    and their columns, with the P05/P10 casts the built data allows applied
    (cast_applied), and the tests that failed or warned."""
    with tempfile.TemporaryDirectory(prefix="duckmesh-adopt-") as scratch_name:
        scratch = Path(scratch_name)
        project = scratch / "project"
        shutil.copytree(source, project, ignore=shutil.ignore_patterns(*SKIP))
        anchor_local_packages(source, project)
        database = scratch / "scratch.duckdb"
        (scratch / "profiles.yml").write_text(
            f"{profile}:\n  target: scratch\n  outputs:\n    scratch:\n      type: duckdb\n"
            f"      path: '{database}'\n      threads: 1\n")
        run_env = env or {}
        if (project / "packages.yml").is_file() or (project / "dependencies.yml").is_file():
            check_hub([source], run_env)
            run_step(["deps"], project, scratch, variables, run_env, source)
        tests: list[TestResult] = []
        for step in (["seed"], ["run"], ["snapshot"] if has_snapshots(project) else [],
                     ["test"]):
            if step:
                tests += run_step(step, project, scratch, variables, run_env, source)
        manifest = json.loads((scratch / "target" / "manifest.json").read_text())
        return Built(read_models(manifest, database, marts_dir, rules, project), tests)


def yml_entry(project: Path, node: dict[str, Any]) -> dict[str, Any]:
    """The model's entry in the project's yml (dbt's manifest merges docs and tests
    away from how they were written; the entry is kept as written)."""
    patch = node.get("patch_path") or ""
    if "://" not in patch:
        return {}
    data = yamledit.load(project / patch.split("://", 1)[1]) or {}
    for entry in data.get("models") or []:
        if isinstance(entry, dict) and entry.get("name") == node["name"]:
            return dict(entry)
    return {}


TOP_LEVEL = ("", ".", "models")  # --marts-dir for models directly under models/


def in_marts(fqn: list[str], marts_dir: str) -> bool:
    """The model (fqn: project, folders..., name) is in the marts folder."""
    folder = marts_dir.strip().strip("/")
    if folder in TOP_LEVEL:
        return len(fqn) == 2
    return fqn[1:-1][:len(folder.split("/"))] == folder.split("/")


def read_models(manifest: dict[str, Any], database: Path, marts_dir: str,
                rules: list[tuple[str, str]], project: Path) -> list[BuiltMart]:
    marts = []
    project_name = manifest["metadata"].get("project_name")
    read = {parent for node in manifest["nodes"].values() if node["resource_type"] == "model"
            for parent in node["depends_on"]["nodes"]}
    con = connect_db(database)
    try:
        for node in sorted(manifest["nodes"].values(), key=lambda n: n["name"]):
            if node["resource_type"] != "model" or node["package_name"] != project_name:
                continue
            relation = qualified_name(node["schema"], node.get("alias") or node["name"])
            query = f"select * from {relation}"
            columns = describe_query(con, query)
            suggest_types(columns, rules)
            apply_casts(con, query, columns)
            entry = yml_entry(project, node)
            marts.append(BuiltMart(
                node["name"], Path(node["original_file_path"]), columns,
                time_spine=bool(node.get("time_spine")) or "time_spine" in entry
                or node["name"] == "metricflow_time_spine",
                entry=entry, in_marts=in_marts(node["fqn"], marts_dir),
                leaf=node["unique_id"] not in read))
    finally:
        con.close()
    return marts
