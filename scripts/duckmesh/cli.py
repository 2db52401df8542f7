"""`duckmesh`: the platform command. One subcommand group per capability module;
each module exposes register(subparsers) and the handler it sets as ``func``."""

from __future__ import annotations

import argparse
import importlib
import sys

from .project import MeshError

# Capability modules, in the order --help lists them.
COMMANDS = [
    "build",
    "domains",
    "generate_cmd",
    "lint",
    "catalog",
    "query",
    "bench",
    "scaffold",
    "adopt",
    "doctor",
    "publish",
    "quarantine",
    "observability.cli",
    "governance",
    "scaleout",
]


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="duckmesh", description="DuckMesh: a data mesh on dbt-core and DuckDB.")
    root.add_argument("--project-dir", default=None,
                      help="mesh root (default: nearest folder with dbt_project.yml)")
    subparsers = root.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"duckmesh.{name}").register(subparsers)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not getattr(args, "func", None):
        parser().print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except MeshError as error:
        print(f"duckmesh {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"duckmesh {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
