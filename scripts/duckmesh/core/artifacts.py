"""dbt's artifacts (manifest.json, run_results.json), read once.

dbt writes both into ``target/`` on every command, so `dbt docs generate`, `dbt parse`
or `dbt compile` after a build replace the build's files. ``duckmesh build`` therefore
keeps its own copy of the pair it ran (``target/duckmesh/``, ``save_build_copy``), and
the platform's steps (catalog, publish, observe) read ``Artifacts.load``: the pair in
``target/`` when it is one finished ``dbt build`` (a user's own build counts), else that
copy (publish only when the command since changed no table: ``strict``).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from duckmesh.core.project import Mesh, MeshError

Manifest = dict[str, Any]
RunResults = dict[str, Any]

BUILD_COPY = "duckmesh"  # target/duckmesh/: the last `duckmesh build`'s own artifacts
FILES = ("manifest.json", "run_results.json")
# dbt commands that write both artifacts and change no table
READ_ONLY = {"generate", "compile", "show", "list", "ls"}


def load_manifest(mesh: Mesh, path: Path | None = None) -> Manifest:
    path = path or mesh.manifest_path
    if not path.exists():
        raise MeshError(f"{path} not found: run `duckmesh build` (or dbt parse) first")
    manifest: Manifest = json.loads(path.read_text())
    return manifest


def load_run_results(mesh: Mesh) -> RunResults | None:
    path = mesh.run_results_path
    return json.loads(path.read_text()) if path.exists() else None


def build_copy_dir(mesh: Mesh) -> Path:
    return mesh.target_dir / BUILD_COPY


def save_build_copy(mesh: Mesh) -> bool:
    """Copy the pair dbt just wrote to ``target/duckmesh/`` (each file atomically) when
    it is one finished ``dbt build``; a build that failed before dbt wrote its results
    (a governance or parse error) leaves the last copy as it is. True when copied."""
    written = _pair(mesh.target_dir)
    if written is None or not written.same_build:
        return False
    folder = build_copy_dir(mesh)
    folder.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        source = mesh.target_dir / name
        if not source.is_file():
            continue
        partial = folder / f".{name}.tmp"
        shutil.copyfile(source, partial)
        os.replace(partial, folder / name)
    return True


def _pair(folder: Path) -> Artifacts | None:
    manifest_file, results_file = (folder / name for name in FILES)
    if not manifest_file.is_file():
        return None
    manifest = json.loads(manifest_file.read_text())
    results = json.loads(results_file.read_text()) if results_file.is_file() else None
    return Artifacts(manifest, results, folder)


@dataclass(frozen=True)
class Artifacts:
    """The manifest and run results of one dbt invocation (``folder``: where they are)."""

    manifest: Manifest
    run_results: RunResults | None
    folder: Path | None = None

    @classmethod
    def load(cls, mesh: Mesh, strict: bool = False) -> Artifacts:
        """The artifacts of the last build: target/ when it holds one finished dbt
        build, else the copy ``duckmesh build`` kept, else target/ as it is.

        ``strict`` (publish): the copy only stands in for a finished command that
        changes no table (docs generate, compile, show, ...); after an interrupted
        build target/ is returned as it is, and its pair does not match."""
        target = _pair(mesh.target_dir)
        if target is not None and target.same_build:
            return target
        kept = _pair(build_copy_dir(mesh))
        if kept is not None and (not strict or (target is not None and target.read_only)):
            return kept
        return target or cls(load_manifest(mesh), load_run_results(mesh), mesh.target_dir)

    @property
    def manifest_file(self) -> Path | None:
        return self.folder / "manifest.json" if self.folder else None

    @property
    def read_only(self) -> bool:
        """Both files come from one finished dbt command that builds no table."""
        if self.run_results is None:
            return False
        same = (self.run_results.get("metadata", {}).get("invocation_id")
                == self.manifest.get("metadata", {}).get("invocation_id"))
        return same and self.run_results.get("args", {}).get("which") in READ_ONLY

    @property
    def same_build(self) -> bool:
        """Both files come from the same finished ``dbt build``."""
        if self.run_results is None:
            return False
        same = (self.run_results.get("metadata", {}).get("invocation_id")
                == self.manifest.get("metadata", {}).get("invocation_id"))
        return same and self.run_results.get("args", {}).get("which") == "build"
