"""`duckmesh pull` and `duckmesh consumer init`: sharing beyond the repository
(docs/sharing.md)."""

from __future__ import annotations

from pathlib import Path

import click

from duckmesh.core.output import console


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

    voice = console()
    done = store.pull(store.Location.parse(url), folder or Path("published"), keep=keep)
    if done.up_to_date:
        voice.out(f"up to date: {done.folder} holds snapshot {done.snapshot} (every file verified)")
        return 0
    voice.out(f"pulled snapshot {done.snapshot} into {done.folder}: {len(done.downloaded)} files "
              f"downloaded ({_size(done.bytes_downloaded)}), {len(done.reused)} unchanged "
              f"({_size(done.bytes_reused)}), every file verified by SHA-256")
    return 0
