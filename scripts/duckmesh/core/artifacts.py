"""dbt's artifacts (target/manifest.json, target/run_results.json), read once."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from duckmesh.core.project import Mesh, MeshError

Manifest = dict[str, Any]
RunResults = dict[str, Any]


def load_manifest(mesh: Mesh, path: Path | None = None) -> Manifest:
    path = path or mesh.manifest_path
    if not path.exists():
        raise MeshError(f"{path} not found: run `duckmesh build` (or dbt parse) first")
    manifest: Manifest = json.loads(path.read_text())
    return manifest


def load_run_results(mesh: Mesh) -> RunResults | None:
    path = mesh.run_results_path
    return json.loads(path.read_text()) if path.exists() else None


@dataclass(frozen=True)
class Artifacts:
    """The manifest and run results of one dbt invocation."""

    manifest: Manifest
    run_results: RunResults | None

    @classmethod
    def load(cls, mesh: Mesh) -> Artifacts:
        return cls(load_manifest(mesh), load_run_results(mesh))

    @property
    def same_build(self) -> bool:
        """Both files come from the same finished ``dbt build``."""
        if self.run_results is None:
            return False
        same = (self.run_results.get("metadata", {}).get("invocation_id")
                == self.manifest.get("metadata", {}).get("invocation_id"))
        return same and self.run_results.get("args", {}).get("which") == "build"
