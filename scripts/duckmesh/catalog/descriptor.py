"""Product descriptors: every public product version as a record built from dbt metadata
(exported by odcs.py as an ODCS v3 contract and by odps.py as an ODPS-style product).

The descriptor is derived, never hand-written: owner from the dbt group, schema from
the contract columns, SLOs and classification from ``meta``, quality checks from the
data tests, input ports from the dependency graph (looking through private models).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from duckmesh.catalog.lineage import MeshLineage

MESH_TESTS = {"unique", "not_null", "accepted_values", "relationships"}


@dataclass(frozen=True)
class Port:
    urn: str
    kind: str  # product | source | seed
    domain: str
    name: str
    relation: str  # DuckDB relation or the source's location
    unique_id: str


@dataclass(frozen=True)
class QualityCheck:
    name: str
    test: str  # dbt test name: unique, not_null, accepted_values, relationships, ...
    column: str | None
    unique_id: str
    arguments: dict
    status: str | None = None  # from run_results.json: pass, fail, warn, error, skipped


@dataclass
class ColumnRecord:
    name: str
    position: int
    data_type: str
    description: str
    primary_key: bool
    not_null: bool
    unique: bool
    classification: str | None
    lineage: list[tuple[str, str]] = field(default_factory=list)  # (input urn, column)


@dataclass
class ProductRecord:
    urn: str
    unique_id: str
    domain: str
    package: str
    name: str
    version: int
    latest_version: int
    status: str
    owner_name: str
    owner_email: str
    description: str
    schema: str
    relation: str
    latest_relation: str
    deprecation_date: str | None
    classification: str | None
    lifecycle: str | None
    slo: dict
    tags: list[str]
    primary_key: list[str]
    columns: list[ColumnRecord]
    checks: list[QualityCheck]
    inputs: list[Port]
    parquet_location: str | None = None

    @property
    def key(self) -> str:
        return f"{self.domain}.{self.name}"

    @property
    def is_latest(self) -> bool:
        return self.version == self.latest_version

    @property
    def quality_status(self) -> str | None:
        statuses = [c.status for c in self.checks if c.status]
        if not statuses:
            return None
        for worst in ("error", "fail", "warn"):
            if worst in statuses:
                return worst
        return "pass"

    @property
    def example_query(self) -> str:
        key = ", ".join(self.primary_key) or "1"
        return f"select * from {self.relation} order by {key} limit 10"


def product_urn(domain: str, name: str, version: int) -> str:
    return f"urn:duckmesh:{domain}:{name}:v{version}"


def _input_urn(node: dict, domain: str) -> str:
    if node["resource_type"] == "source":
        return f"urn:duckmesh:{domain}:source:{node['source_name']}.{node['name']}"
    if node["resource_type"] == "seed":
        return f"urn:duckmesh:{domain}:seed:{node['name']}"
    return product_urn(domain, node["name"], int(node["version"] or 1))


class Describer:
    """Builds ProductRecords from one manifest (and optionally run results and lineage)."""

    def __init__(self, manifest: dict, run_results: dict | None = None,
                 lineage: MeshLineage | None = None) -> None:
        self.manifest = manifest
        self.nodes = {**manifest["nodes"], **manifest.get("sources", {})}
        self.lineage = lineage
        self.groups = {g["name"]: g for g in manifest.get("groups", {}).values()}
        self.package_domain: dict[str, str] = {}
        for node in manifest["nodes"].values():
            if node["resource_type"] == "model" and node.get("group"):
                self.package_domain.setdefault(node["package_name"], node["group"])
        self.statuses = {r["unique_id"]: r["status"]
                         for r in (run_results or {}).get("results", [])}
        self.tests_by_model: dict[str, list[dict]] = {}
        for node in manifest["nodes"].values():
            if node["resource_type"] != "test":
                continue
            attached = node.get("attached_node")
            targets = [attached] if attached else node["depends_on"]["nodes"]
            for target in targets:
                self.tests_by_model.setdefault(target, []).append(node)

    def domain_of(self, node: dict) -> str:
        return node.get("group") or self.package_domain.get(node["package_name"],
                                                             node["package_name"])

    def port(self, unique_id: str) -> Port:
        node = self.nodes[unique_id]
        domain = self.domain_of(node)
        if node["resource_type"] != "source":  # model, seed, snapshot: schema.alias
            relation = f"{node['schema']}.{node.get('alias') or node['name']}"
        else:
            relation = node.get("relation_name") or node["name"]
            meta = node.get("meta") or (node.get("config") or {}).get("meta") or {}
            validation = meta.get("validation") or {}
            extract = validation.get("extract") or {}
            if extract:  # a legacy database's table (sources/legacy.py), not its landing
                relation = f"{extract.get('plugin')}:{extract.get('table')} " \
                           f"(${extract.get('dsn_env')})"
            elif "(" in relation:  # a file source: its files, not this machine's path
                path = validation.get("path")
                relation = (f"$DUCKMESH_DATA/{path}" if path
                            else f"{node['source_name']}.{node['name']}")
        return Port(urn=_input_urn(node, domain), kind=_kind(node), domain=domain,
                    name=node["name"] if node["resource_type"] != "source"
                    else f"{node['source_name']}.{node['name']}",
                    relation=relation, unique_id=unique_id)

    def input_ids(self, unique_id: str) -> list[str]:
        """Sources, seeds and public models reached through private models."""
        found: list[str] = []
        stack = list(self.nodes[unique_id]["depends_on"]["nodes"])
        seen = set(stack)
        while stack:
            upstream = stack.pop()
            node = self.nodes.get(upstream)
            if node is None:
                continue
            if node["resource_type"] in ("source", "seed") or (
                    node["resource_type"] == "model" and node.get("access") == "public"):
                found.append(upstream)
            elif node["resource_type"] == "model":
                for further in node["depends_on"]["nodes"]:
                    if further not in seen:
                        seen.add(further)
                        stack.append(further)
        return sorted(set(found))

    def products(self) -> list[ProductRecord]:
        records = [self.describe(node) for node in self.manifest["nodes"].values()
                   if node["resource_type"] == "model" and node.get("access") == "public"]
        return sorted(records, key=lambda r: (r.domain, r.name, r.version))

    def describe(self, node: dict) -> ProductRecord:
        domain = self.domain_of(node)
        version = int(node["version"]) if node.get("version") is not None else 1
        latest = int(node["latest_version"]) if node.get("latest_version") is not None \
            else version
        owner = (self.groups.get(node.get("group") or "", {}).get("owner") or {})
        meta = node.get("meta") or node.get("config", {}).get("meta") or {}
        deprecation = node.get("deprecation_date")
        tests = sorted(self.tests_by_model.get(node["unique_id"], []),
                       key=lambda t: t["unique_id"])
        checks = [self._check(test) for test in tests]
        primary_key = list(node.get("primary_key") or [])
        for constraint in node.get("constraints", []):
            if constraint["type"] == "primary_key" and not primary_key:
                primary_key = list(constraint.get("columns") or [])
        columns = [self._column(position, column, primary_key, checks)
                   for position, column in enumerate(node["columns"].values(), start=1)]
        relation_name = node.get("alias") or node["name"]
        record = ProductRecord(
            urn=product_urn(domain, node["name"], version),
            unique_id=node["unique_id"], domain=domain, package=node["package_name"],
            name=node["name"], version=version, latest_version=latest,
            status=_status(deprecation, meta.get("lifecycle")),
            owner_name=owner.get("name") or "", owner_email=owner.get("email") or "",
            description=" ".join((node.get("description") or "").split()),
            schema=node["schema"], relation=f"{node['schema']}.{relation_name}",
            latest_relation=f"{node['schema']}.{node['name']}",
            deprecation_date=deprecation[:10] if deprecation else None,
            classification=meta.get("classification"), lifecycle=meta.get("lifecycle"),
            slo=dict(meta.get("slo") or {}), tags=sorted(node.get("tags") or []),
            primary_key=primary_key, columns=columns, checks=checks,
            inputs=[self.port(uid) for uid in self.input_ids(node["unique_id"])])
        if self.lineage is not None:
            for column in record.columns:
                column.lineage = sorted(
                    (self.port(uid).urn, col)
                    for uid, col in self.lineage.column_inputs(node["unique_id"], column.name)
                    if uid in self.nodes)
        return record

    def _check(self, test: dict) -> QualityCheck:
        metadata = test.get("test_metadata") or {}
        kwargs = {k: v for k, v in (metadata.get("kwargs") or {}).items()
                  if k not in ("model", "column_name")}
        return QualityCheck(name=test["name"], test=metadata.get("name") or "singular",
                            column=test.get("column_name"), unique_id=test["unique_id"],
                            arguments=kwargs, status=self.statuses.get(test["unique_id"]))

    @staticmethod
    def _column(position: int, column: dict, primary_key: list[str],
                checks: list[QualityCheck]) -> ColumnRecord:
        name = column["name"]
        tested = {c.test for c in checks if c.column == name}
        constrained = {c["type"] for c in column.get("constraints", [])}
        meta = column.get("meta") or {}
        return ColumnRecord(
            name=name, position=position, data_type=column.get("data_type") or "",
            description=" ".join((column.get("description") or "").split()),
            primary_key=name in primary_key,
            not_null="not_null" in constrained or bool({"not_null", "unique_key"} & tested),
            unique=bool({"unique", "unique_key"} & tested),
            classification=meta.get("classification"))


def _kind(node: dict) -> str:
    return {"source": "source", "seed": "seed"}.get(node["resource_type"], "product")


def _status(deprecation_date: str | None, lifecycle: str | None) -> str:
    if deprecation_date:
        return "retired" if deprecation_date[:10] < date.today().isoformat() else "deprecated"
    return lifecycle or "active"
