"""State of the last successful build, for `duckmesh build --changed-only`.

After a successful full build the manifest is kept in target/last_build/ with a record
of the database file and a fingerprint of the source data. A later `--changed-only`
build selects `state:modified+` against it (dbt's state comparison: changed SQL, yml,
config, macros and everything downstream). Without a usable state (first build,
another database file, the file gone, new or changed source files) it builds
everything, so a changed-only build is never staler than the data it reads.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from duckmesh.core.artifacts import Artifacts
from duckmesh.core.context import BuildContext
from duckmesh.core.project import Mesh

STATE = "last_build"
RECORD = "build.json"
DEPS = "deps.json"  # what the last `dbt deps` read and installed
STEPS = "steps.json"  # the last build's steps: wall and CPU seconds (read by bench platform)
DEPS_FILES = ("packages.yml", "dependencies.yml", "package-lock.yml")
# BEFORE_BUILD steps whose outcome depends only on the source files (build.pipeline's
# Step.data_step): on a changed-only build over unchanged data they are skipped and
# their recorded outcome reused.
DATA_STEPS = {"source_checks"}


def state_dir(mesh: Mesh) -> Path:
    return mesh.target_dir / STATE


def data_fingerprint(data_dir: Path) -> str:
    """Names, sizes and modification times of every source file."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(data_dir).rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"{path.relative_to(data_dir)}:{stat.st_size}:{stat.st_mtime_ns}\n"
                      .encode())
    return digest.hexdigest()[:16]


def _in_root(path: Path, mesh: Mesh) -> str:
    """``path`` relative to the mesh root when it lies under it (else absolute): what a
    moved or copied checkout still matches in its own record."""
    path, root = Path(path).resolve(), mesh.root.resolve()
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def _record(mesh: Mesh, data_dir: Path) -> dict[str, str]:
    return {"database": str(mesh.db_path), "data_dir": str(Path(data_dir).resolve()),
            "database_in_root": _in_root(mesh.db_path, mesh),
            "data_dir_in_root": _in_root(data_dir, mesh),
            "data": data_fingerprint(data_dir)}


def _same_database(previous: dict, mesh: Mesh) -> bool:
    """The record is this database's: the same file, or the same place in a moved or
    copied checkout (the record and the database were copied together)."""
    return previous.get("database") == str(mesh.db_path) or (
        previous.get("database_in_root") == _in_root(mesh.db_path, mesh))


def _deps_inputs(mesh: Mesh) -> str:
    """What `dbt deps` of the mesh reads: packages.yml, dependencies.yml and
    package-lock.yml of the root and of every local package it installs."""
    digest = hashlib.sha256()
    for folder in [mesh.root, *mesh.package_dirs()]:
        for name in DEPS_FILES:
            path = folder / name
            digest.update(f"{path}\0{path.read_text() if path.is_file() else ''}\0".encode())
    return digest.hexdigest()


def _installed(mesh: Mesh) -> dict[str, str]:
    """dbt_packages/: each installed package and where it resolves to."""
    folder = mesh.root / "dbt_packages"
    if not folder.is_dir():
        return {}
    return {p.name: str(p.resolve()) for p in sorted(folder.iterdir())}


def record_deps(mesh: Mesh) -> None:
    """After a successful `dbt deps`: what it read and what it installed."""
    folder = state_dir(mesh)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / DEPS).write_text(json.dumps(
        {"inputs": _deps_inputs(mesh), "installed": _installed(mesh)}, indent=2) + "\n")


def deps_current(mesh: Mesh) -> bool:
    """True when `dbt deps` would install what is installed: the package files it reads
    are those of its last run, dbt_packages/ holds what that run installed, and every
    local package (each domain, the platform) is linked from this checkout, not from one
    it was copied from."""
    try:
        record = json.loads((state_dir(mesh) / DEPS).read_text())
        if record.get("inputs") != _deps_inputs(mesh):
            return False
    except (OSError, ValueError, AttributeError):
        return False
    installed = _installed(mesh)
    if installed != record.get("installed") or not all(
            Path(target).exists() for target in installed.values()):
        return False
    targets = set(installed.values())
    return all(str(folder.resolve()) in targets for folder in mesh.package_dirs())


