"""Build the project the way it really builds, alone, into a scratch DuckDB file:
`dbt deps` (its own packages), `dbt seed` (its raw data, before anything reads it
through a source), then `dbt build`, with the --vars it needs. What comes back: each
model under the marts folder with the columns and types DuckDB reports, and which P05/P10
casts its data allows."""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


def vars_arg(variables: dict[str, Any]) -> list[str]:
    return ["--vars", json.dumps(variables)] if variables else []


def run_step(step: list[str], project: Path, scratch: Path, variables: dict[str, Any],
             env: dict[str, str], source: Path) -> None:
    extra = [] if step == ["deps"] else [
        "--target-path", str(scratch / "target"), *vars_arg(variables)]
    result = dbt.invoke([
        "--quiet", *step, "--project-dir", str(project), "--profiles-dir", str(scratch),
        "--log-path", str(scratch / "logs"), *extra], env)
    if result.success:
        return
    failed = [f"{r.node.name}: {str(r.message or '').splitlines()[0] if r.message else r.status}"
              for r in getattr(result.result, "results", None) or []
              if str(r.status) in ("error", "fail")]
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


def build_alone(source: Path, profile: str, marts_dir: str, variables: dict[str, Any],
                rules: list[tuple[str, str]], env: dict[str, str] | None = None,
                ) -> list[BuiltMart]:
    """deps, seed and build ``source`` alone in a scratch copy; its marts and their
    columns, with the P05/P10 casts the built data allows applied (cast_applied)."""
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
            run_step(["deps"], project, scratch, variables, run_env, source)
        run_step(["seed"], project, scratch, variables, run_env, source)
        run_step(["build"], project, scratch, variables, run_env, source)
        manifest = json.loads((scratch / "target" / "manifest.json").read_text())
        return read_marts(manifest, database, marts_dir, rules, project)


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


def read_marts(manifest: dict[str, Any], database: Path, marts_dir: str,
               rules: list[tuple[str, str]], project: Path) -> list[BuiltMart]:
    marts = []
    con = connect_db(database)
    try:
        for node in sorted(manifest["nodes"].values(), key=lambda n: n["name"]):
            if node["resource_type"] != "model" or len(node["fqn"]) < 3 \
                    or node["fqn"][1] != marts_dir:
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
                entry=entry))
    finally:
        con.close()
    return marts
