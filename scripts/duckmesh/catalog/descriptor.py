"""Product descriptors: every public product version as a record built from dbt metadata,
exported as an Open Data Contract Standard (ODCS v3) contract and an ODPS-style product.

The descriptor is derived, never hand-written: owner from the dbt group, schema from
the contract columns, SLOs and classification from ``meta``, quality checks from the
data tests, input ports from the dependency graph (looking through private models).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml

from duckmesh.catalog.lineage import MeshLineage

ODCS_API_VERSION = "v3.1.0"
ODPS_API_VERSION = "v1.0.0"
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
        if node["resource_type"] == "model":
            relation = f"{node['schema']}.{node.get('alias') or node['name']}"
        else:
            relation = node.get("relation_name") or node["name"]
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
            not_null="not_null" in constrained or "not_null" in tested,
            unique="unique" in tested, classification=meta.get("classification"))


def _kind(node: dict) -> str:
    return {"source": "source", "seed": "seed"}.get(node["resource_type"], "product")


def _status(deprecation_date: str | None, lifecycle: str | None) -> str:
    if deprecation_date:
        return "retired" if deprecation_date[:10] < date.today().isoformat() else "deprecated"
    return lifecycle or "active"


# --- ODCS v3 -------------------------------------------------------------------------

LOGICAL_TYPES = (
    ("timestamp", "timestamp"), ("date", "date"), ("time", "time"),
    ("bool", "boolean"), ("int", "integer"), ("decimal", "number"), ("numeric", "number"),
    ("double", "number"), ("float", "number"), ("real", "number"), ("varchar", "string"),
    ("text", "string"), ("string", "string"), ("uuid", "string"), ("struct", "object"),
    ("map", "map"), ("[]", "array"), ("list", "array"),
)


def logical_type(data_type: str) -> str:
    lowered = data_type.lower()
    if lowered.endswith("[]"):
        return "array"
    for prefix, logical in LOGICAL_TYPES:
        if lowered.startswith(prefix) or (prefix == "int" and "int" in lowered):
            return logical
    return "string"


def _quality(check: QualityCheck) -> dict:
    base = {"id": _stable_id(check.name), "name": check.name,
            "description": f"dbt test {check.test}"
                           + (f" on {check.column}" if check.column else "")}
    metric = {"not_null": "nullValues", "unique": "duplicateValues",
              "accepted_values": "invalidValues"}.get(check.test)
    if metric:
        quality = {**base, "type": "library", "metric": metric, "mustBe": 0}
        if check.test == "accepted_values":
            quality["arguments"] = {"validValues": list(check.arguments.get("values", []))}
        return quality
    if check.test == "relationships":
        base["description"] += (f": every value exists in {check.arguments.get('to')}"
                                f".{check.arguments.get('field')}")
    return {**base, "type": "text"}


def _stable_id(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in text)[:120]


def odcs_contract(record: ProductRecord, db_location: str) -> dict:
    """The product version as an ODCS v3 data contract."""
    properties = []
    for column in record.columns:
        prop: dict = {
            "id": _stable_id(column.name), "name": column.name,
            "physicalName": column.name, "physicalType": column.data_type,
            "logicalType": logical_type(column.data_type),
            "description": column.description, "required": column.not_null,
            "unique": column.unique,
        }
        if column.primary_key:
            prop["primaryKey"] = True
            prop["primaryKeyPosition"] = record.primary_key.index(column.name) + 1
        if column.classification or record.classification:
            prop["classification"] = column.classification or record.classification
        if column.lineage:
            prop["transformSourceObjects"] = [f"{urn}#{col}" for urn, col in column.lineage]
        quality = [_quality(c) for c in record.checks if c.column == column.name]
        if quality:
            prop["quality"] = quality
        properties.append(prop)
    table_quality = [_quality(c) for c in record.checks if not c.column]
    if "min_rows" in record.slo:
        table_quality.append({"id": "slo_min_rows", "name": "slo_min_rows",
                              "description": "SLO: minimum row count", "type": "library",
                              "metric": "rowCount",
                              "mustBeGreaterOrEqualTo": record.slo["min_rows"]})
    schema_object: dict = {
        "id": _stable_id(f"{record.name}_v{record.version}"),
        "name": f"{record.name}_v{record.version}", "physicalName": record.relation,
        "physicalType": "table", "logicalType": "object", "businessName": record.name,
        "description": record.description, "properties": properties,
    }
    if table_quality:
        schema_object["quality"] = table_quality
    servers = [{"id": "duckdb", "server": "duckdb", "type": "duckdb",
                "database": db_location, "schema": record.schema}]
    if record.parquet_location:
        servers.append({"id": "parquet", "server": "parquet", "type": "local",
                        "path": record.parquet_location, "format": "parquet"})
    description = {"purpose": record.description, "usage": record.example_query}
    if record.deprecation_date:
        description["limitations"] = (f"Deprecated: version {record.version} is removed "
                                      f"after {record.deprecation_date}; use "
                                      f"v{record.latest_version}.")
    contract: dict = {
        "apiVersion": ODCS_API_VERSION, "kind": "DataContract", "id": record.urn,
        "name": f"{record.domain}.{record.name}", "version": f"{record.version}.0.0",
        "status": record.status, "domain": record.domain, "description": description,
        "schema": [schema_object], "servers": servers,
        "team": {"name": record.owner_name or record.domain,
                 "members": [{"username": record.owner_email or record.domain,
                              "name": record.owner_name, "role": "owner"}]},
        "slaProperties": _sla(record),
        "customProperties": [
            {"property": "dbtUniqueId", "value": record.unique_id},
            {"property": "latestVersion", "value": record.latest_version},
            {"property": "lifecycle", "value": record.lifecycle or ""},
            {"property": "inputPorts", "value": [p.urn for p in record.inputs]},
        ],
    }
    if record.owner_email:
        contract["support"] = [{"id": "owner_email", "channel": "email", "tool": "email",
                                "url": f"mailto:{record.owner_email}"}]
    if record.tags:
        contract["tags"] = record.tags
    return contract


def _sla(record: ProductRecord) -> list[dict]:
    sla = []
    for key, value in sorted(record.slo.items()):
        if key == "freshness_hours":
            sla.append({"id": "freshness", "property": "latency", "value": value, "unit": "h",
                        "description": f"data is at most {value} hours old"})
        elif key != "min_rows":
            sla.append({"id": _stable_id(key), "property": key,
                        "value": value if isinstance(value, (str, int, float, bool))
                        else json.dumps(value)})
    if record.deprecation_date:
        sla.append({"id": "end_of_support", "property": "endOfSupport",
                    "value": record.deprecation_date})
    return sla


def odps_product(record: ProductRecord, contract_file: str) -> dict:
    """The product version as an ODPS-style (Open Data Product Standard) descriptor."""
    return {
        "apiVersion": ODPS_API_VERSION, "kind": "DataProduct", "id": record.urn,
        "name": record.name, "version": f"v{record.version}", "status": record.status,
        "domain": record.domain, "description": {"purpose": record.description},
        "team": {"name": record.owner_name, "members": [
            {"username": record.owner_email, "role": "owner"}]},
        "inputPorts": [{"name": p.name, "kind": p.kind, "id": p.urn, "domain": p.domain,
                        "location": p.relation} for p in record.inputs],
        "outputPorts": [{
            "name": record.name, "version": f"v{record.version}", "type": "tables",
            "contractId": record.urn, "contractFile": contract_file,
            "relation": record.relation,
            "latestRelation": record.latest_relation if record.is_latest else None,
            "parquetLocation": record.parquet_location,
        }],
        "slos": record.slo,
        "classification": record.classification,
        "deprecationDate": record.deprecation_date,
        "qualityChecks": [{"name": c.name, "test": c.test, "column": c.column}
                          for c in record.checks],
        "tags": record.tags,
    }


def descriptor_files(record: ProductRecord, db_location: str) -> dict[str, str]:
    """{relative file name: YAML text} for one product version."""
    stem = f"{record.domain}/{record.name}_v{record.version}"
    contract_file = f"{stem}.odcs.yaml"
    return {
        contract_file: _yaml(odcs_contract(record, db_location)),
        f"{stem}.odps.yaml": _yaml(odps_product(record, Path(contract_file).name)),
    }


def _yaml(document: dict) -> str:
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when available
    return yaml.dump(document, Dumper=dumper, sort_keys=False, allow_unicode=True, width=100)


@lru_cache(maxsize=1)
def odcs_schema() -> dict:
    """The official ODCS v3 JSON schema, as shipped by `open-data-contract-standard`."""
    text = resources.files("open_data_contract_standard").joinpath("schema.json").read_text()
    return json.loads(text)


@lru_cache(maxsize=1)
def _odcs_validator():
    """One validator for every contract: it keeps its resolved $refs between calls."""
    import jsonschema  # noqa: PLC0415 (only contract validation needs it; slow to import)

    validator_class = jsonschema.validators.validator_for(odcs_schema())
    return validator_class(odcs_schema())


def validate_odcs(contract: dict) -> list[str]:
    """Schema violations of an ODCS contract ([] when valid)."""
    validator = _odcs_validator()
    return [f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
            for error in sorted(validator.iter_errors(contract), key=lambda e: e.path)]
