"""Snapshots under ``published/``: list them, find the current one, swap links
atomically, recover from an interrupted publish, repair a broken ``current``, prune,
roll back.

``current`` may point only at ``snapshots/<id>`` (relative, inside ``published/``): a
link anywhere else is not a snapshot, whatever its folder is called. Publishers hold
``published/.publish.lock`` while they change ``published/`` (``lock``): a second one
waits for the first, with a message; readers never take it.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from duckmesh.core import output
from duckmesh.core.locks import waiting_lock
from duckmesh.core.project import Mesh, MeshError
from duckmesh.publish import access, verify

LOCK = ".publish.lock"


def published_dir(mesh: Mesh) -> Path:
    return mesh.root / "published"


def snapshots(pub: Path) -> list[str]:
    folder = pub / "snapshots"
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and (p / "publish.json").exists())


@contextmanager
def lock(pub: Path, log: Callable[[str], None] = output.step) -> Iterator[None]:
    """Hold the publish lock (published/.publish.lock) for the block: one publisher at a
    time changes published/; the next waits, with a message, and then lands too."""
    with waiting_lock(pub / LOCK, "the publish", log):
        yield


def current_target(pub: Path) -> str | None:
    """Where ``published/current`` points (None: no link)."""
    link = pub / "current"
    return os.readlink(link) if link.is_symlink() else None


def _inside(pub: Path, target: str | None) -> str | None:
    """The snapshot ``target`` names when it is exactly ``snapshots/<id>`` of ``pub``."""
    if target is None:
        return None
    parts = Path(target).parts
    if len(parts) != 2 or parts[0] != "snapshots" or parts[1].startswith("."):
        return None
    return parts[1] if (pub / "snapshots" / parts[1]).is_dir() else None


def current_snapshot(pub: Path) -> str | None:
    """The current snapshot: ``current`` points at ``snapshots/<id>``, which has its
    publish.json (None otherwise: nothing published, or a link elsewhere)."""
    name = _inside(pub, current_target(pub))
    return name if name and (pub / "snapshots" / name / "publish.json").exists() else None


def outside_problem(pub: Path) -> str | None:
    """Why ``current`` is not a snapshot of this folder (None: it is, or there is none)."""
    target = current_target(pub)
    if target is None and (pub / "current").exists():
        return "published/current is not a link"
    if target is None or _inside(pub, target) is not None:
        return None
    parts = Path(target).parts
    if len(parts) == 2 and parts[0] == "snapshots" and not parts[1].startswith("."):
        return f"published/current points at {target}, which is not a kept snapshot"
    return f"published/current points at {target}, outside published/snapshots/"


def head_damage(root: Path) -> str | None:
    """What the next build reads of a snapshot before dbt runs, checked: its publish.json
    and its manifest.json (governance P09's baseline, by SHA-256)."""
    try:
        record = verify.load_record(root)
    except verify.RecordError as error:
        return str(error)
    problem = verify.manifest_damage(root, record)
    return f"published/snapshots/{root.name}/{problem}" if problem else None


def repair(pub: Path, log: Callable[[str], None] = output.step) -> str | None:
    """Make ``current`` a snapshot that can be trusted before anything reads it for a
    publish or a build (the caller holds the lock): a link outside published/snapshots/,
    or a current snapshot whose publish.json or manifest.json is damaged, is re-pointed
    at the newest intact snapshot (every file by SHA-256), with a message; return the
    current snapshot (None: nothing published). No intact snapshot left: a MeshError
    naming the file and the fix."""
    target = current_target(pub)
    if target is None and not (pub / "current").exists():
        return None
    name = _inside(pub, target)
    problem = outside_problem(pub)
    if problem is None and name is not None:
        problem = head_damage(pub / "snapshots" / name)
    if problem is None:
        return name
    good = last_good(pub, prefer=name or Path(target or "").name)
    if good is None:
        raise MeshError(f"{problem}, and no kept snapshot is intact (`duckmesh publish "
                        "--verify` names the damage): restore the file, or move "
                        "published/ aside and run `duckmesh build` to publish afresh")
    if (pub / "current").exists() and not (pub / "current").is_symlink():
        raise MeshError(f"{pub / 'current'} is a real file or folder where DuckMesh keeps a "
                        "link: move it out of published/ and publish again")
    record = read_record(pub / "snapshots" / good)
    stable_links(pub, {e["domain"] for e in record["products"].values()})
    link(f"snapshots/{good}", pub / "current")
    log(f"      {problem}: published/current now points at snapshots/{good}, the newest "
        "intact snapshot")
    return good


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
    """A snapshot's publish.json (verify.RecordError, a MeshError, when unreadable)."""
    return verify.load_record(root)


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


def rollback(mesh: Mesh, target: str | None = None,
             log: Callable[[str], None] = output.step) -> str:
    pub = published_dir(mesh)
    with lock(pub, log):
        return _rollback(pub, target)


def _rollback(pub: Path, target: str | None) -> str:
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
    try:
        record = read_record(pub / "snapshots" / target)
        damage = verify.snapshot_damage(pub / "snapshots" / target, record, deep=False)
    except verify.RecordError as error:
        record, damage = {}, [str(error)]
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


def last_good(pub: Path, exclude: set[str] | None = None, prefer: str | None = None
              ) -> str | None:
    """The newest kept snapshot that verifies (its record readable, its files as
    recorded, by SHA-256); ``prefer``, when kept and intact, before any other."""
    names = [n for n in reversed(snapshots(pub)) if n not in (exclude or set())]
    if prefer in names:
        names = [prefer, *(n for n in names if n != prefer)]
    for name in names:
        root = pub / "snapshots" / name
        try:
            record = read_record(root)
        except verify.RecordError:
            continue
        if not verify.snapshot_damage(root, record, deep=False):
            return name
    return None


def verify_snapshots(mesh: Mesh, target: str | None = None) -> list[tuple[str, list[str]]]:
    """(snapshot, problems) for ``target`` (default: the current one), each product
    table read back against its recorded rows and checksum, each file against its
    digest. ``current`` pointing outside published/snapshots/ is a problem of its own:
    readers do not read the snapshot it is named after."""
    pub = published_dir(mesh)
    names = snapshots(pub)
    linked = current_target(pub)
    outside = outside_problem(pub)
    if target is None:
        target = current_snapshot(pub) or (Path(linked).name if linked else None)
        if target is None:
            raise MeshError("nothing published yet: run `duckmesh build`")
        if target not in names:
            return [(target, [outside or f"published/current points at {linked}, which is "
                              "not a kept snapshot"])]
    elif target not in names:
        raise MeshError(f"unknown snapshot {target!r}: one of {names or 'none (publish first)'}")
    named_by_current = linked is not None and Path(linked).name == target
    problems = [outside] if outside and named_by_current else []
    root = pub / "snapshots" / target
    try:
        record = read_record(root)
    except verify.RecordError as error:
        return [(target, [*problems, str(error)])]
    return [(target, problems + verify.snapshot_damage(root, record))]
