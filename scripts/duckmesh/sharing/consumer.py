"""`duckmesh consumer init`: a starter dbt project outside the repository that reads the
mesh's products through dbt-loom, from a published folder (``published/`` or a `duckmesh
pull` copy) or straight from an object store (docs/sharing.md)."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from duckmesh.core import templates
from duckmesh.core.project import MeshError
from duckmesh.sharing import store

TEMPLATES = Path(__file__).parent / "templates" / "consumer"
PORTS_MACRO = "duckmesh_ports.sql"


@dataclass(frozen=True)
class Product:
    """A public product of the manifest, as a consumer names it (``domain.product``)."""

    schema: str
    name: str
    package: str
    deprecated_versions: tuple[int, ...]

    @property
    def id(self) -> str:
        return f"{self.schema}.{self.name}"


def products_of(manifest: dict) -> dict[str, Product]:
    """``domain.product`` -> Product, from the public, versioned models of a manifest."""
    nodes: dict[str, list[dict]] = {}
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") == "model" and node.get("access") == "public":
            nodes.setdefault(f"{node['schema']}.{node['name']}", []).append(node)
    return {pid: Product(found[0]["schema"], found[0]["name"], found[0]["package_name"],
                         tuple(sorted(n["version"] for n in found
                                      if n.get("deprecation_date") and n.get("version"))))
            for pid, found in sorted(nodes.items())}


def packages_read(manifest: dict, chosen: list[Product]) -> list[str]:
    """The packages dbt-loom must load for ``chosen``: theirs and those of every public
    product they read (dbt-loom keeps a product's dependencies on other products, and
    dbt stops on one whose package was left out: "... which is not in the graph")."""
    nodes = manifest.get("nodes", {})
    todo = [uid for uid, node in nodes.items()
            if node.get("resource_type") == "model" and node.get("access") == "public"
            and f"{node['schema']}.{node['name']}" in {p.id for p in chosen}]
    seen: set[str] = set()
    while todo:
        uid = todo.pop()
        if uid in seen:
            continue
        seen.add(uid)
        todo += [d for d in (nodes[uid].get("depends_on") or {}).get("nodes", [])
                 if nodes.get(d, {}).get("access") == "public"]
    return sorted({nodes[uid]["package_name"] for uid in seen})


def project_name(folder: Path) -> str:
    """A dbt project name from the folder's name (letters, digits, underscores)."""
    name = re.sub(r"[^a-z0-9_]+", "_", folder.name.lower()).strip("_")
    if not name or not name[0].isalpha():
        name = f"consumer_{name}".rstrip("_")
    return name


def _manifest(source: str, reader: str | None) -> tuple[dict, dict]:
    """The manifest of the source and what the profile needs to read it."""
    if store.is_store(source):
        location = store.Location.parse(source)
        s3 = store.client()
        with store.errors(s3, location, lambda: "nothing written"):
            store.check_bucket(s3, location)
            found = store.read_json(s3, location, store.MANIFEST)
        if found is None:
            raise MeshError(f"nothing shared at {location}: no {store.MANIFEST}; publish there "
                            f"with `duckmesh publish --to {location}`")
        if reader is not None:
            raise MeshError("--as reads a consumer's own file of a published folder; from a "
                            "store, consumers read the public Parquet ports")
        return found[0], {"store": str(location), "bucket": location.bucket,
                          "manifest_key": location.key(store.MANIFEST)}
    folder = Path(source).expanduser().resolve()
    manifest_path = folder / store.MANIFEST
    if not manifest_path.is_file() or not (folder / "mesh.duckdb").is_file():
        raise MeshError(f"{folder} is not a published folder (no manifest.json and mesh.duckdb): "
                        "give the mesh's published/ folder, a `duckmesh pull` copy or "
                        "s3://BUCKET/PREFIX with --from")
    database = folder / "mesh.duckdb"
    if reader is not None:
        database = folder / "consumers" / reader / "mesh.duckdb"
        if not database.is_file():
            known = sorted(p.name for p in (folder / "consumers").iterdir()) \
                if (folder / "consumers").is_dir() else []
            raise MeshError(f"{folder} has no file for consumer {reader!r}: one of "
                            f"{', '.join(known) or 'none'} (`duckmesh publish --for {reader}` "
                            "writes one)")
    return json.loads(manifest_path.read_text()), {
        "store": None, "manifest_path": json.dumps(str(manifest_path)),
        "database_path": json.dumps(str(database))}


def init(folder: Path, source: str, wanted: list[str], reader: str | None = None) -> list[Path]:
    """Write the starter project into ``folder``; return the files written. ``reader``:
    attach that consumer's own file (what it may read, masked) instead of the published
    database."""
    manifest, where = _manifest(source, reader)
    products = products_of(manifest)
    if not products:
        raise MeshError(f"{source} publishes no public products: run `duckmesh build` first")
    unknown = sorted(set(wanted) - set(products))
    if unknown:
        raise MeshError(f"unknown product(s) {', '.join(unknown)}: use domain.product, one of "
                        f"{', '.join(products)}")
    chosen = [products[p] for p in wanted] if wanted else list(products.values())
    databases = sorted(set(store.databases_of(manifest).values()))
    folder = folder.expanduser().resolve()
    name = project_name(folder)
    first = chosen[0]
    outputs = {
        "dbt_project.yml": "dbt_project.yml.j2",
        "dbt_loom.config.yml": "dbt_loom.config.yml.j2",
        "profiles.yml": "profiles.yml.j2",
        "models/_groups.yml": "groups.yml.j2",
        f"models/sample_{first.name}.sql": "sample_model.sql.j2",
    }
    present = sorted(f for f in [*outputs, f"macros/{PORTS_MACRO}"] if (folder / f).exists())
    if present:
        raise MeshError(f"{folder} already has {', '.join(present)}: remove them or choose "
                        "another folder")
    values = {"name": name, "databases": databases,
              "packages": packages_read(manifest, chosen) if wanted else [],
              "schemas": sorted({p.schema for p in chosen}),
              "product": first.id, "package": first.package, "model": first.name,
              "bucket": None, "manifest_key": None, "manifest_path": None,
              "database_path": None, **where}
    written = []
    for target, template in outputs.items():
        path = folder / target
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(templates.render(TEMPLATES, template, **values))
        written.append(path)
    if where["store"]:
        macro = folder / "macros" / PORTS_MACRO
        macro.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(TEMPLATES / PORTS_MACRO, macro)
        written.append(macro)
    return written
