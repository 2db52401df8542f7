"""Who holds a DuckDB file: a build needs it for writing, and DuckDB allows one writer or
any number of readers, never both. Say so before dbt starts, naming the process."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

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
