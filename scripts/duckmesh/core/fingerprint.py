"""Has this changed? Every fingerprint and stamp of the platform, in one place.

- Digests: ``json_digest`` (a value, e.g. a query and its schema), ``file_sha256`` and
  ``file_fingerprint`` (a file's bytes), ``source_fingerprint`` (a generator's code and
  its parameters), ``tree_fingerprint`` (the names, sizes and times of a folder's files).
- ``LastBuild``: the record a successful build leaves (which database, which source
  data, the data steps' outcome, its scale): another data set means --full-refresh, and
  ``duckmesh build --changed-only`` selects ``state:modified+`` against the manifest kept
  beside it while the database and the source data are those it records.
- ``DepsStamp``: whether `dbt deps` would install what is installed.
- ``ManifestStamp``: whether a saved manifest still describes the files dbt reads, so
  `duckmesh governance check` can judge it without dbt (governance/offline.py).

Each build step that asks "has this changed?" reads one of these once
(build/pipeline.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from duckmesh.core import yamlio
from duckmesh.core.project import Mesh

# -- digests ----------------------------------------------------------------------------


def json_digest(value: Any) -> str:
    """SHA-256 of ``value`` as sorted JSON (anything JSON lacks written as text)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def file_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def file_stat(path: Path | str) -> list[int]:
    """[size, modification time in ns]: what changes whenever a file is written."""
    stat = os.stat(path)
    return [stat.st_size, stat.st_mtime_ns]


def file_fingerprint(path: Path) -> list:
    """[size, mtime_ns, sha256 of the content]: a file whose fingerprint is unchanged
    holds the same bytes."""
    return [*file_stat(path), file_sha256(path)]


def source_fingerprint(source: Path, *values: object) -> str:
    """A program's own code and the values it ran with: what it made is reusable while
    both are unchanged."""
    text = ":".join(str(value) for value in values)
    return hashlib.sha256(source.read_bytes() + text.encode()).hexdigest()[:16]


def _stat_digest(paths: Iterable[str], start: str = "", relative_to: Path | None = None) -> Any:
    """A running SHA-256 over each existing path, its size and its time."""
    digest = hashlib.sha256(start.encode())
    for path in paths:
        try:
            size, mtime = file_stat(path)
        except OSError:
            continue
        name = Path(path).relative_to(relative_to).as_posix() if relative_to else path
        digest.update(f"{name}\0{size}\0{mtime}\n".encode())
    return digest


def tree_fingerprint(folder: Path) -> str:
    """Names, sizes and modification times of every file under ``folder``."""
    paths = sorted(str(p) for p in Path(folder).rglob("*") if p.is_file())
    return _stat_digest(paths, relative_to=Path(folder)).hexdigest()[:16]


# -- the last build ---------------------------------------------------------------------

STATE = "last_build"
RECORD = "build.json"
DEPS = "deps.json"  # what the last `dbt deps` read and installed
STEPS = "steps.json"  # the last build's steps: wall and CPU seconds (read by bench platform)
DEPS_FILES = ("packages.yml", "dependencies.yml", "package-lock.yml")
DEFAULT_SCALE = 0.1


def state_dir(mesh: Mesh) -> Path:
    """Where a build keeps its records: target/last_build/ of its project."""
    return mesh.target_dir / STATE


