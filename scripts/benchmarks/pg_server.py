"""A throwaway PostgreSQL server on 127.0.0.1 for the legacy-source tests and benchmark.

``postgres_server()`` runs Debian's PostgreSQL binaries (``apt-get install -y
postgresql``; README "Set-up") in a temporary folder: initdb, then pg_ctl with
``listen_addresses=127.0.0.1`` on a free port; it yields a DSN and stops the server
after. As root (CI, this project's machines) the server runs as the ``postgres`` user,
since PostgreSQL refuses to run as root. ``missing()`` says why it cannot start here.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

INSTALL = "apt-get install -y postgresql"


def bindir() -> Path | None:
    """The folder of initdb and pg_ctl, newest version first; None when not installed."""
    for name in ("initdb", "pg_ctl"):
        found = shutil.which(name)
        if found:
            return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                      key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                      else 0, reverse=True)
    return versions[0].parent if versions else None


def missing() -> str | None:
    """Why no server can be started here (a one-line reason naming the install), or None."""
    if bindir() is None:
        return f"PostgreSQL is not installed (initdb not found): {INSTALL}"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser: PostgreSQL cannot run as root"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_server_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextlib.contextmanager
def postgres_server(password: str = "legacy") -> Iterator[str]:
    """A running server with a database ``erp`` owned by user ``erp``: yields its DSN
    (``postgresql://erp:PASSWORD@127.0.0.1:PORT/erp``)."""
    reason = missing()
    if reason:
        raise RuntimeError(reason)
    bins = bindir()
    assert bins is not None
    root = Path(tempfile.mkdtemp(prefix="duckmesh-pg-"))
    data = root / "data"
    pwfile = root / "pw"
    pwfile.write_text(password + "\n")
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(pwfile, "postgres")
    port = _free_port()
    try:
        subprocess.run(_as_server_user([
            str(bins / "initdb"), "-D", str(data), "-U", "erp", "--pwfile", str(pwfile),
            "-A", "scram-sha-256", "--no-sync", "-E", "UTF8", "--locale", "C"]),
            check=True, capture_output=True, text=True)
        subprocess.run(_as_server_user([
            str(bins / "pg_ctl"), "-D", str(data), "-w", "-t", "30", "-l", str(root / "log"),
            "-o", f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off",
            "start"]), check=True, capture_output=True, text=True)
        subprocess.run(_as_server_user([
            str(bins / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "erp", "erp"]),
            env={**os.environ, "PGPASSWORD": password}, check=True, capture_output=True,
            text=True)
        yield f"postgresql://erp:{password}@127.0.0.1:{port}/erp"
    except subprocess.CalledProcessError as error:
        raise RuntimeError(f"PostgreSQL did not start: {error.stderr.strip()[-400:]}") from error
    finally:
        subprocess.run(_as_server_user([str(bins / "pg_ctl"), "-D", str(data), "-m",
                                        "immediate", "-w", "stop"]),
                       capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)
