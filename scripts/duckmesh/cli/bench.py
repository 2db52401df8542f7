"""`duckmesh bench`: hands its arguments to the benchmarks package, which lives in the
checkout's scripts/benchmarks/ (not in the installed wheel) and is imported only here."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import click

from duckmesh.cli.state import CliState, pass_state
from duckmesh.core.project import MeshError


def _load_benchmarks(project_dir: Path) -> None:
    """Make ``benchmarks`` importable from ``project_dir``/scripts/benchmarks when the
    interpreter does not already find it (an install that is not an editable one)."""
    if importlib.util.find_spec("benchmarks") is not None:
        return
    folder = project_dir / "scripts" / "benchmarks"
    spec = importlib.util.spec_from_file_location(
        "benchmarks", folder / "__init__.py", submodule_search_locations=[str(folder)])
    if spec is None or spec.loader is None or not folder.is_dir():
        raise MeshError(f"no benchmarks in {folder}: they ship with the repository, not the "
                        "installed package; run `duckmesh bench` from a clone of it")
    module: ModuleType = importlib.util.module_from_spec(spec)
    sys.modules["benchmarks"] = module
    spec.loader.exec_module(module)


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                 "help_option_names": []},
               help="Benchmarks that print a table and write JSON to target/bench/ "
                    "(`duckmesh bench --help` lists them).")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@pass_state
def bench(state: CliState, args: tuple[str, ...]) -> int:
    _load_benchmarks(state.mesh().root)
    from benchmarks.cli import BENCHMARKS, main

    if list(args) in ([], ["--help"], ["-h"]):  # the same shape as every command's help
        formatter = click.HelpFormatter()
        formatter.write_usage("duckmesh bench", "BENCHMARK [OPTIONS]")
        with formatter.indentation():
            formatter.write_paragraph()
            formatter.write_text("Benchmarks that print a table and write JSON to "
                                 "target/bench/. Not tests: figures depend on the machine. "
                                 "`duckmesh bench BENCHMARK --help` lists a benchmark's "
                                 "options.")
        with formatter.section("Benchmarks"):
            formatter.write_dl([("synthetic", "write a synthetic mesh of N models"),
                                *((name, text) for name, (text, _) in BENCHMARKS.items())])
        click.echo(formatter.getvalue(), nl=False)
        return 0 if args else 2
    return main(args, state.project_dir)
