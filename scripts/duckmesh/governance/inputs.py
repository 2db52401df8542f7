"""Whether a saved dbt manifest still describes the project's files.

dbt's graph comes from the files dbt reads: each project's dbt_project.yml,
packages.yml and its model, macro, seed, test, snapshot and analysis folders, for
the root and for every installed package (dbt_packages/), the profile, and the
environment the yml may read (``env_var``). The fingerprint is the path, size and
modification time of each such file, the DBT_ and DUCKMESH_ variables and what the
platform sets for dbt (Mesh.env: the target, the database file): a stat
per file, about 0.1 s at 10,000 models. A stamp beside the manifest records the
fingerprint taken before dbt parsed, and the manifest's own size and time, so a
manifest written later by another dbt command is not mistaken for it.

Two manifests are stamped: the governance check's own (target/governance/) and the one
each `duckmesh build` leaves in target/. The build gives dbt one more value, the folder
of its source data (DUCKMESH_DATA, set for dbt only, so not in the fingerprint), which
only places the sources' files (their external locations): the policies judge the
project's models, contracts and yml, never where the data lies, so the check may judge
the build's manifest as it would its own parse (tests/test_build.py compares the two
reports).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from duckmesh.core import yamlio
from duckmesh.core.project import Mesh

STAMP = "duckmesh_inputs.json"
# the fingerprint also names the runtime that evaluates the macros (offline.py)
VERSION = 1
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


def fingerprint(mesh: Mesh) -> str:
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
    digest = hashlib.sha256(f"v{VERSION}".encode())
    for path in paths:
        try:
            stat = os.stat(path)
        except OSError:
            continue
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    for name, value in sorted(os.environ.items()):
        if name.startswith(ENV_PREFIXES):
            digest.update(f"{name}={value}\n".encode())
    for name, value in sorted(mesh.env().items()):  # what the platform gives dbt on top
        digest.update(f"mesh {name}={value}\n".encode())
    return digest.hexdigest()


def _manifest_stat(manifest: Path) -> list[int]:
    stat = manifest.stat()
    return [stat.st_size, stat.st_mtime_ns]


def record(manifest: Path, taken: str, since_ns: int | None = None) -> None:
    """Stamp ``manifest`` as parsed from the files whose fingerprint was ``taken``
    before dbt ran. ``since_ns``: when dbt started; a manifest older than that is an
    earlier run's (dbt stopped before it parsed) and gets no stamp: an earlier stamp
    beside it is removed."""
    stamp = manifest.parent / STAMP
    if not manifest.is_file():
        return
    if since_ns is not None and manifest.stat().st_mtime_ns < since_ns:
        stamp.unlink(missing_ok=True)
        return
    stamp.write_text(json.dumps({"fingerprint": taken, "manifest": _manifest_stat(manifest)}))


def is_current(mesh: Mesh, manifest: Path, now: str | None = None) -> bool:
    """Whether ``manifest`` was parsed from the files as they are now."""
    try:
        stamp = json.loads((manifest.parent / STAMP).read_text())
        unchanged = stamp.get("manifest") == _manifest_stat(manifest)
    except (OSError, ValueError, AttributeError):
        return False
    return unchanged and stamp.get("fingerprint") == (now or fingerprint(mesh))
