"""Files that hold personal data or the PII salt: never world-readable.

Source data (``data/``), the validated copy dbt reads (``target/validated/``), the source
checks' cache (``target/validation_cache/``, which keeps quarantined raw lines) and the
salt (``.duckmesh/``) live in folders ``0750`` (the salt's ``0700``) with files ``0640``
(the salt ``0600``): the owner and, at most, the platform team's group. A folder is made
private before anything is written into it, so a file inside is out of other users'
reach from the start even when the tool that writes it (DuckDB's COPY) uses the umask;
``private_tree`` then tightens the files themselves. An existing folder or file with
looser modes is tightened, and the caller is told (one line). docs/privacy.md.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from duckmesh.core import output

FOLDER = 0o750
FILE = 0o640
# bits a private folder / file never has: group write, anything for others (a file: no
# execute for the group either)
_FOLDER_LOOSE = 0o027
_FILE_LOOSE = 0o137


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat(follow_symlinks=False).st_mode)


def _tighten(path: Path, loose: int, most: int) -> tuple[int, int] | None:
    """Remove ``loose`` bits (and anything beyond ``most``) from ``path``; (before, after)
    when it changed. Symbolic links are left alone (what they point at is checked where
    it lives)."""
    if path.is_symlink():
        return None
    before = mode(path)
    after = before & ~loose & most
    if after == before:
        return None
    os.chmod(path, after)
    return before, after


def private_dir(path: Path, folder_mode: int = FOLDER,
                log: Callable[[str], None] | None = output.step, why: str = "personal data") -> Path:
    """``path`` as a folder of mode ``folder_mode`` at most: created so (with its missing
    parents), or tightened, saying so through ``log``, when it exists with looser modes."""
    if not path.exists():
        path.mkdir(mode=folder_mode, parents=True, exist_ok=True)
        os.chmod(path, folder_mode)  # mkdir's mode is filtered by the umask
        return path
    changed = _tighten(path, ~folder_mode & 0o777, folder_mode)
    if changed and log:
        log(f"      tightened {path} from {changed[0]:04o} to {changed[1]:04o}: it holds "
            f"{why} (docs/privacy.md)")
    return path


def private_tree(root: Path, log: Callable[[str], None] | None = output.step,
                 why: str = "personal data") -> int:
    """Every folder under ``root`` (itself included) at most 0750 and every file at most
    0640; one line through ``log`` when anything was looser. Returns how many changed."""
    if not root.is_dir() or root.is_symlink():
        return 0
    changed = 0
    first: tuple[Path, int, int] | None = None
    for folder, folders, files in os.walk(root):
        here = Path(folder)
        for path, loose, most in [(here, _FOLDER_LOOSE, FOLDER),
                                  *((here / f, _FILE_LOOSE, FILE) for f in files)]:
            done = _tighten(path, loose, most)
            if done:
                changed += 1
                first = first or (path, *done)
        folders[:] = [f for f in folders if not (here / f).is_symlink()]
    if first and log:
        path, before, after = first
        more = f" and {changed - 1} more" if changed > 1 else ""
        log(f"      tightened {path} ({before:04o} -> {after:04o}){more} under {root}: "
            f"it holds {why}; files 0640, folders 0750 (docs/privacy.md)")
    return changed


def write_private(path: Path, data: str | bytes, file_mode: int = FILE) -> None:
    """Write ``data`` to ``path`` atomically (a temporary sibling, then a rename), the file
    created with ``file_mode``, never briefly readable by others."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, file_mode)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data.encode() if isinstance(data, str) else data)
    os.chmod(temporary, file_mode)  # os.open's mode is filtered by the umask
    os.replace(temporary, path)
