"""A product version as an Open Data Contract Standard (ODCS v3) contract, validated
against the official JSON schema shipped by `open-data-contract-standard`."""

from __future__ import annotations

import json
from dataclasses import replace
from functools import lru_cache
from importlib import resources

from duckmesh.catalog.descriptor import ProductRecord, QualityCheck
from duckmesh.core.types import odcs_logical_type, odcs_physical_type

ODCS_API_VERSION = "v3.1.0"


LOGICAL_TYPES = (
    ("timestamp", "timestamp"), ("date", "date"), ("time", "time"),
    ("bool", "boolean"), ("int", "integer"), ("decimal", "number"), ("numeric", "number"),
    ("double", "number"), ("float", "number"), ("real", "number"), ("varchar", "string"),
    ("text", "string"), ("string", "string"), ("uuid", "string"), ("struct", "object"),
    ("map", "map"), ("[]", "array"), ("list", "array"),
)


def logical_type(data_type: str) -> str:
    """The ODCS logicalType: the mesh's type table first, then by the type's name."""
    harmonised = odcs_logical_type(data_type)
    if harmonised:
        return harmonised
    lowered = data_type.lower()
    if lowered.endswith("[]"):
        return "array"
    for prefix, logical in LOGICAL_TYPES:
        if lowered.startswith(prefix) or (prefix == "int" and "int" in lowered):
            return logical
    return "string"


def _qualities(check: QualityCheck) -> list[dict]:
    """A check's ODCS quality entries: the platform's unique_key test (unique and
    not_null in one query) is both library checks."""
    if check.test != "unique_key":
        return [_quality(check)]
    return [_quality(replace(check, test=test)) for test in ("unique", "not_null")]


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
            "physicalName": column.name, "physicalType": odcs_physical_type(column.data_type),
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
        quality = [q for c in record.checks if c.column == column.name for q in _qualities(c)]
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
        # the table in the servers' schema (duckdb: schema; parquet: the file's only table)
        "name": f"{record.name}_v{record.version}",
        "physicalName": record.relation.split(".", 1)[-1],
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
