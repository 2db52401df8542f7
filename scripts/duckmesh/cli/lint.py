"""`duckmesh lint`."""

from __future__ import annotations

import click

from duckmesh.cli.state import CliState, pass_state


@click.command(help="Lint the root project's models and every domain's models with sqlfluff "
                    "and the dbt templater (config: .sqlfluff at the mesh root).")
@click.argument("paths", nargs=-1)
@click.option("--fix", is_flag=True, help="apply sqlfluff's fixes")
@pass_state
def lint(state: CliState, paths: tuple[str, ...], fix: bool) -> int:
    """PATHS: files or folders to lint (default: every domain's models)."""
    from duckmesh.lint.runner import lint as run_lint

    return run_lint(state.mesh(), fix, list(paths))
