"""Who holds a DuckDB file: a build needs it for writing, and DuckDB allows one writer or
any number of readers, never both. Say so before dbt starts, naming the process. And
the lock file that makes publishers wait for each other (``waiting_lock``)."""

from __future__ import annotations

import fcntl
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from duckmesh.core import output
from duckmesh.core.project import MeshError


def lock_holder(message: str) -> str:
    """'PID 123 (command line)' from DuckDB's lock error, else 'another process'."""
    pid = re.search(r"PID (\d+)", message)
    if not pid:
        return "another process"
    cmdline = Path(f"/proc/{pid.group(1)}/cmdline")
    command = ""
    if cmdline.is_file():
        command = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    return f"PID {pid.group(1)}" + (f" ({command[:120]})" if command else "")


def writer_blocked_by(path: Path) -> str | None:
    """The process whose open connection (a reader included) keeps ``path`` from being
    opened for writing, or None when it can be."""
    if not path.exists():
        return None
    try:
        duckdb.connect(str(path)).close()
    except duckdb.IOException as error:
        if "lock" in str(error).lower():
            return lock_holder(str(error))
        raise
    return None


def require_writable(path: Path) -> None:
    """Stop a build before it starts when another process has ``path`` open."""
    holder = writer_blocked_by(path)
    if holder:
        kill = f" (kill {holder.split()[1]})" if holder.startswith("PID") else ""
        raise MeshError(f"{path} is open in {holder}, so the build cannot write it: close that "
                        f"connection{kill} and build again. Readers belong on the published "
                        "copy, published/mesh.duckdb (`duckmesh query --db "
                        "published/mesh.duckdb`), which a build never locks")


@contextmanager
def waiting_lock(path: Path, what: str, log: Callable[[str], None] = output.step) -> Iterator[None]:
    """Hold the exclusive lock file ``path`` for the block (``what``: the work it
    serialises, for the message). A holder is waited for, with one line naming it
    (the PID and command line it wrote into the file), never failed on. The lock is an
    flock: the kernel releases it when the holder exits, SIGKILL included, so a lock
    file left behind never blocks anyone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # readable by its owner and group only, like the rest of published/
    with os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT, 0o640), "r+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            log(f"      waiting for {what} of {holder} to finish ({path.name} is locked)")
            started = time.monotonic()
            fcntl.flock(handle, fcntl.LOCK_EX)
            log(f"      waited {time.monotonic() - started:.1f}s for {what} of {holder}")
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(lock_holder(f"PID {os.getpid()}") + "\n")
            handle.flush()
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            handle.flush()
            fcntl.flock(handle, fcntl.LOCK_UN)
