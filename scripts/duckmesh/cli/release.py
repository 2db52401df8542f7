"""`duckmesh release`."""

from __future__ import annotations

import click

from duckmesh.cli.state import CliState, pass_state


@click.command(help="Release one domain: set the version in its dbt_project.yml from the "
                    "SemVer class of its product changes since its last release (the last "
                    "<domain>-v* tag, else the last publish) and tag <domain>-v<X.Y.Z> on a "
                    "release commit whose packages.yml pins the platform and upstream "
                    "domains to git revisions (docs/consumers.md).")
@click.option("--domain", required=True, help="the domain to release")
@click.option("--repository", default=None,
              help="git URL the pinned packages.yml installs from (default: the origin "
                   "remote, else this repository's file:// path)")
@pass_state
def release(state: CliState, domain: str, repository: str | None) -> int:
    from duckmesh.selfserve.release import release as run_release

    return run_release(state.mesh(), domain, repository)