def switched_data_set(mesh: Mesh, data_dir: Path) -> bool:
    """True when the database was last built from another data set (another scale, seed
    or DUCKMESH_DATA): incremental models must then be rebuilt, not merged into."""
    record_path = state_dir(mesh) / RECORD
    if not record_path.is_file() or not mesh.db_path.exists():
        return False
    previous = json.loads(record_path.read_text())
    if previous.get("database") == str(mesh.db_path):
        return previous.get("data_dir") != str(Path(data_dir).resolve())
    # a moved or copied checkout: its database holds the data set its record names
    return (_same_database(previous, mesh)
            and previous.get("data_dir_in_root") != _in_root(data_dir, mesh))


def selection(mesh: Mesh, data_dir: Path) -> tuple[list[str], str]:
    """dbt arguments for a changed-only build, and why (empty: build everything)."""
    folder = state_dir(mesh)
    record_path, manifest = folder / RECORD, folder / "manifest.json"
    if not (record_path.is_file() and manifest.is_file()):
        return [], "no previous build recorded: building everything"
    previous = json.loads(record_path.read_text())
    current = _record(mesh, data_dir)
    if previous.get("database") != current["database"] or not mesh.db_path.exists():
        return [], "another database file than the last build: building everything"
    if previous.get("data_dir") != current["data_dir"] or previous.get("data") != current["data"]:
        return [], "source data changed since the last build: building everything"
    return (["--select", "state:modified+", "--state", str(folder)],
            "only what changed since the last build (state:modified+)")


def save(mesh: Mesh, data_dir: Path, data_env: dict[str, dict[str, str]] | None = None,
         scale: float | None = None) -> None:
    """Record a successful build of the whole mesh as the new baseline, with the
    environment overrides the data steps returned and its scale."""
    folder = state_dir(mesh)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(mesh.manifest_path, folder / "manifest.json")
    record = {**_record(mesh, data_dir), "data_env": data_env or {}, "scale": scale}
    (folder / RECORD).write_text(json.dumps(record, indent=2) + "\n")


def save_step_times(mesh: Mesh, times: dict[str, list[float]]) -> None:
    """The wall and CPU seconds of each step of the build that just ran, failed or not."""
    folder = state_dir(mesh)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / STEPS).write_text(json.dumps(
        {name: {"wall": wall, "cpu": cpu} for name, (wall, cpu) in times.items()}, indent=2)
        + "\n")


def last_scale(mesh: Mesh) -> float | None:
    """The scale of the last successful build of this database, if one is recorded."""
    record_path = state_dir(mesh) / RECORD
    if not record_path.is_file():
        return None
    previous = json.loads(record_path.read_text())
    scale = previous.get("scale")
    if not _same_database(previous, mesh) or not isinstance(scale, int | float):
        return None
    return float(scale)


def data_step_overrides(mesh: Mesh, data_dir: Path) -> dict[str, dict[str, str]] | None:
    """The data steps' overrides of the last build when the source data, the database
    and every folder they point at are unchanged; None when the steps must run."""
    record_path = state_dir(mesh) / RECORD
    if not record_path.is_file() or not mesh.db_path.exists():
        return None
    previous = json.loads(record_path.read_text())
    current = _record(mesh, data_dir)
    if any(previous.get(key) != current[key] for key in ("database", "data_dir", "data")):
        return None
    data_env = previous.get("data_env")
    if not isinstance(data_env, dict) or set(data_env) != DATA_STEPS:
        return None
    for overrides in data_env.values():
        if not all(Path(value).exists() for value in overrides.values()):
            return None
    return data_env


def nothing_ran(artifacts: Artifacts) -> bool:
    """True when the last dbt invocation selected no node at all."""
    if artifacts.run_results is None:
        return False
    results = artifacts.run_results.get("results") or []
    return not [r for r in results if not r["unique_id"].startswith("operation.")]


def data_records(ctx: BuildContext) -> dict[str, dict[str, str]]:
    """What the data steps decided, to reuse on a changed-only build (see restore)."""
    return {"source_checks": ({"DUCKMESH_DATA": str(ctx.validated_data)}
                              if ctx.validated_data else {})}


def restore(ctx: BuildContext, record: dict[str, str]) -> None:
    """Apply a data step's recorded outcome to ``ctx``."""
    if record.get("DUCKMESH_DATA"):
        ctx.validated_data = Path(record["DUCKMESH_DATA"])


DEFAULT_SCALE = 0.1


def resolve_scale(mesh: Mesh, scale: float | None) -> float:
    """``--scale`` as given, else the last build's scale (so a later command never
    switches the data set by accident), else DEFAULT_SCALE."""
    if scale is not None:
        return scale
    last = last_scale(mesh)
    return DEFAULT_SCALE if last is None else last
