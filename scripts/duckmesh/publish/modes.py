"""File modes of what a publish writes: files 0640, folders 0750 (never world-readable),
owned by the group set in the root dbt_project.yml (``vars.duckmesh_publish.group``), so
file-system permissions decide who opens which file (docs/privacy.md).

A mode an operator set on a file or folder of the current snapshot (anything but the
defaults that publish applied, recorded in its publish.json) is kept on the same path of
the next snapshot, so ``chmod 600 published/consumers/x/mesh.duckdb`` survives publishing.
"""

from __future__ import annotations

import grp
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from duckmesh.core import yamlio
from duckmesh.core.project import MeshError

FILE_MODE = 0o640
DIR_MODE = 0o750


@dataclass(frozen=True)
class Modes:
    file: int = FILE_MODE
    folder: int = DIR_MODE
    group: str | None = None

    def record(self) -> dict:
        return {"file": f"{self.file:04o}", "folder": f"{self.folder:04o}", "group": self.group}


def configured(root: Path) -> Modes:
    """vars.duckmesh_publish.group of the root dbt_project.yml (optional)."""
    project = yamlio.loads((root / "dbt_project.yml").read_text()) or {}
    settings = (project.get("vars") or {}).get("duckmesh_publish") or {}
    if not isinstance(settings, dict):
        raise MeshError("vars.duckmesh_publish in dbt_project.yml must be a mapping "
                        "(e.g. {group: data-readers})")
    group = settings.get("group")
    if group is not None:
        group = str(group)
        try:
            grp.getgrnam(group)
        except KeyError:
            raise MeshError(f"group {group!r} (vars.duckmesh_publish.group in dbt_project.yml) "
                            "does not exist on this machine: create it (groupadd) or change "
                            "the setting") from None
    return Modes(group=group)


def _operator_modes(previous_root: Path | None, previous_defaults: dict | None
                    ) -> dict[Path, int]:
    """Relative path -> mode, for the previous snapshot's entries whose mode is not the
    default publish gave them (an operator's chmod)."""
    if previous_root is None or not previous_root.is_dir() or not previous_defaults:
        return {}  # a snapshot written before modes were recorded: defaults apply
    defaults = {True: int(previous_defaults["folder"], 8),
                False: int(previous_defaults["file"], 8)}
    found = {}
    for folder, dirs, files in os.walk(previous_root):
        for name in [*dirs, *files]:
            path = Path(folder) / name
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                continue
            mode = stat.S_IMODE(info.st_mode)
            if mode != defaults[stat.S_ISDIR(info.st_mode)]:
                found[path.relative_to(previous_root)] = mode
    return found


def apply(work: Path, modes: Modes, previous_root: Path | None,
          previous_defaults: dict | None) -> None:
    """Give every file and folder of the snapshot being written (``work``, itself
    included) its mode and group."""
    kept = _operator_modes(previous_root, previous_defaults)
    gid = grp.getgrnam(modes.group).gr_gid if modes.group else -1
    entries = [work]
    for folder, dirs, files in os.walk(work):
        entries += [Path(folder) / name for name in [*dirs, *files]]
    for path in entries:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            continue
        default = modes.folder if stat.S_ISDIR(info.st_mode) else modes.file
        mode = kept.get(path.relative_to(work), default)
        try:
            if gid != -1 and info.st_gid != gid:
                os.chown(path, -1, gid)
            if stat.S_IMODE(info.st_mode) != mode:
                os.chmod(path, mode)
        except PermissionError as error:
            raise MeshError(f"cannot give {path} group {modes.group!r} ({error}): the user "
                            "that publishes must belong to that group") from error


def folder(path: Path, modes: Modes) -> None:
    """A folder of published/ itself (published/, snapshots/): 0750 and the group when
    created (readers need to pass through it)."""
    if not path.is_dir():
        path.mkdir(parents=True)
        os.chmod(path, modes.folder)
        if modes.group:
            os.chown(path, -1, grp.getgrnam(modes.group).gr_gid)


def not_world_readable(path: Path) -> None:
    """The build database holds the domains' private working area (staging views,
    quarantine with raw lines): never readable by everyone."""
    if path.is_file() and stat.S_IMODE(path.stat().st_mode) & 0o007:
        os.chmod(path, stat.S_IMODE(path.stat().st_mode) & ~0o007)
