"""`duckmesh lint`: sqlfluff (dbt templater) over the root project and every domain."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from .dbt import relative
from .project import find_mesh


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "lint", help="sqlfluff over every model of every domain",
        description="Lint the root project's models and every domain's models with sqlfluff "
                    "and the dbt templater (config: .sqlfluff at the mesh root).")
    parser.add_argument("--fix", action="store_true", help="apply sqlfluff's fixes")
    parser.set_defaults(func=run)


def sql_paths(mesh) -> list[str]:
    paths = ["models"] if (mesh.root / "models").is_dir() else []
    for domain in mesh.domain_dirs():
        if (domain / "models").is_dir():
            paths.append(relative(domain / "models", mesh.root))
    return paths


def run(args: argparse.Namespace) -> int:
    mesh = find_mesh(args.project_dir)
    if not (mesh.root / "dbt_packages").is_dir():
        from . import dbt

        dbt.require_success(dbt.run_dbt(mesh, ["deps"], quiet=True), "deps")
    env = {**os.environ, **mesh.env()}
    env.setdefault("DUCKMESH_DATA", str(mesh.root / "data" / "lint"))
    command = [sys.executable, "-m", "sqlfluff", "fix" if args.fix else "lint", *sql_paths(mesh)]
    print("$ sqlfluff", " ".join(command[3:]), flush=True)
    return subprocess.run(command, cwd=mesh.root, env=env).returncode
