"""`duckmesh query`: read-only SQL on the published products, printed as a table or JSON
lines. It opens ``published/mesh.duckdb`` (what consumers may read), never the build
database, which holds the domains' private working area (docs/privacy.md).

Imports DuckDB and nothing of dbt, so it starts at once."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from duckmesh.cli.state import CliState, pass_state
from duckmesh.core.output import format_table
from duckmesh.core.project import MeshError

if TYPE_CHECKING:
    import duckdb


@click.command(help="Run SQL against the published products (published/mesh.duckdb) opened "
                    "read-only and print the rows.")
@click.argument("sql")
@click.option("--db", type=click.Path(path_type=Path), default=None,
              help="database file (default: published/mesh.duckdb; a consumer reads "
                   "published/consumers/<name>/mesh.duckdb)")
@click.option("--json", "as_json", is_flag=True, help="print JSON lines")
@pass_state
def query(state: CliState, sql: str, db: Path | None, as_json: bool) -> int:
    import duckdb

    path = db or state.mesh().root / "published" / "mesh.duckdb"
    if not Path(path).exists():
        raise MeshError(f"{path} does not exist: run `duckmesh build` (it publishes when it "
                        "ends) or `duckmesh publish`")
    outside = _outside_snapshots(state.mesh().root / "published", Path(path))
    if outside:
        raise MeshError(outside)
    try:
        con, ports = _sandbox(Path(path))
    except duckdb.Error as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        if "lock" in first.lower():
            raise MeshError(f"cannot open {path} read-only ({first}); is a build writing "
                            "it?") from error
        raise MeshError(f"{path} cannot be read ({first}): the file is damaged; `duckmesh "
                        "publish --verify` names the damage and `duckmesh build` (or "
                        "`duckmesh publish`) writes it again") from error
    try:
        cursor = con.execute(sql)
        headers = [d[0] for d in cursor.description or []]
        rows = cursor.fetchall()
    except duckdb.PermissionException as error:
        raise MeshError(f"query refused: {str(error).splitlines()[0]}. `duckmesh query` reads "
                        f"the tables of {path} only"
                        + (f" and the {len(ports)} Parquet port(s) its views read" if ports
                           else "")
                        + "; it reads no other file and writes nothing") from error
    except duckdb.Error as error:
        raise MeshError(f"query failed: {error}") from error
    finally:
        con.close()
    if as_json:
        for row in rows:
            print(json.dumps(dict(zip(headers, row)), default=str))
    else:
        print(format_table(headers, [["" if v is None else str(v) for v in row] for row in rows]))
        print(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return 0


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


def _sandbox(path: Path) -> tuple[duckdb.DuckDBPyConnection, list[str]]:
    """``path`` read-only, and nothing but this file and the Parquet ports its views read
    (a consumer file's ``_duckmesh.ports``): no other file read or written (read_csv,
    COPY, EXPORT, ATTACH), no extension installed, and the settings locked."""
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        ports = [p for (p,) in con.execute(
            "select path from _duckmesh.ports order by path").fetchall()] \
            if con.execute("select count(*) from duckdb_tables() where database_name = "
                           "current_database() and schema_name = '_duckmesh' "
                           "and table_name = 'ports'").fetchall()[0][0] else []
        if ports:
            listed = ", ".join("'" + p.replace("'", "''") + "'" for p in ports)
            con.execute(f"set allowed_paths = [{listed}]")
        con.execute("set enable_external_access = false")
        con.execute("set lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con, ports
