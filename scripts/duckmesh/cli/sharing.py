"""`duckmesh pull` and `duckmesh consumer init`: sharing beyond the repository
(docs/sharing.md)."""

from __future__ import annotations

from pathlib import Path

import click

from duckmesh.cli.state import CliState, pass_state
from duckmesh.core.project import MeshError


def _size(count: int) -> str:
    return f"{count / 1e6:,.1f} MB"


@click.command(help="Copy the current snapshot of an object store (s3://BUCKET/PREFIX, "
                    "written by `duckmesh publish --to`) into DIR (default: ./published), "
                    "verified by SHA-256 and switched in atomically; only files whose "
                    "checksum the local copy lacks are downloaded.")
@click.argument("url", metavar="s3://BUCKET/PREFIX")
@click.argument("folder", metavar="[DIR]", required=False, type=click.Path(path_type=Path))
@click.option("--keep", type=int, default=2, show_default=True,
              help="snapshots kept in DIR")
def pull(url: str, folder: Path | None, keep: int) -> int:
    from duckmesh.sharing import store

    done = store.pull(store.Location.parse(url), folder or Path("published"), keep=keep)
    if done.up_to_date:
        print(f"up to date: {done.folder} holds snapshot {done.snapshot} (every file verified)")
        return 0
    print(f"pulled snapshot {done.snapshot} into {done.folder}: {len(done.downloaded)} files "
          f"downloaded ({_size(done.bytes_downloaded)}), {len(done.reused)} unchanged "
          f"({_size(done.bytes_reused)}), every file verified by SHA-256")
    return 0


@click.group(help="Outside consumers: projects elsewhere that read the mesh's products.")
def consumer() -> None:
    pass


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

    if source is None:
        try:
            source = str(snapshots.published_dir(state.mesh()))
        except MeshError as error:
            raise MeshError(f"{error}; outside a mesh, give --from FOLDER or --from "
                            "s3://BUCKET/PREFIX") from None
    wanted = [p.strip() for item in products for p in item.split(",") if p.strip()]
    written = starter.init(folder, source, wanted, reader)
    print(f"wrote a dbt project that reads the mesh through dbt-loom into {folder.resolve()}:")
    for path in written:
        print(f"  {path.relative_to(folder.resolve())}")
    extra = " s3fs" if source.startswith("s3://") else ""
    print(f"next: pip install dbt-duckdb==1.11.1 dbt-loom==0.9.6{extra}"
          f" (or `make consumer` in the mesh's repository), then cd {folder} && dbt build "
          "--profiles-dir .")
    return 0
