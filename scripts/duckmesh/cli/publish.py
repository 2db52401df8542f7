"""`duckmesh publish`: publish, list and roll back snapshots."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from duckmesh.cli import params
from duckmesh.cli.state import CliState, pass_state
from duckmesh.core.output import console
from duckmesh.core.project import MeshError

if TYPE_CHECKING:
    from duckmesh.core.project import Mesh
    from duckmesh.publish.publisher import Published

PREVIOUS = "\x00previous"  # --rollback given without a value


@click.command(help="Copy the products that passed the last `dbt build` into a new snapshot "
                    "(published/mesh.duckdb, Parquet ports, per-consumer databases) and swap "
                    "it in atomically; when nothing changed, the current snapshot is kept. "
                    "`duckmesh build` runs this after every build.")
@click.option("--for", "consumers", multiple=True, metavar="CONSUMER",
              help="also write published/consumers/CONSUMER/mesh.duckdb (a domain or a "
                   "consumer in vars.duckmesh_consumers; repeatable), at this publish and "
                   "every later one until --remove")
@click.option("--remove", "remove", default=None, metavar="CONSUMER",
              help="stop writing the file of a consumer registered with --for, and publish")
@params.keep
@click.option("--rollback", "rollback_to", is_flag=False, flag_value=PREVIOUS, default=None,
              metavar="SNAPSHOT",
              help="make an older snapshot current again (default: the previous one)")
@click.option("--force", is_flag=True,
              help="write a new snapshot even when nothing changed since the current one")
@click.option("--list", "list_only", is_flag=True, help="list the kept snapshots")
@click.option("--verify", "verify_snapshot", is_flag=False, flag_value=PREVIOUS, default=None,
              metavar="SNAPSHOT",
              help="check a snapshot (default: the current one): every table and file "
                   "against the checksums recorded when it was published; exit 1 if damaged")
@click.option("--to", "to", default=None, metavar="s3://BUCKET/PREFIX",
              help="share the current snapshot (as the last build, ci or publish wrote it; "
                   "nothing is published here) in an object store: every file with its "
                   "SHA-256, the pointer to it last (docs/sharing.md); resumes an "
                   "interrupted upload")
@pass_state
def publish(state: CliState, consumers: tuple[str, ...], remove: str | None, keep: int,
            rollback_to: str | None, force: bool, list_only: bool,
            verify_snapshot: str | None, to: str | None) -> int:
    from duckmesh.publish import snapshots
    from duckmesh.publish.publisher import publish as publish_snapshot
    from duckmesh.publish.publisher import remove_consumer

    voice = console()
    mesh = state.mesh()
    pub = snapshots.published_dir(mesh)
    if to is not None:
        if list_only or verify_snapshot is not None or rollback_to is not None \
                or remove is not None or force or consumers:
            raise click.UsageError("--to shares the current snapshot as it is: not with "
                                   "--list, --verify, --rollback, --remove, --force or --for "
                                   "(run those first, then --to)")
        return _share(mesh, to)
    if list_only:
        current = snapshots.current_snapshot(pub)
        verified = snapshots.read_verified(pub)
        outside = snapshots.outside_problem(pub)
        if outside:
            voice.warn(f"! {outside}: readers do not read a kept snapshot (`duckmesh publish "
                       "--verify` says which to roll back to)", err=False)
        for name in snapshots.snapshots(pub):
            try:
                record = snapshots.read_record(pub / "snapshots" / name)
            except MeshError as error:
                voice.out(f"{'*' if name == current else ' '} {name}  DAMAGED: {error}")
                continue
            checked = (f"  verified {verified['verified_at']}"
                       if name == current and verified.get("snapshot") == name else "")
            voice.out(f"{'*' if name == current else ' '} {name}  {len(record['products'])} "
                      f"product versions  consumers: {', '.join(record['consumers']) or '-'}"
                      + checked)
        return 0
    if verify_snapshot is not None:
        if not verify_snapshot.strip():
            raise click.BadParameter("an empty snapshot name: give one of `duckmesh publish "
                                     "--list`, or no value for the current snapshot",
                                     param_hint="'--verify'")
        damaged = 0
        for name, problems in snapshots.verify_snapshots(
                mesh, None if verify_snapshot == PREVIOUS else verify_snapshot):
            voice.out(f"snapshot {name}: " + ("intact" if not problems else "DAMAGED"))
            for problem in problems:
                voice.out(f"  {problem}")
            damaged += bool(problems)
        if damaged:
            good = snapshots.last_good(pub)
            raise MeshError("damaged snapshot: " + (
                f"the last good one is {good} (`duckmesh publish --rollback {good}`)"
                if good else "no kept snapshot is intact: run `duckmesh build`"))
        return 0
    if rollback_to is not None:
        if not rollback_to.strip():
            raise click.BadParameter("an empty snapshot name: give one of `duckmesh publish "
                                     "--list`, or no value for the previous snapshot",
                                     param_hint="'--rollback'")
        target = snapshots.rollback(mesh, None if rollback_to == PREVIOUS else rollback_to)
        voice.out(f"rolled back: published/current -> snapshots/{target}")
        return 0
    if remove is not None:
        done = remove_consumer(mesh, remove, keep=keep)
        voice.out(f"removed consumer {remove}: its file is no longer published")
    else:
        done = publish_snapshot(mesh, consumers=list(consumers), keep=keep, force=force)
    if done.unchanged:
        held = f", {len(done.carried)} held back as published" if done.carried else ""
        voice.out(f"unchanged: snapshot {done.snapshot} kept ({len(done.built)} product versions "
                  f"as published{held}; --force writes a new one)")
    else:
        _print_published(done)
    return 0


def _share(mesh: Mesh, to: str) -> int:
    from duckmesh.sharing import store

    voice = console()
    location = store.Location.parse(to)
    shared = store.upload(mesh, location)
    copied = (f", {len(shared.copied)} copied in the store from the previous snapshot "
              "(same SHA-256)" if shared.copied else "")
    voice.out(f"shared snapshot {shared.snapshot} at {location}: {len(shared.uploaded)} files "
              f"uploaded ({shared.bytes_uploaded / 1e6:,.1f} MB){copied}, {len(shared.skipped)} "
              "already there with the same SHA-256; "
              + ("the pointer was already on it" if shared.already_current
                 else f"{location.url('current.json')} now points to it"))
    return 0


def _print_published(done: Published) -> None:
    voice = console()
    voice.out(f"published snapshot {done.snapshot}: {len(done.built)} product versions built, "
              f"{len(done.carried)} kept from the previous snapshot, {len(done.dropped)} left out")
    for consumer in done.consumers:
        voice.out(f"  published/consumers/{consumer}/mesh.duckdb")
