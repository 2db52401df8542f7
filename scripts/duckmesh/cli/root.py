"""`duckmesh`: the platform command. The root group lists every command with its help
line from COMMANDS below and imports a command's module only when that command runs,
so `duckmesh --help` and `duckmesh query` never import dbt."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import NoReturn

import click

from duckmesh.cli.state import CliState
from duckmesh.core.output import Console, Mode, console, use_console
from duckmesh.core.project import MeshError

# name -> ("module:command", help line), in the order --help lists them; a command's
# module is imported when that command runs
COMMANDS: dict[str, tuple[str, str]] = {
    "build": ("build:build", "generate source data and dbt build the whole mesh (or --domain one)"),
    "ci": ("build:ci", "one domain's CI: build, test, govern, SemVer check, publish its products"),
    "generate": ("sources:generate", "generate deterministic source data"),
    "lint": ("lint:lint", "sqlfluff over every model of every domain"),
    "catalog": ("catalog:catalog", "discover data products: list, search, show, lineage, site"),
    "query": ("query:query", "run read-only SQL on the mesh database"),
    "bench": ("bench:bench", "performance and scale benchmarks"),
    "new-domain": ("selfserve:new_domain",
                   "scaffold a governed domain (a dbt package) and register it"),
    "new-product": ("selfserve:new_product", "scaffold a product with a contract read from DuckDB"),
    "new-version": ("selfserve:new_version", "start v<N+1> of a product and deprecate v<N>"),
    "adopt": ("selfserve:adopt", "onboard an existing dbt project as a domain"),
    "doctor": ("selfserve:doctor", "check the environment and say what to run"),
    "publish": ("publish:publish", "publish the products for consumers (atomic, with rollback)"),
    "pull": ("sharing:pull",
             "copy a store's current snapshot here, verified, atomically (s3://)"),
    "consumer": ("consumers:consumer",
                 "consumers: init an outside dbt-loom project, list who reads what, register"),
    "quarantine": ("sources:quarantine", "show the rows the last build quarantined, per source"),
    "observe": ("observability:observe", "record the last dbt run in the observability history"),
    "status": ("observability:status",
               "one line per data product: owner, version, rows, SLO state, alerts"),
    "history": ("observability:history", "the recorded runs of one product (DOMAIN.PRODUCT)"),
    "alerts": ("observability:alerts",
               "open alerts; exits 1 when an error alert is open (CI gate)"),
    "ledger": ("observability:ledger", "SLO attainment per product over the last N runs or days"),
    "governance": ("governance:governance", "check the mesh's governance policies (P00-P13)"),
    "release": ("release:release",
                "version a domain by the SemVer class of its changes and tag the release"),
    "scale-out": ("scaleout:scale_out", "build the mesh on Apache Spark and compare it with DuckDB"),
    "warehouse": ("warehouse:warehouse",
                  "build the mesh on Snowflake or BigQuery and compare it with DuckDB"),
}


class HelpFormatter(click.HelpFormatter):
    """Help as the commands always printed it: ``usage: duckmesh ...``."""

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        super().write_usage(prog, args, "usage: " if prefix is None else prefix)


class Context(click.Context):
    formatter_class = HelpFormatter

    def exit(self, code: int = 0) -> NoReturn:
        """--help exits the process (as argparse did), also when main() is called in-process."""
        raise SystemExit(code)


def _adopt_context(command: click.Command) -> click.Command:
    """Give a loaded command (and its subcommands) the mesh's help format."""
    command.context_class = Context
    for sub in getattr(command, "commands", {}).values():
        _adopt_context(sub)
    return command


class LazyGroup(click.Group):
    """A group whose commands are loaded on first use; --help reads COMMANDS only."""

    context_class = Context

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module, attr = entry[0].split(":")
        command = getattr(__import__(f"duckmesh.cli.{module}", fromlist=[attr]), attr)
        return _adopt_context(command)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, help_line) for name, (_, help_line) in COMMANDS.items()])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--project-dir", default=None, metavar="DIR",
              help="mesh root (default: nearest folder with dbt_project.yml)")
@click.option("-q", "--quiet", is_flag=True,
              help="print only the answer, warnings and errors (no step lines, no progress)")
@click.pass_context
def cli(ctx: click.Context, project_dir: str | None, quiet: bool) -> None:
    """DuckMesh: a data mesh on dbt-core and DuckDB."""
    if quiet:
        console().mode = Mode.QUIET
    state = ctx.ensure_object(CliState)
    state.project_dir = project_dir
    state.command = ctx.invoked_subcommand


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run `duckmesh` with ``argv`` (default sys.argv[1:]) and the settings in ``env``
    (default os.environ); return the exit code."""
    state = CliState(env=env)
    environ = os.environ if env is None else env
    with use_console(Console(no_color=bool(environ.get("NO_COLOR")))) as voice:
        try:
            result = cli.main(args=list(argv) if argv is not None else None,
                              prog_name="duckmesh", standalone_mode=False, obj=state)
        except click.exceptions.Exit as done:
            return done.exit_code
        except click.ClickException as error:
            error.show()
            return error.exit_code
        except (click.Abort, KeyboardInterrupt):
            voice.error(f"duckmesh {state.command}: interrupted")
            return 130
        except MeshError as error:
            voice.error(f"duckmesh {state.command}: error: {error}")
            return error.exit_code
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