def _in_root(path: Path, root: Path) -> str:
    """``path`` relative to the mesh root when it lies under it (else absolute): what a
    moved or copied checkout still matches in its own record."""
    path, root = Path(path).resolve(), root.resolve()
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def _read_json(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


@dataclass(frozen=True)
class LastBuild:
    """The record of the last successful build into ``database`` (a DuckDB file, Spark's
    warehouse) as this build, reading ``data_dir``, sees it (``previous``: None when
    there is none)."""

    record: Path
    database: Path
    root: Path
    data_dir: Path
    previous: dict | None

    @classmethod
    def read(cls, record: Path, database: Path, root: Path, data_dir: Path) -> LastBuild:
        return cls(record, database, root, data_dir, _read_json(record))

    def now(self) -> dict[str, str]:
        return {"database": str(self.database), "data_dir": str(Path(self.data_dir).resolve()),
                "database_in_root": _in_root(self.database, self.root),
                "data_dir_in_root": _in_root(self.data_dir, self.root),
                "data": tree_fingerprint(self.data_dir)}

    def same_database(self) -> bool:
        """The record is this database's: the same file, or the same place in a moved or
        copied checkout (the record and the database were copied together)."""
        previous = self.previous or {}
        return previous.get("database") == str(self.database) or (
            previous.get("database_in_root") == _in_root(self.database, self.root))

    @property
    def switched(self) -> bool:
        """True when the database was last built from another data set (another scale,
        seed or DUCKMESH_DATA): incremental models must then be rebuilt, not merged into."""
        if self.previous is None or not self.database.exists():
            return False
        if "database" not in self.previous:  # an older record names the data set alone
            return self.previous.get("data_dir") != str(Path(self.data_dir).resolve())
        if self.previous.get("database") == str(self.database):
            return self.previous.get("data_dir") != str(Path(self.data_dir).resolve())
        # a moved or copied checkout: its database holds the data set its record names
        return (self.same_database()
                and self.previous.get("data_dir_in_root") != _in_root(self.data_dir, self.root))

    def _unchanged(self) -> bool:
        """The same database file and the same source data, file by file."""
        current = self.now()
        return self.previous is not None and self.database.exists() and all(
            self.previous.get(key) == current[key] for key in ("database", "data_dir", "data"))

    def selection(self) -> tuple[list[str], str]:
        """dbt arguments for a changed-only build, and why (empty: build everything)."""
        folder = self.record.parent
        if self.previous is None or not (folder / "manifest.json").is_file():
            return [], "no previous build recorded: building everything"
        if self.previous.get("database") != str(self.database) or not self.database.exists():
            return [], "another database file than the last build: building everything"
        if not self._unchanged():
            return [], "source data changed since the last build: building everything"
        return (["--select", "state:modified+", "--state", str(folder)],
                "only what changed since the last build (state:modified+)")

    def data_step_overrides(self, steps: set[str]) -> dict[str, dict[str, str]] | None:
        """The recorded outcome of the data ``steps`` when the source data, the database
        and every folder they point at are unchanged; None when the steps must run."""
        if not self._unchanged():
            return None
        data_env = (self.previous or {}).get("data_env")
        if not isinstance(data_env, dict) or set(data_env) != steps:
            return None
        for overrides in data_env.values():
            if not all(Path(value).exists() for value in overrides.values()):
                return None
        return data_env

    def save(self, manifest: Path | None = None,
             data_env: dict[str, dict[str, str]] | None = None,
             scale: float | None = None) -> None:
        """Record this successful build as the new baseline, with the outcome of its
        data steps and its scale; ``manifest``: kept beside it for --changed-only."""
        self.record.parent.mkdir(parents=True, exist_ok=True)
        if manifest is not None:
            shutil.copyfile(manifest, self.record.parent / "manifest.json")
        record = {**self.now(), "data_env": data_env or {}, "scale": scale}
        self.record.write_text(json.dumps(record, indent=2) + "\n")


def last_build(mesh: Mesh, data_dir: Path) -> LastBuild:
    """The record of the last successful build of ``mesh``'s database (a domain
    workspace keeps its own)."""
    return LastBuild.read(state_dir(mesh) / RECORD, mesh.db_path, mesh.root, data_dir)


def last_scale(mesh: Mesh) -> float | None:
    """The scale of the last successful build of this database, if one is recorded."""
    last = last_build(mesh, mesh.root)
    scale = (last.previous or {}).get("scale")
    if not last.same_database() or not isinstance(scale, int | float):
        return None
    return float(scale)


def resolve_scale(mesh: Mesh, scale: float | None) -> float:
    """``--scale`` as given, else the last build's scale (so a later command never
    switches the data set by accident), else DEFAULT_SCALE."""
    if scale is not None:
        return scale
    last = last_scale(mesh)
    return DEFAULT_SCALE if last is None else last


def save_step_times(mesh: Mesh, times: dict[str, list[float]]) -> None:
    """The wall and CPU seconds of each step of the build that just ran, failed or not."""
    folder = state_dir(mesh)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / STEPS).write_text(json.dumps(
        {name: {"wall": wall, "cpu": cpu} for name, (wall, cpu) in times.items()}, indent=2)
        + "\n")


