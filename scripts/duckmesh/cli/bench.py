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
