"""What each consumer reads: product, version (pinned, or latest), columns.

A *read* is one consumer (a domain of the mesh, the root project's analytics, or a
registered outside project) reading one product, either pinned to a version
(`ref('sales', 'orders', v=1)`) or through latest (`ref('sales', 'orders')`: dbt
records ``version: null`` in the node's ``refs``), and the columns its models use.
The columns come from the consumer models' compiled SQL, parsed by sqlglot
(catalog/lineage.py's ``analyse_raw``, without a schema: a ``select *`` passes names
on, so a column counts only where a query names it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from duckmesh.catalog.lineage import ROWS, RawColumns, analyse_all, analyse_raw

LATEST = "latest"


@dataclass(frozen=True)
class Version:
    """One public version of a product in a manifest."""

    package: str
    domain: str  # the owning group (analytics for the root project's products)
    name: str
    version: int
    latest: int
    columns: dict[str, str | None]  # name -> declared data_type
    deprecation_date: str | None


@dataclass
class Products:
    """The public, versioned products of one manifest."""

    versions: dict[tuple[str, str], dict[int, Version]] = field(default_factory=dict)
    by_relation: dict[str, tuple[str, str, int | None]] = field(default_factory=dict)
    by_uid: dict[str, Version] = field(default_factory=dict)

    def latest(self, package: str, name: str) -> Version | None:
        found = self.versions.get((package, name)) or {}
        if not found:
            return None
        any_version = next(iter(found.values()))
        return found.get(any_version.latest)

    def get(self, package: str, name: str, version: int) -> Version | None:
        return (self.versions.get((package, name)) or {}).get(version)

    def owner_domain(self, package: str, name: str) -> str:
        found = self.versions.get((package, name)) or {}
        return next(iter(found.values())).domain if found else package


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def products(manifest: dict) -> Products:
    found = Products()
    for unique_id, node in (manifest.get("nodes") or {}).items():
        version = _int(node.get("version"))
        if node.get("resource_type") != "model" or node.get("access") != "public" \
                or version is None:
            continue
        record = Version(
            package=node["package_name"], domain=node.get("group") or node["package_name"],
            name=node["name"], version=version,
            latest=_int(node.get("latest_version")) or version,
            columns={name.lower(): column.get("data_type")
                     for name, column in (node.get("columns") or {}).items()},
            deprecation_date=str(node["deprecation_date"])[:10]
            if node.get("deprecation_date") else None)
        found.versions.setdefault((record.package, record.name), {})[version] = record
        found.by_uid[unique_id] = record
        schema = str(node.get("schema") or "").lower()
        alias = str(node.get("alias") or f"{node['name']}_v{version}").lower()
        found.by_relation[f"{schema}.{alias}"] = (record.package, record.name, version)
        found.by_relation.setdefault(f"{schema}.{record.name.lower()}",
                                     (record.package, record.name, None))
    return found


@dataclass(frozen=True)
class Read:
    consumer: str  # a domain (marketing, analytics) or an outside project
    owner: str  # "Growth Marketing Team <growth@duckmesh.example>"
    kind: str  # "domain" (of this mesh) or "outside" (registered)
    package: str  # the product's dbt package (what ref() names)
    product: str
    pinned: int | None  # ref(..., v=N); None: latest
    read_version: int  # the version it read when its SQL was compiled
    columns: tuple[str, ...]
    models: tuple[str, ...]  # the consumer's nodes that read it

    @property
    def spec(self) -> str:
        return f"v{self.pinned} (pinned)" if self.pinned is not None else \
            f"{LATEST} (v{self.read_version})"


def owners(manifest: dict) -> dict[str, str]:
    """group name -> "Owner Name <email>"."""
    found = {}
    for group in (manifest.get("groups") or {}).values():
        owner = group.get("owner") or {}
        name, email = owner.get("name"), owner.get("email")
        found[group["name"]] = f"{name} <{email}>" if name and email else str(
            name or email or "no owner named")
    return found


def table_columns(sql: str, index: Products, raw: RawColumns | None = None
                  ) -> dict[tuple[str, str], set[str]]:
    """(package, product) -> columns one compiled query names (``raw``: its analysis,
    when already made)."""
    raw = raw or analyse_raw(sql, {})
    found: dict[tuple[str, str], set[str]] = {}
    for key, column in raw.used:
        if column == ROWS:  # rows counted (count(*)): no column of the product read
            continue
        parts = key.split(".")
        hit = index.by_relation.get(".".join(parts[-2:]))
        if hit:
            found.setdefault((hit[0], hit[1]), set()).add(column.lower())
    return found


def _ref_version(node: dict, package: str, name: str, read_version: int) -> int | None:
    """The version a node pins for ``package.name`` (None: it reads latest)."""
    specs = [_int(ref.get("version")) for ref in node.get("refs") or []
             if ref.get("name") == name and ref.get("package") in (package, None)]
    if read_version in specs:
        return read_version
    return None if None in specs or not specs else specs[0]


def pinned_version(node: dict, product: dict) -> int | None:
    """The version ``node`` pins for the product version node ``product`` (None: latest)."""
    version = _int(product.get("version"))
    return _ref_version(node, product["package_name"], product["name"], version or 0)


def reads_product(node: dict, index: Products) -> bool:
    return any((product := index.by_uid.get(upstream)) is not None
               and product.package != node.get("package_name")
               for upstream in (node.get("depends_on") or {}).get("nodes") or [])


def node_reads(node: dict, index: Products, raw: RawColumns | None = None
               ) -> list[tuple[str, str, int | None, int, set[str]]]:
    """(package, product, pinned, read version, columns) for each product one node reads
    from another package (``raw``: its compiled SQL's analysis, when already made)."""
    found = []
    used: dict[tuple[str, str], set[str]] | None = None
    for upstream in (node.get("depends_on") or {}).get("nodes") or []:
        product = index.by_uid.get(upstream)
        if product is None or product.package == node.get("package_name"):
            continue
        if used is None:
            sql = node.get("compiled_code")
            used = table_columns(sql, index, raw) if sql else {}
        pinned = _ref_version(node, product.package, product.name, product.version)
        found.append((product.package, product.name, pinned, product.version,
                      used.get((product.package, product.name), set())))
    return found


def merge(reads: list[Read]) -> list[Read]:
    """One read per (consumer, product, pin), with the columns of all its models."""
    merged: dict[tuple, Read] = {}
    for read in reads:
        key = (read.kind, read.consumer, read.package, read.product, read.pinned)
        if key in merged:
            old = merged[key]
            read = Read(old.consumer, old.owner, old.kind, old.package, old.product,
                        old.pinned, max(old.read_version, read.read_version),
                        tuple(sorted({*old.columns, *read.columns})),
                        tuple(sorted({*old.models, *read.models})))
        merged[key] = read
    return sorted(merged.values(), key=lambda r: (r.package, r.product, r.kind, r.consumer,
                                                  r.pinned or 0))


def mesh_reads(manifest: dict, fallback: dict | None = None, cache_path: Path | None = None
               ) -> list[Read]:
    """Every cross-domain read of a product by a model of the mesh (domains and the root
    project). A model without compiled SQL in ``manifest`` (not run by a selective
    build) is read from ``fallback`` (the published manifest) when that has it. With
    ``cache_path``, a query parsed by an earlier check is not parsed again (lineage.py's
    cache, keyed by the SQL)."""
    index = products(manifest)
    if fallback:  # a consumer of a version this change removes still names it
        before = products(fallback)
        for unique_id, record in before.by_uid.items():
            index.by_uid.setdefault(unique_id, record)
        for key, hit in before.by_relation.items():
            index.by_relation.setdefault(key, hit)
    owner_of = owners(manifest)
    earlier = (fallback or {}).get("nodes") or {}
    consumers = {}
    for unique_id, node in (manifest.get("nodes") or {}).items():
        if node.get("resource_type") not in ("model", "snapshot") \
                or not reads_product(node, index):
            continue
        if not node.get("compiled_code") and unique_id in earlier:
            node = {**node, "compiled_code": earlier[unique_id].get("compiled_code")}
        consumers[unique_id] = node
    parsed = analyse_all({unique_id: (node["compiled_code"], {})
                          for unique_id, node in consumers.items() if node.get("compiled_code")},
                         cache_path)
    reads = []
    for unique_id, node in consumers.items():
        domain = node.get("group") or node["package_name"]
        for package, product, pinned, read_version, columns in node_reads(
                node, index, parsed.get(unique_id)):
            reads.append(Read(domain, owner_of.get(domain, "no owner named"), "domain",
                              package, product, pinned, read_version, tuple(sorted(columns)),
                              (unique_id,)))
    return merge(reads)
