"""`duckmesh consumer init | list | register`: outside consumers and who reads what."""

from __future__ import annotations

from pathlib import Path

import click

from duckmesh.cli.state import CliState, pass_state
from duckmesh.core.output import console
from duckmesh.core.project import MeshError


@click.group(help="Consumers of the mesh's products: start an outside project that reads them "
                  "through dbt-loom (init, docs/sharing.md), see who reads which version and "
                  "columns (list), register an outside project so that no publish breaks it "
                  "(register, docs/consumers.md).")
def consumer() -> None:
    pass


@consumer.command("list", help="List the consumers of DOMAIN.PRODUCT: consumer, owner, the "
                                "version it reads (pinned or latest) and the columns it uses.")
@click.argument("product")
@pass_state
def list_(state: CliState, product: str) -> int:
    from duckmesh.consumers.impact import listing

    console().out(listing(state.mesh(), product))
    return 0


@consumer.command(help="Register an outside dbt project as a consumer from its compiled "
                        "manifest.json (dbt-loom injects the mesh's products into it): the "
                        "product versions and columns it reads go to consumers/<name>.yml, "
                        "and every publish then protects them.")
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option("--name", default=None, help="consumer name (default: its dbt project name)")
@click.option("--owner", default=None,
              help='"Team Name <team@example.com>" (default: its dbt group\'s owner)')
@pass_state
def register(state: CliState, manifest: Path, name: str | None, owner: str | None) -> int:
    from duckmesh.consumers.impact import manifest_for_list, outside_access, unserved
    from duckmesh.consumers.reads import products
    from duckmesh.consumers.registry import register as run_register
    from duckmesh.core.project import relative
    from duckmesh.publish.access import consumer_groups

    voice = console()
    mesh = state.mesh()
    published = manifest_for_list(mesh)

    def refuse(reads: list) -> list[str]:
        denied = outside_access(published, products(published), reads,
                                consumer_groups(mesh.root))
        return unserved(published, reads) + [f.message for f in denied]

    path, found = run_register(mesh, manifest, published, name, owner, refuse)
    voice.out(f"registered {found[0].consumer} ({found[0].owner}) -> {relative(path, mesh.root)}:")
    for read in found:
        voice.out(f"  {read.package}.{read.product} {read.spec}: "
                  f"{', '.join(read.columns) or '(no columns named)'}")
    return 0


@consumer.command("init", help="Write a starter dbt project into DIR that reads the mesh's "
                               "products through dbt-loom: dbt_project.yml, "
                               "dbt_loom.config.yml, profiles.yml (the published database "
                               "read-only) and a sample model.")
@click.argument("folder", metavar="DIR", type=click.Path(path_type=Path))
@click.option("--products", "products", multiple=True, metavar="DOMAIN.PRODUCT",
              help="the products to read (repeatable, or comma-separated; default: all)")
@click.option("--from", "source", default=None, metavar="FOLDER|s3://BUCKET/PREFIX",
              help="a published folder (default: this mesh's published/) or an object store")
@click.option("--as", "reader", default=None, metavar="CONSUMER",
              help="attach the folder's consumers/CONSUMER/mesh.duckdb (what that consumer "
                   "may read, masked) instead of mesh.duckdb")
@pass_state
def consumer_init(state: CliState, folder: Path, products: tuple[str, ...],
                  source: str | None, reader: str | None) -> int:
    from duckmesh.publish import snapshots
    from duckmesh.sharing import consumer as starter

    voice = console()
    if source is None:
        try:
            source = str(snapshots.published_dir(state.mesh()))
        except MeshError as error:
            raise MeshError(f"{error}; outside a mesh, give --from FOLDER or --from "
                            "s3://BUCKET/PREFIX") from None
    wanted = [p.strip() for item in products for p in item.split(",") if p.strip()]
    written = starter.init(folder, source, wanted, reader)
    voice.out(f"wrote a dbt project that reads the mesh through dbt-loom into {folder.resolve()}:")
    for path in written:
        voice.out(f"  {path.relative_to(folder.resolve())}")
    extra = " s3fs" if source.startswith("s3://") else ""
    voice.out(f"next: pip install dbt-duckdb==1.11.1 dbt-loom==0.9.6{extra}"
              f" (or `make consumer` in the mesh's repository), then cd {folder} && dbt build "
              "--profiles-dir .")
    return 0
