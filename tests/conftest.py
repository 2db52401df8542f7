"""Shared fixtures: a copy of the mesh in a temporary folder, built once per session.

Tests never write into the checked-in tree: the project is copied (without .venv,
data, target, dbt_packages and database files) and dbt runs in that copy through
the `duckmesh` CLI in a subprocess, so every build gets a fresh dbt process.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TEST_SCALE = 0.01  # 1,000 customers, 10,000 orders: a few seconds to build
SKIP = {".venv", ".git", "data", "target", "dbt_packages", "logs", "published",
        ".pytest_cache", "__pycache__", "test-artifacts"}


def copy_mesh(dest: Path) -> Path:
    """Copy the checked-in mesh (sources only) to ``dest``."""

    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = {n for n in names if n in SKIP or n.endswith((".duckdb", ".duckdb.wal"))}
        if Path(folder).resolve() == REPO:
            skipped |= {n for n in names if n.endswith(".egg-info")}
        return skipped

    shutil.copytree(REPO, dest, ignore=ignore, symlinks=False)
    return dest


def clone_built(src: Path, dest: Path, ignore=None) -> Path:
    """Copy a built mesh (keeping symlinks such as published/current) and re-point
    dbt_packages' absolute links, made by `dbt deps`, at the copy's own domains, so a
    test that edits the copy never reads or changes the original."""
    shutil.copytree(src, dest, symlinks=True, ignore=ignore)
    packages = dest / "dbt_packages"
    if packages.is_dir():
        for link in packages.iterdir():
            if not link.is_symlink():
                continue
            target = Path(os.readlink(link))
            if target.is_absolute() and target.is_relative_to(src):
                link.unlink()
                link.symlink_to(dest / target.relative_to(src))
    return dest


def duckmesh(root: Path, *args: str, env: dict[str, str] | None = None,
             check: bool = True, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run the `duckmesh` CLI in ``root`` in a fresh process."""
    full_env = {**os.environ, "DUCKMESH_DB": str(root / "mesh.duckdb"), **(env or {})}
    full_env.pop("DUCKMESH_DATA", None) if "DUCKMESH_DATA" not in (env or {}) else None
    result = subprocess.run(
        [sys.executable, "-m", "duckmesh.cli", "--project-dir", str(root), *args],
        cwd=root, env=full_env, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(
            f"duckmesh {' '.join(args)} failed ({result.returncode}):\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


@dataclass(frozen=True)
class BuiltMesh:
    root: Path
    db_path: Path
    data_dir: Path
    build_output: str


@pytest.fixture(scope="session")
def built_mesh(tmp_path_factory: pytest.TempPathFactory) -> BuiltMesh:
    """The whole mesh built at TEST_SCALE in a temporary copy (once per session)."""
    root = copy_mesh(tmp_path_factory.mktemp("mesh") / "duckmesh")
    result = duckmesh(root, "build", "--scale", str(TEST_SCALE))
    return BuiltMesh(root=root, db_path=root / "mesh.duckdb",
                     data_dir=root / "data" / f"scale_{TEST_SCALE:g}",
                     build_output=result.stdout)


@pytest.fixture()
def mesh_copy(tmp_path: Path) -> Path:
    """A fresh, unbuilt copy of the mesh for tests that change it."""
    return copy_mesh(tmp_path / "duckmesh")