# -- dbt deps ---------------------------------------------------------------------------

@dataclass(frozen=True)
class DepsStamp:
    """What `dbt deps` of ``project`` read and installed (``record``): it would install
    the same while the packages files of the project and of its local ``packages`` are
    those of its last run, dbt_packages/ holds what that run installed, and every local
    package is linked from this checkout, not from one it was copied from."""

    record: Path
    project: Path
    packages: tuple[Path, ...]

    def _inputs(self) -> str:
        digest = hashlib.sha256()
        for folder in [self.project, *self.packages]:
            for name in DEPS_FILES:
                path = folder / name
                digest.update(f"{path}\0{path.read_text() if path.is_file() else ''}\0"
                              .encode())
        return digest.hexdigest()

    def _installed(self) -> dict[str, str]:
        folder = self.project / "dbt_packages"
        if not folder.is_dir():
            return {}
        return {p.name: str(p.resolve()) for p in sorted(folder.iterdir())}

    @property
    def current(self) -> bool:
        record = _read_json(self.record)
        if record is None or record.get("inputs") != self._inputs():
            return False
        installed = self._installed()
        if installed != record.get("installed") or not all(
                Path(target).exists() for target in installed.values()):
            return False
        targets = set(installed.values())
        return all(str(folder.resolve()) in targets for folder in self.packages)

    def save(self) -> None:
        """After a successful `dbt deps`: what it read and what it installed."""
        self.record.parent.mkdir(parents=True, exist_ok=True)
        self.record.write_text(json.dumps(
            {"inputs": self._inputs(), "installed": self._installed()}, indent=2) + "\n")


def deps_stamp(mesh: Mesh, project: Path | None = None,
               packages: Iterable[Path] | None = None) -> DepsStamp:
    """The `dbt deps` stamp of ``project`` (default: the mesh root and every local
    package its packages.yml lists), kept in ``mesh``'s state folder."""
    return DepsStamp(state_dir(mesh) / DEPS, project or mesh.root,
                     tuple(mesh.package_dirs() if packages is None else packages))


# -- the files dbt reads: is a saved manifest current? -------------------------------------
#
# dbt's graph comes from the files dbt reads: each project's dbt_project.yml,
# packages.yml and its model, macro, seed, test, snapshot and analysis folders, for the
# root and for every installed package (dbt_packages/), the profile, and the environment
# the yml may read (``env_var``). The fingerprint is the path, size and modification
# time of each such file, the DBT_ and DUCKMESH_ variables and what the platform sets
# for dbt (Mesh.env: the target, the database file): a stat per file, about 0.1 s at
# 10,000 models. A stamp beside the manifest records the fingerprint taken before dbt
# parsed, and the manifest's own size and time, so a manifest written later by another
# dbt command is not mistaken for it.
#
# Two manifests are stamped: the governance check's own (target/governance/) and the one
# each `duckmesh build` leaves in target/. The build gives dbt one more value, the folder
# of its source data (DUCKMESH_DATA, set for dbt only, so not in the fingerprint), which
# only places the sources' files (their external locations): the policies judge the
# project's models, contracts and yml, never where the data lies, so the check may judge
# the build's manifest as it would its own parse (tests/test_build.py compares the two
# reports).

