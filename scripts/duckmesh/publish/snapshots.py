"""Snapshots under ``published/``: list them, find the current one, swap links
atomically, recover from an interrupted publish, prune, roll back."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from duckmesh.core.project import Mesh, MeshError
from duckmesh.publish import access, verify


def published_dir(mesh: Mesh) -> Path:
    return mesh.root / "published"


def snapshots(pub: Path) -> list[str]:
    folder = pub / "snapshots"
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and (p / "publish.json").exists())


def current_snapshot(pub: Path) -> str | None:
    link = pub / "current"
    if not link.is_symlink():
        return None
    name = Path(os.readlink(link)).name
    return name if (pub / "snapshots" / name / "publish.json").exists() else None


def link(target: str, link: Path) -> None:
    """Point ``link`` at ``target`` with one atomic rename."""
    if link.is_symlink() and os.readlink(link) == target:
        return
    if link.exists() and not link.is_symlink():
        raise MeshError(f"{link} is a real file or folder where DuckMesh keeps a link: move it "
                        "out of published/ and publish again")
    temporary = link.with_name(f".{link.name}.tmp")
    if temporary.is_symlink() or temporary.exists():
        temporary.unlink()
    os.symlink(target, temporary)
    os.replace(temporary, link)


def recover(pub: Path) -> list[str]:
    """Remove what an interrupted publish left behind; return what was removed."""
    removed = []
    folder = pub / "snapshots"
    if folder.is_dir():
        for leftover in folder.iterdir():
            if leftover.is_symlink():  # a provisional link (below)
                leftover.unlink()
                removed.append(leftover.name)
            elif leftover.name.startswith(".tmp-"):
                shutil.rmtree(leftover, ignore_errors=True)
                removed.append(leftover.name)
    if pub.is_dir():
        for leftover in pub.glob(".*.tmp"):
            leftover.unlink()
            removed.append(leftover.name)
    return removed


@contextmanager
def provisional(work: Path, final: Path) -> Iterator[None]:
    """``final`` as a link to the snapshot being written (``work``, its .tmp- folder) for
    the files that name their committed paths: DuckDB reads a port when a consumer file's
    view over it is created. Removed before the rename that commits the snapshot; a link
    an interrupted publish left is removed by recover()."""
    os.symlink(work.name, final)
    try:
        yield
    finally:
        final.unlink()


def read_record(root: Path) -> dict:
    return json.loads((root / "publish.json").read_text())


VERIFIED = "verified.json"


def record_verified(pub: Path, snapshot: str, invocation_id: str, outcome: str) -> str:
    """``published/verified.json``: the last publish, which wrote ``snapshot`` (outcome
    "published") or found the current one unchanged ("unchanged"), the dbt invocation it
    published and when (returned). Outside the snapshots (they never change once
    written), replaced atomically."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    file = pub / VERIFIED
    temporary = file.with_name(f".{file.name}.tmp")
    temporary.write_text(json.dumps({"snapshot": snapshot, "verified_at": now,
                                     "invocation_id": invocation_id, "outcome": outcome},
                                    indent=2, sort_keys=True) + "\n")
    os.chmod(temporary, 0o640)
    os.replace(temporary, file)
    return now


def read_verified(pub: Path) -> dict:
    """published/verified.json ({} when absent or unreadable)."""
    try:
        data = json.loads((pub / VERIFIED).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def stable_links(pub: Path, domains: set[str]) -> None:
    link("current/mesh.duckdb", pub / "mesh.duckdb")
    link("current/packages", pub / "packages")
    link("current/manifest.json", pub / "manifest.json")
    link("current/consumers", pub / "consumers")
    for domain in sorted(domains):
        link(f"current/ports/{access.check_consumer(domain, 'domain')}", pub / domain)


def prune(pub: Path, keep: int) -> list[str]:
    current = current_snapshot(pub)
    names = snapshots(pub)
    doomed = [n for n in names[:-keep] if n != current] if len(names) > keep else []
    for name in doomed:
        shutil.rmtree(pub / "snapshots" / name, ignore_errors=True)
    return doomed


def rollback(mesh: Mesh, target: str | None = None) -> str:
    pub = published_dir(mesh)
    recover(pub)
    names = snapshots(pub)
    current = current_snapshot(pub)
    if target is None:
        older = [n for n in names if current is None or n < current]
        if not older:
            raise MeshError(f"no snapshot older than {current} to roll back to "
                            f"(kept: {names or 'none'}); publish keeps --keep K snapshots")
        target = older[-1]
    elif target not in names:
        raise MeshError(f"unknown snapshot {target!r}: one of {names or 'none (publish first)'}")
    record = read_record(pub / "snapshots" / target)
    damage = verify.snapshot_damage(pub / "snapshots" / target, record, deep=False)
    if damage:
        good = last_good(pub, exclude={target, current or ""})
        hint = (f"the last good snapshot is {good} (`duckmesh publish --rollback {good}`)"
                if good else "no other kept snapshot is intact: `duckmesh publish --verify` "
                "checks the current one, `duckmesh build` publishes a new one")
        raise MeshError(f"snapshot {target} is damaged ({'; '.join(damage)}): not rolled "
                        f"back; {hint}")
    stable_links(pub, {e["domain"] for e in record["products"].values()})
    link(f"snapshots/{target}", pub / "current")
    return target


def last_good(pub: Path, exclude: set[str] | None = None) -> str | None:
    """The newest kept snapshot that verifies (its files as recorded)."""
    for name in reversed(snapshots(pub)):
        if name in (exclude or set()):
            continue
        root = pub / "snapshots" / name
        if not verify.snapshot_damage(root, read_record(root), deep=False):
            return name
    return None


def verify_snapshots(mesh: Mesh, target: str | None = None) -> list[tuple[str, list[str]]]:
    """(snapshot, problems) for ``target`` (default: the current one), each product
    table read back against its recorded rows and checksum, each file against its
    digest."""
    pub = published_dir(mesh)
    names = snapshots(pub)
    if target is None:
        target = current_snapshot(pub)
        if target is None:
            raise MeshError("nothing published yet: run `duckmesh build`")
    elif target not in names:
        raise MeshError(f"unknown snapshot {target!r}: one of {names or 'none (publish first)'}")
    root = pub / "snapshots" / target
    return [(target, verify.snapshot_damage(root, read_record(root)))]
