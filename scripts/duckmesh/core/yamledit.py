"""Round-trip YAML edits that keep comments, key order and the mesh's indentation
(``  - name:`` under a key), for files people also edit by hand."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML


def _yaml() -> YAML:
    yaml = YAML()  # round-trip mode
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.preserve_quotes = True
    yaml.width = 100
    return yaml


def load(path: Path) -> Any:
    return _yaml().load(path.read_text()) if path.exists() else None


def dumps(data: Any) -> str:
    buffer = io.StringIO()
    _yaml().dump(data, buffer)
    return buffer.getvalue()


def dump(data: Any, path: Path) -> None:
    path.write_text(dumps(data))


def add_local_package(packages_yml: Path, local_path: str) -> bool:
    """Append ``- local: <local_path>`` to packages.yml; False when already there."""
    data = load(packages_yml) or {}
    entries = data.setdefault("packages", [])
    if entries is None:
        data["packages"] = entries = []
    if any(isinstance(e, dict) and e.get("local") == local_path for e in entries):
        return False
    entries.append({"local": local_path})
    dump(data, packages_yml)
    return True