STAMP = "duckmesh_inputs.json"
# the fingerprint also names the runtime that evaluates the macros (offline.py)
INPUTS_VERSION = 1
PROJECT_FILES = ("dbt_project.yml", "packages.yml", "dependencies.yml", "package-lock.yml",
                 "selectors.yml")
PATH_KEYS = {"model-paths": ["models"], "macro-paths": ["macros"], "seed-paths": ["seeds"],
             "test-paths": ["tests"], "snapshot-paths": ["snapshots"],
             "analysis-paths": ["analyses"], "docs-paths": []}
ENV_PREFIXES = ("DBT_", "DUCKMESH_")


def _project_folders(project_dir: Path) -> list[Path]:
    try:
        config = yamlio.loads((project_dir / "dbt_project.yml").read_text()) or {}
    except OSError:
        return []
    folders = []
    for key, default in PATH_KEYS.items():
        for name in config.get(key, default) or []:
            folders.append(project_dir / str(name))
    return folders


def _files(folder: Path) -> list[str]:
    """Every file under ``folder``, through symbolic links (installed local packages are
    links), each real folder once, so a link back up cannot loop."""
    found, seen = [], set()
    for current, dirs, names in os.walk(folder, followlinks=True):
        real = os.path.realpath(current)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        found += [os.path.join(current, name) for name in sorted(names)]
    return found


def dbt_inputs(mesh: Mesh) -> str:
    """A digest of every file dbt reads for the root project's graph, and of the
    environment it may read."""
    projects = [mesh.root]
    packages = mesh.root / "dbt_packages"
    if packages.is_dir():
        projects += sorted(p for p in packages.iterdir() if (p / "dbt_project.yml").is_file())
    paths = [str(mesh.profiles_dir / "profiles.yml")]
    for project in projects:
        paths += [str(project / name) for name in PROJECT_FILES]
        for folder in _project_folders(project):
            paths += _files(folder)
    digest = _stat_digest(paths, start=f"v{INPUTS_VERSION}")
    for name, value in sorted(os.environ.items()):
        if name.startswith(ENV_PREFIXES):
            digest.update(f"{name}={value}\n".encode())
    for name, value in sorted(mesh.env().items()):  # what the platform gives dbt on top
        digest.update(f"mesh {name}={value}\n".encode())
    return str(digest.hexdigest())


@dataclass(frozen=True)
class ManifestStamp:
    """The files dbt is about to read (``taken``: dbt_inputs) and when it started: after
    it ran, ``record`` stamps the manifest it wrote as parsed from them."""

    taken: str
    started_ns: int | None = None

    @classmethod
    def before_parse(cls, mesh: Mesh) -> ManifestStamp:
        return cls(dbt_inputs(mesh), time.time_ns())

    def record(self, manifest: Path) -> None:
        """Stamp ``manifest``; one older than ``started_ns`` is an earlier run's (dbt
        stopped before it parsed) and gets no stamp: an earlier stamp beside it is
        removed."""
        stamp = manifest.parent / STAMP
        if not manifest.is_file():
            return
        if self.started_ns is not None and manifest.stat().st_mtime_ns < self.started_ns:
            stamp.unlink(missing_ok=True)
            return
        stamp.write_text(json.dumps({"fingerprint": self.taken, "manifest": file_stat(manifest)}))


def manifest_is_current(mesh: Mesh, manifest: Path, now: str | None = None) -> bool:
    """Whether ``manifest`` was parsed from the files as they are now (``now``: their
    dbt_inputs, when already taken)."""
    stamp = _read_json(manifest.parent / STAMP)
    try:
        unchanged = stamp is not None and stamp.get("manifest") == file_stat(manifest)
    except OSError:
        return False
    return unchanged and stamp is not None and stamp.get("fingerprint") == (
        now or dbt_inputs(mesh))
