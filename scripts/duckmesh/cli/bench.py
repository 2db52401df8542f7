"""`duckmesh bench`: hands its arguments to the benchmarks package (scripts/benchmarks),
which is imported only here."""

from __future__ import annotations

import click

from duckmesh.cli.state import CliState, pass_state


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                 "help_option_names": []},
               help="Benchmarks that print a table and write JSON to target/bench/ "
                    "(`duckmesh bench --help` lists them).")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@pass_state
def bench(state: CliState, args: tuple[str, ...]) -> int:
    from benchmarks.cli import main

    return main(args, state.project_dir)
