"""`duckmesh consumers list | register`."""

from __future__ import annotations

from pathlib import Path

import click

from duckmesh.cli.state import CliState, pass_state


@click.group(help="Who reads which product version and columns: the mesh's domains and "
                  "registered outside projects (docs/consumers.md).")
def consumers() -> None:
    pass


@consumers.command("list", help="List the consumers of DOMAIN.PRODUCT: consumer, owner, the "
                                "version it reads (pinned or latest) and the columns it uses.")
@click.argument("product")
@pass_state
def list_(state: CliState, product: str) -> int:
    from duckmesh.consumers.impact import listing

    print(listing(state.mesh(), product))
    return 0


@consumers.command(help="Register an outside dbt project as a consumer from its compiled "
                        "manifest.json (dbt-loom injects the mesh's products into it): the "
                        "product versions and columns it reads go to consumers/<name>.yml, "
                        "and every publish then protects them.")
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option("--name", default=None, help="consumer name (default: its dbt project name)")
@click.option("--owner", default=None,
              help='"Team Name <team@example.com>" (default: its dbt group\'s owner)')
@pass_state
def register(state: CliState, manifest: Path, name: str | None, owner: str | None) -> int:
    from duckmesh.consumers.impact import manifest_for_list
    from duckmesh.consumers.registry import register as run_register
    from duckmesh.core.project import relative

    mesh = state.mesh()
    path, found = run_register(mesh, manifest, manifest_for_list(mesh), name, owner)
    print(f"registered {found[0].consumer} ({found[0].owner}) -> {relative(path, mesh.root)}:")
    for read in found:
        print(f"  {read.package}.{read.product} {read.spec}: "
              f"{', '.join(read.columns) or '(no columns named)'}")
    return 0
