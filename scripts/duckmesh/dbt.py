"""Run dbt in-process (dbtRunner) against the mesh, with its own profiles."""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from dbt.cli.main import dbtRunner, dbtRunnerResult

from .project import Mesh, MeshError


@contextmanager
def environ(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def run_dbt(mesh: Mesh, args: list[str], env: dict[str, str] | None = None,
            quiet: bool = False) -> dbtRunnerResult:
    """``dbt <args>`` for the mesh; never reads ~/.dbt."""
    command = [*args, "--project-dir", str(mesh.root), "--profiles-dir", str(mesh.profiles_dir)]
    if quiet:
        command = ["--quiet", *command]
    with environ({**mesh.env(), **(env or {})}):
        return dbtRunner().invoke(command)


def require_success(result: dbtRunnerResult, step: str) -> None:
    if not result.success:
        detail = f": {result.exception}" if result.exception else ""
        raise MeshError(f"dbt {step} failed{detail} (see the dbt output above and logs/dbt.log)")


def load_manifest(mesh: Mesh) -> dict:
    path = mesh.manifest_path
    if not path.exists():
        raise MeshError(f"{path} not found: run `duckmesh build` (or dbt parse) first")
    return json.loads(path.read_text())


def load_run_results(mesh: Mesh) -> dict | None:
    path = mesh.target_dir / "run_results.json"
    return json.loads(path.read_text()) if path.exists() else None


def relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
