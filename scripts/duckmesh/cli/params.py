"""The options that several commands share, each declared once (as dbt-core's
``core/dbt/cli/params.py`` does): a command lists the ones it takes as decorators,
``@params.scale``, ``@params.seed``, ``@params.as_json``. Defaults come from the capability
that owns them (``duckmesh.publish.DEFAULT_KEEP`` ...): the capability packages'
``__init__`` modules hold those values and import nothing, so ``--help`` stays fast."""

from __future__ import annotations

import click

from duckmesh.cli.types import SCALE
from duckmesh.core.output import Mode, console
from duckmesh.publish import DEFAULT_KEEP


def _json_mode(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        console().mode = Mode.JSON  # stdout holds the JSON document and nothing else
    return value


as_json = click.option(
    "--json", "as_json", is_flag=True, callback=_json_mode,
    help="machine-readable output: JSON on stdout and nothing else")

scale = click.option(
    "--scale", type=SCALE, default=None,
    help="data size; 1 = 100k customers, 1M orders (default: the scale of the last build, "
         "else 0.1)")

seed = click.option("--seed", type=int, default=42, show_default=True, help="generator seed")

select = click.option("--select", default=None, help="dbt selector (default: everything)")

full_refresh = click.option("--full-refresh", is_flag=True, help="rebuild incremental models")

keep = click.option("--keep", type=int, default=DEFAULT_KEEP,
                    show_default=True, help="snapshots kept for rollback")

product = click.argument("product", metavar="DOMAIN.PRODUCT")
