"""`duckmesh query`: read-only SQL on the published products, printed as a table or JSON
lines. It opens ``published/mesh.duckdb`` (what consumers may read), never the build
database, which holds the domains' private working area (docs/privacy.md): ``--db`` on
it (or on a copy of it) is refused, saying so.

The sandbox: the file read-only, external access off and the settings locked. A consumer
file's views read Parquet ports; the files the query may read are those of the ports
the file lists that are Parquet ports of this mesh's published snapshots: the project
decides, never the file opened (a crafted file listing /etc/passwd is refused). Every
failure is one line naming the thing and the fix.

Imports DuckDB and nothing of dbt, so it starts at once."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from duckmesh.cli import params
from duckmesh.cli.state import CliState, pass_state
from duckmesh.core.names import InvalidInput
from duckmesh.core.output import console, format_table
from duckmesh.core.project import Mesh, MeshError, relative

if TYPE_CHECKING:
    import duckdb


@click.command(help="Run SQL against the published products (published/mesh.duckdb) opened "
                    "read-only and print the rows.")
@click.argument("sql")
@click.option("--db", type=click.Path(path_type=Path), default=None,
              help="database file (default: published/mesh.duckdb; a consumer reads "
                   "published/consumers/<name>/mesh.duckdb)")
@params.as_json
@pass_state
def query(state: CliState, sql: str, db: Path | None, as_json: bool) -> int:
    import duckdb

    voice = console()
    if not sql.strip().strip(";").strip():
        raise InvalidInput("no SQL given: pass one query, e.g. `duckmesh query \"select "
                           "count(*) as n from sales.orders\"`")
    mesh = state.mesh()
    path = Path(db or mesh.root / "published" / "mesh.duckdb")
    if not path.exists():
        raise MeshError(f"{path} does not exist: run `duckmesh build` (it publishes when it "
                        "ends) or `duckmesh publish`")
    if not path.is_file():
        raise InvalidInput(f"--db {path} is not a file: give a DuckDB file, "
                           "published/mesh.duckdb or published/consumers/<name>/mesh.duckdb")
    if path.resolve() == mesh.db_path.resolve():
        raise InvalidInput(_private(mesh, path))
    outside = _outside_snapshots(mesh.root / "published", path)
    if outside:
        raise MeshError(outside)
    try:
        con, ports = _sandbox(path, mesh)
    except duckdb.IOException as error:
        first = str(error).splitlines()[0]
        if "lock" in first.lower():
            raise MeshError(f"cannot open {path} read-only ({first}): a build is writing it; "
                            "wait for it to end") from error
        raise MeshError(_unreadable(path, first)) from error
    except duckdb.Error as error:
        raise MeshError(_unreadable(path, str(error).splitlines()[0])) from error
    try:
        cursor = con.execute(sql)
        if cursor is None or cursor.description is None:
            raise InvalidInput("the SQL holds no query that returns rows (only comments or a "
                               "statement without a result): pass a SELECT")
        headers = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    except duckdb.PermissionException as error:
        raise MeshError(f"query refused: {str(error).splitlines()[0]}. `duckmesh query` reads "
                        f"the tables of {path} only"
                        + (f" and the {len(ports)} Parquet port(s) its views read" if ports
                           else "")
                        + "; it reads no other file and writes nothing") from error
    except duckdb.Error as error:
        raise MeshError(f"query failed: {str(error).splitlines()[0]}") from error
    finally:
        con.close()
    if as_json:
        voice.json([dict(zip(headers, row)) for row in rows], lines=True)
    else:
        voice.out(format_table(headers, [["" if v is None else str(v) for v in row]
                                         for row in rows]))
        voice.out(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return 0


def _private(mesh: Mesh, path: Path) -> str:
    return (f"--db {path} is the build database, the domains' private working area "
            "(staging views with names, e-mails and phone numbers; quarantined raw source "
            "lines), which `duckmesh query` never opens. Fix: query what consumers read: "
            f"{relative(mesh.root / 'published' / 'mesh.duckdb', mesh.root)} (the default) or "
            "published/consumers/<name>/mesh.duckdb (docs/privacy.md)")


def _unreadable(path: Path, error: str) -> str:
    return (f"cannot open {path}: it is not a readable DuckDB database ({error}). Fix: give "
            "--db a file `duckmesh publish` wrote (published/mesh.duckdb or "
            "published/consumers/<name>/mesh.duckdb), or publish again to rewrite it")


def project_ports(mesh: Mesh, listed: list[str]) -> tuple[list[str], list[str]]:
    """(the ``listed`` port paths the query may read, those it may not). Allowed are the
    Parquet files of this mesh's published snapshots (``published/snapshots/<id>/ports/``,
    links resolved) and nothing else, whatever the opened file lists."""
    snapshots = (mesh.root / "published" / "snapshots").resolve()
    allowed: list[str] = []
    foreign: list[str] = []
    for listed_path in listed:
        real = Path(listed_path).resolve()
        inside = real.is_relative_to(snapshots) and len(real.relative_to(snapshots).parts) > 2 \
            and real.relative_to(snapshots).parts[1] == "ports"
        ok = inside and real.suffix == ".parquet" and real.is_file()
        (allowed if ok else foreign).append(listed_path)
    return allowed, foreign


def _outside_snapshots(pub: Path, path: Path) -> str | None:
    """A file of published/ read through ``current`` when that link points outside
    published/snapshots/: it is not a published snapshot, so it is not served."""
    current = pub / "current"
    if not path.absolute().is_relative_to(pub.absolute()) or not current.is_symlink():
        return None
    target = os.readlink(current)
    parts = Path(target).parts
    if len(parts) == 2 and parts[0] == "snapshots" and not parts[1].startswith("."):
        return None
    return (f"published/current points at {target}, outside published/snapshots/: not "
            "served; `duckmesh publish --verify` names the snapshot to roll back to "
            "(`duckmesh publish --rollback`), and the next `duckmesh build` re-points it")


def _sandbox(path: Path, mesh: Mesh) -> tuple[duckdb.DuckDBPyConnection, list[str]]:
    """``path`` read-only, and nothing but this file and the Parquet ports its views read
    (a consumer file's ``_duckmesh.ports``, each one a port of this mesh's snapshots): no
    other file read or written (read_csv, COPY, EXPORT, ATTACH), no extension installed,
    and the settings locked."""
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        schemas = {s for (s,) in con.execute(
            "select schema_name from duckdb_schemas() where database_name = "
            "current_database()").fetchall()}
        if "quarantine" in schemas:  # a copy of the build database
            raise InvalidInput(_private(mesh, path))
        listed = [str(p) for (p,) in con.execute(
            "select path from _duckmesh.ports order by path").fetchall()] \
            if con.execute("select count(*) from duckdb_tables() where database_name = "
                           "current_database() and schema_name = '_duckmesh' "
                           "and table_name = 'ports'").fetchall()[0][0] else []
        ports, foreign = project_ports(mesh, listed)
        if foreign:
            raise MeshError(
                f"{path} lists {len(foreign)} port file(s) that are not Parquet ports of this "
                f"mesh's published snapshots ({foreign[0]}{', ...' if len(foreign) > 1 else ''}"
                f"): `duckmesh query` reads only ports under "
                f"{relative(mesh.root / 'published' / 'snapshots', mesh.root)}/<id>/ports/. "
                "Fix: query a file `duckmesh publish` wrote for this mesh")
        if ports:
            quoted = ", ".join("'" + p.replace("'", "''") + "'" for p in ports)
            con.execute(f"set allowed_paths = [{quoted}]")
        con.execute("set enable_external_access = false")
        con.execute("set lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con, ports
