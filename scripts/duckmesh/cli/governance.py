"""`duckmesh governance check | diff`."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click

from duckmesh.cli import params
from duckmesh.cli.state import CliState, pass_state
from duckmesh.core.output import console
from duckmesh.core.project import MeshError


@click.group(help="The policies in macros/governance/, as dbt checks them before every build.")
def governance() -> None:
    pass


@governance.command(help="Run the governance policies over the mesh (dbt run-operation "
                         "mesh_governance; over its saved manifest when no file changed "
                         "since) and print the report; exit 1 when any is an error.")
@params.as_json
@click.option("--dbt", "in_dbt", is_flag=True,
              help="run the policies in dbt even when the saved manifest is current")
@pass_state
def check(state: CliState, as_json: bool, in_dbt: bool) -> int:
    from duckmesh.governance.gate import with_compiled
    from duckmesh.governance.report import check as run_check

    mesh = state.mesh()
    # and the policies over compiled SQL (P13, P06/P12 by lineage) on the last build's
    # manifest, as the gate before every publish runs them
    report = with_compiled(mesh, run_check(mesh, saved=not in_dbt))
    if as_json:
        console().json(report.as_dict())
    else:
        console().out(report.text())
    return 1 if report.errors else 0


@governance.command(help="Compare two manifests (default: published/manifest.json against "
                         "target/manifest.json) and print the SemVer class of every product "
                         "change.")
@click.option("--before", type=click.Path(path_type=Path), default=None,
              help="baseline manifest (default: the published one)")
@click.option("--after", type=click.Path(path_type=Path), default=None,
              help="new manifest (default: target/manifest.json)")
@params.as_json
@pass_state
def diff(state: CliState, before: Path | None, after: Path | None, as_json: bool) -> int:
    from duckmesh.governance import semver
    from duckmesh.governance.report import published_manifest_path

    voice = console()
    mesh = state.mesh()
    labels = ("--before" if before else "the published manifest",
              "--after" if after else "the build's manifest")
    before = before or published_manifest_path(mesh)
    after = after or mesh.manifest_path
    manifests = [semver.read_manifest(path, label)
                 for path, label in zip((before, after), labels, strict=True)]
    try:
        changes = semver.compare_manifests(*manifests)
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        raise MeshError(f"cannot compare {before} with {after}: a node lacks what dbt writes "
                        f"({type(error).__name__}: {error}). {semver.MANIFEST_FIX}") from error
    if as_json:
        voice.json([asdict(c) for c in changes])
    else:
        voice.out("\n".join(c.line() for c in changes) or "no product changes")
    return 1 if any(c.unversioned_breaking for c in changes) else 0
