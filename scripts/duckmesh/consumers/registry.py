"""Registered outside consumers: dbt projects outside this repository that read the
mesh's products (through dbt-loom, which injects the mesh's public nodes into their
manifest).

`duckmesh consumer register <manifest.json>` reads such a project's compiled manifest
once and keeps what it reads under the mesh's ``consumers/<name>.yml`` (a reviewed,
committed file, one per outside project): for each product, the version it pins (or
latest) and the columns its compiled SQL names. The impact check (impact.py) then
protects those reads like the mesh's own domains', and tells the consumer when a
version it reads is deprecated.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path

from duckmesh.consumers import reads as reads_mod
from duckmesh.consumers.reads import Read
from duckmesh.core import yamledit, yamlio
from duckmesh.core.project import Mesh, MeshError, relative

FOLDER = "consumers"
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
OWNER = re.compile(r"^\s*(?P<name>[^<>]+?)\s*<(?P<email>[^<>@\s]+@[^<>\s]+)>\s*$")
HEADER = """\
# An outside consumer of the mesh's products, registered by
# `duckmesh consumer register {source}` on {day}.
# Register it again when its project changes what it reads.
"""


def folder(mesh: Mesh) -> Path:
    return mesh.root / FOLDER


def load_manifest_file(path: Path) -> dict:
    """The dbt manifest at ``path``; one line saying why not otherwise."""
    try:
        data = json.loads(path.read_text())
    except OSError as error:
        raise MeshError(f"{path}: cannot read it ({error.strerror or error})") from None
    except ValueError:
        raise MeshError(f"{path} is not a dbt manifest: it is not JSON (pass the "
                        "manifest.json that `dbt compile` writes in the project's target/)"
                        ) from None
    schema = str(((data.get("metadata") or {}) if isinstance(data, dict) else {})
                 .get("dbt_schema_version") or "")
    if not isinstance(data, dict) or "/manifest/" not in schema \
            or not isinstance(data.get("nodes"), dict):
        raise MeshError(f"{path} is not a dbt manifest: no metadata.dbt_schema_version "
                        "naming a manifest schema and no nodes (pass the manifest.json that "
                        "`dbt compile` writes in the project's target/)")
    return data


def outside_reads(outside: dict, mesh_manifest: dict, name: str, owner: str) -> list[Read]:
    """What the outside project's own nodes read of the mesh's public products."""
    project = str((outside.get("metadata") or {}).get("project_name") or "")
    mesh_index = reads_mod.products(mesh_manifest)
    index = reads_mod.products(outside)  # the products as dbt-loom injected them
    for key, hit in mesh_index.by_relation.items():
        index.by_relation.setdefault(key, hit)
    found = []
    uncompiled = []
    for unique_id, node in (outside.get("nodes") or {}).items():
        if node.get("resource_type") not in ("model", "snapshot") \
                or node.get("package_name") != project:
            continue
        node_product_reads = reads_mod.node_reads(node, index)
        if node_product_reads and not node.get("compiled_code"):
            uncompiled.append(unique_id)
        for package, product, pinned, version, columns in node_product_reads:
            if mesh_index.get(package, product, version) is None \
                    and (package, product) not in mesh_index.versions:
                continue  # another mesh's product
            found.append(Read(name, owner, "outside", package, product, pinned, version,
                              tuple(sorted(columns)), (unique_id,)))
    if uncompiled:
        raise MeshError(f"the manifest holds no compiled SQL for {', '.join(sorted(uncompiled))}: "
                        "register the manifest of `dbt compile` (or `dbt build`), not of "
                        "`dbt parse`, so the columns it reads are known")
    return reads_mod.merge(found)


def _owner_of(outside: dict, owner: str | None) -> str:
    if owner:
        if not OWNER.match(owner):
            raise MeshError(f"--owner {owner!r}: write it as \"Team Name <team@example.com>\"")
        return owner.strip()
    project = (outside.get("metadata") or {}).get("project_name")
    for group in (outside.get("groups") or {}).values():
        if group.get("package_name") == project and (group.get("owner") or {}).get("email"):
            return reads_mod.owners({"groups": {"g": group}})[group["name"]]
    raise MeshError("the manifest names no group with an owner for its project: say who "
                    "owns it with --owner \"Team Name <team@example.com>\"")


def register(mesh: Mesh, manifest_path: Path, mesh_manifest: dict, name: str | None = None,
             owner: str | None = None,
             refuse: Callable[[list[Read]], list[str]] | None = None) -> tuple[Path, list[Read]]:
    """Record what the project of ``manifest_path`` reads; return the file and reads.
    ``refuse``: the problems of those reads against the mesh (impact.unserved): any,
    and nothing is recorded."""
    outside = load_manifest_file(manifest_path)
    name = name or str((outside.get("metadata") or {}).get("project_name") or "")
    if not NAME.match(name):
        raise MeshError(f"consumer name {name!r}: use lowercase letters, digits and "
                        "underscores (--name)")
    who = _owner_of(outside, owner)
    found = outside_reads(outside, mesh_manifest, name, who)
    if not found:
        raise MeshError(f"{manifest_path}: project {name} reads none of the mesh's public "
                        "products (no node depends on one; is dbt-loom configured with the "
                        "mesh's published manifest?)")
    problems = refuse(found) if refuse is not None else []
    if problems:
        raise MeshError(f"{manifest_path}: not registered, {len(problems)} read(s) the "
                        "published mesh does not serve:\n" + "\n".join(f"  - {p}" for p in problems))
    path = folder(mesh) / f"{name}.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"name": name, "owner": who, "reads": [
        {"product": f"{r.package}.{r.product}",
         "version": reads_mod.LATEST if r.pinned is None else r.pinned,
         "read_version": r.read_version, "columns": list(r.columns), "models": list(r.models)}
        for r in found]}
    path.write_text(HEADER.format(source=relative(manifest_path, mesh.root),
                                  day=date.today().isoformat()) + yamledit.dumps(record))
    return path, found


def load(mesh: Mesh) -> list[Read]:
    """Every registered outside consumer's reads."""
    found = []
    where = folder(mesh)
    for path in sorted(where.glob("*.yml")) if where.is_dir() else []:
        data = yamlio.loads(path.read_text()) or {}
        try:
            for entry in data.get("reads") or []:
                package, product = str(entry["product"]).split(".", 1)
                version = entry.get("version")
                pinned = None if str(version) == reads_mod.LATEST else int(version)
                found.append(Read(str(data["name"]), str(data.get("owner") or "no owner named"),
                                  "outside", package, product, pinned,
                                  int(entry.get("read_version") or pinned or 0),
                                  tuple(entry.get("columns") or ()),
                                  tuple(entry.get("models") or ())))
        except (KeyError, TypeError, ValueError) as error:
            raise MeshError(f"{relative(path, mesh.root)}: not a consumer record ({error}); "
                            "register the consumer again (duckmesh consumer register)") from None
    return found
