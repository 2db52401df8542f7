"""A product version as an Open Data Product Standard (ODPS v1.0.0) descriptor, valid
against the standard's JSON schema, and the two YAML files (ODCS contract + ODPS
product) the catalog writes per version."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from duckmesh.catalog.descriptor import Port, ProductRecord
from duckmesh.catalog.odcs import odcs_contract

ODPS_API_VERSION = "v1.0.0"


def _custom(values: dict) -> list[dict]:
    """ODPS customProperties (key/value pairs) of the values that are set."""
    return [{"property": key, "value": value} for key, value in values.items()
            if value not in (None, [], {}, "")]


def _port_version(port: Port) -> str:
    """An upstream product port's version (v<N>, from its URN); sources and seeds have
    none of their own."""
    last = port.urn.rsplit(":", 1)[-1]
    return last if port.kind == "product" and last.startswith("v") else "unversioned"


def odps_product(record: ProductRecord, contract_file: str) -> dict:
    """The product version as an Open Data Product Standard v1.0.0 descriptor (valid
    against its official JSON schema): what ODPS has no key for goes into
    ``customProperties``."""
    description = {"purpose": record.description, "usage": record.example_query}
    if record.deprecation_date:
        description["limitations"] = (f"Deprecated: version {record.version} is removed "
                                      f"after {record.deprecation_date}; use "
                                      f"v{record.latest_version}.")
    member = {"username": record.owner_email or record.domain, "role": "owner"}
    if record.owner_name:
        member["name"] = record.owner_name
    output_port: dict = {
        "name": record.name, "version": f"v{record.version}", "type": "tables",
        "description": f"{record.relation} in the mesh database"
                       + (f", Parquet at {record.parquet_location}"
                          if record.parquet_location else ""),
        "contractId": record.urn,
        "customProperties": _custom({
            "contractFile": contract_file, "relation": record.relation,
            "latestRelation": record.latest_relation if record.is_latest else None,
            "parquetLocation": record.parquet_location}),
    }
    upstream = [p for p in record.inputs if p.kind == "product"]
    if upstream:
        output_port["inputContracts"] = [{"id": p.urn, "version": _port_version(p)}
                                         for p in upstream]
    product: dict = {
        "apiVersion": ODPS_API_VERSION, "kind": "DataProduct", "id": record.urn,
        "name": record.name, "version": f"v{record.version}", "status": record.status,
        "domain": record.domain, "description": description,
        "team": {"name": record.owner_name or record.domain, "members": [member]},
        "inputPorts": [{"name": p.name, "version": _port_version(p), "contractId": p.urn,
                        "customProperties": _custom({"kind": p.kind, "domain": p.domain,
                                                     "location": p.relation})}
                       for p in record.inputs],
        "outputPorts": [output_port],
        "customProperties": _custom({
            "slos": record.slo, "classification": record.classification,
            "lifecycle": record.lifecycle, "deprecationDate": record.deprecation_date,
            "qualityChecks": [{"name": c.name, "test": c.test, "column": c.column}
                              for c in record.checks]}),
    }
    if record.owner_email:
        product["support"] = [{"channel": "email", "tool": "email",
                               "url": f"mailto:{record.owner_email}"}]
    if record.tags:
        product["tags"] = record.tags
    return product


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


ODPS_SCHEMA = Path(__file__).parent / "schemas" / "odps-json-schema-v1.0.0.json"


@lru_cache(maxsize=1)
def _odps_validator() -> Any:
    """The official ODPS v1.0.0 JSON schema (schemas/, Apache-2.0: ODPS-LICENSE)."""
    import jsonschema  # noqa: PLC0415 (only validation needs it; slow to import)

    schema = json.loads(ODPS_SCHEMA.read_text())
    return jsonschema.validators.validator_for(schema)(schema)


def validate_odps(product: dict) -> list[str]:
    """Schema violations of an ODPS descriptor ([] when valid)."""
    return [f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
            for error in sorted(_odps_validator().iter_errors(product),
                                key=lambda e: list(map(str, e.path)))]
