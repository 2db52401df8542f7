"""What of a dbt project goes into the domain: only what a dbt package needs (its
models, macros, seeds, tests, snapshots, analyses and their yml, and dbt_project.yml),
never its CI, task runner, linter or editor configuration; and none of its overrides of
dbt's naming macros, which would move the domain's relations out of its schema (P04)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from duckmesh.core.names import InvalidInput
from duckmesh.selfserve.adopt.scratch import SKIP

# dbt's default folder of each kind of file, and the dbt_project.yml key that moves it
PATH_KEYS = {
    "model-paths": ["models"], "seed-paths": ["seeds"], "test-paths": ["tests"],
    "snapshot-paths": ["snapshots"], "analysis-paths": ["analyses"],
    "macro-paths": ["macros"], "docs-paths": [],
}
# files the domain gets anew: the mesh writes its own
REPLACED = {"packages.yml": "the domain's own packages.yml lists its packages",
            "dependencies.yml": "the domain's own packages.yml lists its packages",
            "package-lock.yml": "the mesh's `dbt deps` locks the packages",
            "selectors.yml": "the domain's default selector is its own nodes"}
NAMING_MACROS = ("generate_schema_name", "generate_alias_name", "generate_database_name")
MACRO_BLOCK = re.compile(
    r"\{%-?\s*macro\s+(\w+)\s*\(.*?\{%-?\s*endmacro\s*-?%\}[ \t]*\n?", re.DOTALL)
NAMING_WHY = {
    "generate_schema_name": "it would move the domain's models out of the schema named "
                            "after the domain (P04); the mesh's own "
                            "macros/generate_schema_name.sql replaces it",
    "generate_alias_name": "it would rename the product relations <product>_v<N> the "
                           "mesh addresses them by (P04); dbt's default naming applies",
    "generate_database_name": "it would build the domain outside the mesh's database; "
                              "dbt's default (the target's database) applies",
}


def project_paths(project: dict[str, Any]) -> dict[str, list[str]]:
    return {key: [str(p) for p in project.get(key) or default]
            for key, default in PATH_KEYS.items()}


def copy_package(source: Path, folder: Path, project: dict[str, Any]) -> list[str]:
    """Copy the dbt parts of ``source`` to ``folder``; the top-level files and folders
    left out (sorted)."""
    wanted = {p.split("/")[0] for paths in project_paths(project).values() for p in paths}
    folder.mkdir(parents=True)
    left_out = []
    for item in sorted(source.iterdir()):
        if item.name in SKIP:
            continue
        if item.name == "dbt_project.yml" or (item.is_dir() and item.name in wanted):
            if item.is_dir():
                shutil.copytree(item, folder / item.name,
                                ignore=shutil.ignore_patterns(*SKIP))
            else:
                shutil.copy2(item, folder / item.name)
        elif item.name not in REPLACED:
            left_out.append(item.name + ("/" if item.is_dir() else ""))
    return left_out


def naming_overrides(folder: Path, macro_paths: list[str]) -> list[tuple[Path, str]]:
    """(file, macro) of every override of dbt's naming macros under ``macro_paths``."""
    found = []
    for macros in macro_paths:
        base = folder / macros
        for path in sorted(base.rglob("*.sql")) if base.is_dir() else []:
            found += [(path, m.group(1)) for m in MACRO_BLOCK.finditer(path.read_text())
                      if m.group(1) in NAMING_MACROS]
    return found


def refuse_naming_overrides_on_link(source: Path, macro_paths: list[str]) -> None:
    """--link keeps the project's own files: an override of dbt's naming macros cannot be
    dropped without editing the original, so adopt refuses and says why."""
    found = naming_overrides(source, macro_paths)
    if found:
        path, macro = found[0]
        raise InvalidInput(
            f"{path.relative_to(source)} overrides {macro}: in the mesh {NAMING_WHY[macro]}. "
            "With --link adopt would have to edit the original project to drop it: adopt "
            "without --link (a copy), or delete the override in the project first")


def split_macros(text: str) -> list[str]:
    """``text`` as pieces: each macro block whole, and the text between them."""
    pieces, last = [], 0
    for match in MACRO_BLOCK.finditer(text):
        pieces += [text[last:match.start()], match.group(0)]
        last = match.end()
    return [*pieces, text[last:]]


def macro_name(piece: str) -> str | None:
    match = MACRO_BLOCK.fullmatch(piece)
    return match.group(1) if match else None


def drop_naming_overrides(folder: Path, macro_paths: list[str]) -> list[str]:
    """Remove each override of dbt's naming macros from the domain's macros (the
    macro's block; the file when nothing else is left in it). Returns notes."""
    notes = []
    for path, macro in naming_overrides(folder, macro_paths):
        text = path.read_text()
        rest = "".join(piece for piece in split_macros(text) if macro_name(piece) != macro)
        relative = path.relative_to(folder)
        if re.sub(r"\{#.*?#\}", "", rest, flags=re.DOTALL).strip():
            path.write_text(rest)
            where = f"{relative}; its other macros stay"
        else:
            path.unlink()
            where = str(relative)
        notes.append(f"dropped {macro} ({where}): {NAMING_WHY[macro]}")
    return notes
