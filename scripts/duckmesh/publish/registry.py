"""Consumers registered with ``duckmesh publish --for NAME``: every later publish writes
their file too, until ``duckmesh publish --remove NAME`` removes it on purpose.

Kept in ``published/consumers.json`` (outside the snapshots, so a rollback does not
forget a registration), written atomically.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

from duckmesh.core.project import MeshError

FILE = "consumers.json"


def path(pub: Path) -> Path:
    return pub / FILE


def registered(pub: Path) -> dict[str, dict]:
    """name -> {registered_at}; an unreadable file is an error, never an empty list."""
    file = path(pub)
    if not file.is_file():
        return {}
    try:
        data = json.loads(file.read_text())
        consumers = data["consumers"]
        if not isinstance(consumers, dict):
            raise TypeError("consumers is not a mapping")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise MeshError(f"{file} is damaged ({error}): restore it, or delete it and register "
                        "each consumer again with `duckmesh publish --for NAME`") from error
    return consumers


def save(pub: Path, consumers: dict[str, dict]) -> None:
    file = path(pub)
    temporary = file.with_name(f".{file.name}.tmp")
    temporary.write_text(json.dumps({"consumers": consumers}, indent=2, sort_keys=True) + "\n")
    os.chmod(temporary, 0o640)
    os.replace(temporary, file)


def register(pub: Path, names: list[str]) -> None:
    consumers = registered(pub)
    new = [n for n in names if n not in consumers]
    if not new:
        return
    now = datetime.now(UTC).isoformat()
    save(pub, {**consumers, **{n: {"registered_at": now} for n in new}})


def remove(pub: Path, name: str, declared: set[str]) -> None:
    if name in declared:
        raise MeshError(f"consumer {name!r} is declared in dbt_project.yml "
                        "(vars.duckmesh_consumers): remove it there to stop publishing its file")
    consumers = registered(pub)
    if name not in consumers:
        raise MeshError(f"consumer {name!r} is not registered: registered are "
                        f"{sorted(consumers) or 'none'} (`duckmesh publish --for NAME` "
                        "registers one)")
    save(pub, {n: v for n, v in consumers.items() if n != name})
