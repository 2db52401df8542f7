"""`duckmesh`: the platform command. The root group lists every command with its help
line from COMMANDS below and imports a command's module only when that command runs,
so `duckmesh --help` and `duckmesh query` never import dbt."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from typing import NoReturn

import click

from duckmesh.cli.state import CliState
from duckmesh.core.project import MeshError

# -- the commands, each module imported when one of its commands runs ----------------------

def _build() -> click.Command:
    from duckmesh.cli.build import build
    return build


def _ci() -> click.Command:
    from duckmesh.cli.build import ci
    return ci


def _generate() -> click.Command:
    from duckmesh.cli.sources import generate
    return generate


def _quarantine() -> click.Command:
    from duckmesh.cli.sources import quarantine
    return quarantine


def _lint() -> click.Command:
    from duckmesh.cli.lint import lint
    return lint


def _catalog() -> click.Command:
    from duckmesh.cli.catalog import catalog
    return catalog


def _query() -> click.Command:
    from duckmesh.cli.query import query
    return query


def _bench() -> click.Command:
    from duckmesh.cli.bench import bench
    return bench


def _new_domain() -> click.Command:
    from duckmesh.cli.selfserve import new_domain
    return new_domain


def _new_product() -> click.Command:
    from duckmesh.cli.selfserve import new_product
    return new_product


def _new_version() -> click.Command:
    from duckmesh.cli.selfserve import new_version
    return new_version


def _adopt() -> click.Command:
    from duckmesh.cli.selfserve import adopt
    return adopt


def _doctor() -> click.Command:
    from duckmesh.cli.selfserve import doctor
    return doctor


def _publish() -> click.Command:
    from duckmesh.cli.publish import publish
    return publish


def _pull() -> click.Command:
    from duckmesh.cli.sharing import pull
    return pull


def _consumer() -> click.Command:
    from duckmesh.cli.consumers import consumer
    return consumer


def _observe() -> click.Command:
    from duckmesh.cli.observability import observe
    return observe


def _status() -> click.Command:
    from duckmesh.cli.observability import status
    return status


def _history() -> click.Command:
    from duckmesh.cli.observability import history
    return history


def _alerts() -> click.Command:
    from duckmesh.cli.observability import alerts
    return alerts


def _ledger() -> click.Command:
    from duckmesh.cli.observability import ledger
    return ledger


def _governance() -> click.Command:
    from duckmesh.cli.governance import governance
    return governance


def _release() -> click.Command:
    from duckmesh.cli.release import release
    return release


def _scale_out() -> click.Command:
    from duckmesh.cli.scaleout import scale_out
    return scale_out


def _warehouse() -> click.Command:
    from duckmesh.cli.warehouse import warehouse
    return warehouse


# name -> (help line, loader), in the order --help lists them
COMMANDS: dict[str, tuple[str, Callable[[], click.Command]]] = {
    "build": ("generate source data and dbt build the whole mesh (or --domain one)", _build),
    "ci": ("one domain's CI: build, test, govern, SemVer check, publish its products", _ci),
    "generate": ("generate deterministic source data", _generate),
    "lint": ("sqlfluff over every model of every domain", _lint),
    "catalog": ("discover data products: list, search, show, lineage, site", _catalog),
    "query": ("run read-only SQL on the mesh database", _query),
    "bench": ("performance and scale benchmarks", _bench),
    "new-domain": ("scaffold a governed domain (a dbt package) and register it", _new_domain),
    "new-product": ("scaffold a product with a contract read from DuckDB", _new_product),
    "new-version": ("start v<N+1> of a product and deprecate v<N>", _new_version),
    "adopt": ("onboard an existing dbt project as a domain", _adopt),
    "doctor": ("check the environment and say what to run", _doctor),
    "publish": ("publish the products for consumers (atomic, with rollback)", _publish),
    "pull": ("copy a store's current snapshot here, verified, atomically (s3://)", _pull),
    "consumer": ("consumers: init an outside dbt-loom project, list who reads what, register",
                 _consumer),
    "quarantine": ("show the rows the last build quarantined, per source", _quarantine),
    "observe": ("record the last dbt run in the observability history", _observe),
    "status": ("one line per data product: owner, version, rows, SLO state, alerts", _status),
    "history": ("the recorded runs of one product (DOMAIN.PRODUCT)", _history),
    "alerts": ("open alerts; exits 1 when an error alert is open (CI gate)", _alerts),
    "ledger": ("SLO attainment per product over the last N runs or days", _ledger),
    "governance": ("check the mesh's governance policies (P00-P13)", _governance),
    "release": ("version a domain by the SemVer class of its changes and tag the release",
                _release),
    "scale-out": ("build the mesh on Apache Spark and compare it with DuckDB", _scale_out),
    "warehouse": ("build the mesh on Snowflake or BigQuery and compare it with DuckDB",
                  _warehouse),
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
        return _adopt_context(entry[1]()) if entry else None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, help_line) for name, (help_line, _) in COMMANDS.items()])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--project-dir", default=None, metavar="DIR",
              help="mesh root (default: nearest folder with dbt_project.yml)")
@click.pass_context
def cli(ctx: click.Context, project_dir: str | None) -> None:
    """DuckMesh: a data mesh on dbt-core and DuckDB."""
    state = ctx.ensure_object(CliState)
    state.project_dir = project_dir
    state.command = ctx.invoked_subcommand


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run `duckmesh` with ``argv`` (default sys.argv[1:]) and the settings in ``env``
    (default os.environ); return the exit code."""
    state = CliState(env=env)
    try:
        result = cli.main(args=list(argv) if argv is not None else None, prog_name="duckmesh",
                          standalone_mode=False, obj=state)
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except click.Abort:
        print(f"duckmesh {state.command}: interrupted", file=sys.stderr)
        return 130
    except MeshError as error:
        print(f"duckmesh {state.command}: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(f"duckmesh {state.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
