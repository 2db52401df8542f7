"""A publish that would change nothing publishes nothing new.

The current snapshot stays when this publish would write the same one again: every
product version of the plan either passed or is held back (carried: a new snapshot
would take the current one's table and port as they are; nothing left out), each that
passed with the rows,
checksum (from the quality gates' scan) and columns of its current entry, built in the
current snapshot; the same product definitions (``manifest_digest``), dbt packages, data
set, file modes and consumers, and every select list (the Parquet ports' and each
consumer's: access, masking and lineage) as recorded; the consumer files read the ports
of this very folder (not of one it was copied from). Every file of the current snapshot
(database, ports, consumer files, manifest) must still hash to the SHA-256 recorded when
it was written (publish.verify.content_damage; a size other than recorded fails it
without reading, an equal size and modification time never pass it): a file changed
since makes a new snapshot, which rewrites it from the build. Anything else, or a
snapshot written before these were recorded, makes a new snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from duckmesh.core import fingerprint
from duckmesh.core.products import ProductVersion
from duckmesh.publish import access, files, verify
from duckmesh.publish.gates import GateResult
from duckmesh.publish.plan import Plan
from duckmesh.publish.ports import Guard

# fields of a product's manifest node (and of its config) that say where and whether
# this build wrote it, not what it is: a build into another database file, a full parse
# or a model skipped for a failure upstream (never compiled) changes only these
WHERE_BUILT = frozenset({"created_at", "database", "relation_name", "compiled_code",
                         "compiled", "compiled_path", "build_path", "extra_ctes",
                         "extra_ctes_injected"})


def manifest_digest(manifest: dict) -> str:
    """SHA-256 of the public model nodes (what governance P09 and `governance diff` read
    from the published manifest), without the fields in WHERE_BUILT."""
    public = {unique_id: {k: v for k, v in node.items() if k not in WHERE_BUILT}
              for unique_id, node in manifest["nodes"].items()
              if node.get("resource_type") == "model" and node.get("access") == "public"}
    for node in public.values():
        node["config"] = {k: v for k, v in (node.get("config") or {}).items()
                          if k not in WHERE_BUILT}
    return fingerprint.json_digest(public)


@dataclass(frozen=True)
class Publish:
    """What this publish would write, to compare with the current snapshot."""

    decided: Plan
    gated: GateResult
    consumers: list[str]
    manifest_digest: str
    data_set: str | None
    file_modes: dict
    packages: dict[str, Path]  # name -> the dbt package's folder (files.write_packages)
    catalog_digest: str = ""  # the catalog the snapshot carries (catalog.store.rows_digest)


def why_new(current: str, root: Path, record: dict, wanted: Publish) -> str | None:
    """Why a new snapshot is needed instead of ``current`` (at ``root``, its publish.json
    ``record``), without reading lineage; None: possibly unchanged (``why_access_new``
    decides)."""
    decided, previous = wanted.decided, record.get("products") or {}
    if "manifest_digest" not in record:
        return "the current snapshot was written before unchanged ones were kept"
    if decided.drop:
        return "product versions left out"
    if set(previous) != {p.relation for p in decided.build} | set(decided.carry):
        return "other product versions"
    for product in decided.build:
        why = _entry_changed(product, previous[product.relation], wanted.gated, current)
        if why:
            return f"{product.relation} {why}"
    for key, value, what in (
            ("manifest_digest", wanted.manifest_digest,
             "product definitions changed in the manifest (docs, tests or config)"),
            ("file_modes", wanted.file_modes, "file modes changed"),
            ("catalog_digest", wanted.catalog_digest,
             "the catalog changed (owners, descriptions, checks, lineage or consumers)"),
            ("data_set", wanted.data_set or record.get("data_set"), "another data set")):
        if record.get(key) != value:
            return what
    if sorted(record.get("consumer_tables") or {}) != wanted.consumers:
        return "other consumers"
    if not _ports_here(root, record):
        return "published/ was moved or copied: consumer files read ports elsewhere"
    if not files.same_packages(wanted.packages, root / "packages"):
        return "dbt packages changed"
    if verify.MANIFEST not in (record.get("files") or {}):
        return "the current snapshot was written before its manifest was hashed"
    damage = verify.content_damage(root, record)  # last: it reads every file
    if damage:
        return f"the current snapshot changed since it was published ({'; '.join(damage)})"
    return None


def _ports_here(root: Path, record: dict) -> bool:
    """Do the consumer files' views read this snapshot's ports (by absolute path), not
    those of the folder it was copied from?"""
    entries = record.get("products") or {}
    for tables in (record.get("consumer_tables") or {}).values():
        for relation, table in tables.items():
            if "port" in table and (relation not in entries or Path(table["port"]).resolve()
                                    != (root / verify.port_file(entries[relation])).resolve()):
                return False
    return True


def _entry_changed(product: ProductVersion, entry: dict, gated: GateResult,
                   current: str) -> str | None:
    rows, checksum = gated.measured[product.relation]
    if entry.get("origin_snapshot") != current:
        return f"carried from {entry.get('origin_snapshot')}, now built"
    if (entry.get("rows"), entry.get("checksum")) != (rows, checksum):
        return "data changed (rows or checksum)"
    if entry.get("columns") != gated.columns.get(product.relation):
        return "columns changed"
    if (entry.get("domain"), entry.get("product"), entry.get("version"), entry.get("latest"),
            entry.get("unique_id")) != (product.domain, product.name, product.version,
                                        product.is_latest, product.unique_id):
        return "version or latest changed"
    return None


def why_access_new(record: dict, wanted: Publish, guard: Guard) -> str | None:
    """Why the select lists (guard: its lineage read) differ from the current snapshot's:
    a port's or a consumer's; None when every one is as recorded."""
    entries = record["products"]
    for product in wanted.decided.build:
        entry = entries[product.relation]
        columns = [(str(c), str(t)) for c, t in entry["columns"]]
        if guard.select(product.unique_id, None, columns) != entry.get("port_select"):
            return f"the port of {product.relation} selects other columns"
    for consumer, tables in sorted((record.get("consumer_tables") or {}).items()):
        readable = {}
        for relation, entry in entries.items():
            policy = guard.policies.get(entry["unique_id"])
            if policy is not None and access.may_read(policy, consumer, guard.groups):
                readable[relation] = [(str(c), str(t)) for c, t in entry["columns"]]
        if set(readable) != set(tables):
            return f"{consumer} may read other products"
        for relation, columns in readable.items():
            select = guard.select(entries[relation]["unique_id"], consumer, columns)
            if select != tables[relation].get("select"):
                return f"{consumer} sees other columns of {relation}"
    return None
