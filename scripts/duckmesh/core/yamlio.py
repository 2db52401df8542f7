"""YAML read with libyaml's C loader (PyYAML's CSafeLoader, in the pinned wheels), the
same safe subset as ``yaml.safe_load`` at about a tenth of the time: a build reads every
domain's yml files before dbt starts."""

from __future__ import annotations

from typing import Any


def loads(text: str) -> Any:
    """``yamlio.loads(text)``, faster (raises yaml.YAMLError the same way). PyYAML is
    imported on first use: `duckmesh --help` never reads YAML (17 ms of its start)."""
    import yaml  # noqa: PLC0415

    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
