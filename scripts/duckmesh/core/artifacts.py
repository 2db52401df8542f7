"""dbt's artifacts (manifest.json, run_results.json), read once.

dbt writes both into ``target/`` on every command, so `dbt docs generate`, `dbt parse`,
`dbt run-operation` or `dbt compile` after a build replace the build's files. ``duckmesh
build`` therefore keeps its own copy of the pair it ran (``target/duckmesh/``,
``save_build_copy``), and the platform's steps (catalog, publish, observe) read
``Artifacts.load``: the pair in ``target/`` when it is one finished ``dbt build`` (a
user's own build counts, and becomes the kept copy), else that copy. Publish
(``strict``) takes the copy only when nothing since can have changed a table: a
finished command that builds nothing, or one that stopped before writing its results.
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
# dbt commands (run_results' args.which) that build no table
READ_ONLY = {"generate", "compile", "show", "list", "run-operation", "parse", "test",
             "freshness", "serve", "debug"}


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
    _keep(mesh)
    return True


def _keep(mesh: Mesh) -> None:
    folder = build_copy_dir(mesh)
    folder.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        source = mesh.target_dir / name
        if not source.is_file():
            continue
        partial = folder / f".{name}.tmp"
        shutil.copyfile(source, partial)
        os.replace(partial, folder / name)


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
        build (kept as the copy from then on), else the copy ``duckmesh build`` kept,
        else target/ as it is.

        ``strict`` (publish): the copy stands in only when no command since can have
        changed a table: target/run_results.json is from a command that builds
        nothing (docs generate, run-operation, compile, show, test, ...) or still the
        kept build's, beside a newer manifest (dbt parse, or a command that stopped
        before running anything). Otherwise a MeshError names the command."""
        target = _pair(mesh.target_dir)
        kept = _pair(build_copy_dir(mesh))
        if target is not None and target.same_build:
            if kept is None or kept.invocation != target.invocation:
                _keep(mesh)
            return target
        if kept is not None and kept.same_build:
            if not strict or target is None or target.builds_nothing or \
                    target.results_invocation == kept.invocation:
                return kept
            when = "that did not finish" if target.command == "build" else \
                "after the last build"
            raise MeshError(
                f"target/run_results.json is from a `dbt {target.command}` {when}, which "
                "may have changed tables the build's tests never saw: run `duckmesh build` "
                "(it publishes when it ends)")
        return target or cls(load_manifest(mesh), load_run_results(mesh), mesh.target_dir)

    @property
    def manifest_file(self) -> Path | None:
        return self.folder / "manifest.json" if self.folder else None

    @property
    def invocation(self) -> str | None:
        """The dbt invocation that wrote the manifest."""
        value = self.manifest.get("metadata", {}).get("invocation_id")
        return str(value) if value else None

    @property
    def results_invocation(self) -> str | None:
        """The dbt invocation that wrote the run results (None without them)."""
        value = (self.run_results or {}).get("metadata", {}).get("invocation_id")
        return str(value) if value else None

    @property
    def command(self) -> str:
        """The dbt command of the run results (``build``, ``run``, ``generate``, ...)."""
        return str((self.run_results or {}).get("args", {}).get("which") or "unknown")

    @property
    def finished(self) -> bool:
        """Both files come from one dbt command that wrote its results."""
        return self.run_results is not None and self.invocation == self.results_invocation

    @property
    def builds_nothing(self) -> bool:
        """The run results come from a dbt command that builds no table (the manifest
        may be newer: `dbt parse` writes no run results)."""
        return self.run_results is not None and self.command in READ_ONLY

    @property
    def same_build(self) -> bool:
        """Both files come from the same finished ``dbt build``."""
        return self.finished and self.command == "build"
