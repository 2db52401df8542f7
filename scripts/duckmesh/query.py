"""`duckmesh query SQL`: run read-only SQL on the mesh database and print the result.

The DuckDB CLI on PyPI (duckdb-cli) lags the Python package's storage version and
cannot open the file; this command uses the pinned duckdb library instead.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import duckdb

from .products import format_table
from .project import MeshError, find_mesh


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "query", help="run read-only SQL on the mesh database",
        description="Run SQL against the mesh database opened read-only and print the rows.")
    parser.add_argument("sql", help="the query, e.g. \"select * from sales.orders limit 5\"")
    parser.add_argument("--db", type=Path, default=None,
                        help="database file (default: DUCKMESH_DB or mesh.duckdb)")
    parser.add_argument("--json", action="store_true", help="print JSON lines")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    path = args.db or find_mesh(args.project_dir).db_path
    if not Path(path).exists():
        raise MeshError(f"{path} does not exist: run `make build` first")
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.IOException as error:
        raise MeshError(f"cannot open {path} read-only ({error}); is a build writing it?") from error
    try:
        cursor = con.execute(args.sql)
        headers = [d[0] for d in cursor.description or []]
        rows = cursor.fetchall()
    except duckdb.Error as error:
        raise MeshError(f"query failed: {error}") from error
    finally:
        con.close()
    if args.json:
        for row in rows:
            print(json.dumps(dict(zip(headers, row)), default=str))
    else:
        print(format_table(headers, [["" if v is None else str(v) for v in row] for row in rows]))
        print(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return 0
