"""A product version as an ODPS-style (Open Data Product Standard) descriptor, and the
two YAML files (ODCS contract + ODPS product) the catalog writes per version."""

from __future__ import annotations

from pathlib import Path

import yaml

from duckmesh.catalog.descriptor import ProductRecord
from duckmesh.catalog.odcs import odcs_contract

ODPS_API_VERSION = "v1.0.0"


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
