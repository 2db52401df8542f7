"""Deciding what a publish does with each product version: build it (its model and
every attached test passed), carry the previous table, or leave it out."""

from __future__ import annotations

from dataclasses import dataclass, field

from duckmesh.core.products import ProductVersion, public_products

OK_TEST = {"pass", "warn"}
NOT_BUILT = "not built by the last dbt build"


@dataclass
class Plan:
    """What a publish does with each product version (keys: relation)."""
    build: list[ProductVersion] = field(default_factory=list)
    carry: dict[str, str] = field(default_factory=dict)  # relation -> why
    drop: dict[str, str] = field(default_factory=dict)  # relation -> why (no previous)


def plan(manifest: dict, run_results: dict | None, previous: set[str]) -> Plan:
    """Products whose model and every attached test passed in the last build are built;
    the others keep the previously published table, or are left out when there is none."""
    results = {r["unique_id"]: r for r in (run_results or {}).get("results", [])}
    failed_tests: dict[str, list[str]] = {}
    for node in [*manifest["nodes"].values(), *manifest.get("unit_tests", {}).values()]:
        parent = node.get("attached_node") or (
            node["depends_on"]["nodes"][0] if node["resource_type"] == "unit_test"
            and node.get("depends_on", {}).get("nodes") else None)
        result = results.get(node["unique_id"])
        if parent and result and result["status"] not in OK_TEST:
            failed_tests.setdefault(parent, []).append(f"{node['name']} {result['status']}")
    decided = Plan()
    for product in public_products(manifest):
        result = results.get(product.unique_id)
        if result is None:
            why = NOT_BUILT
        elif result["status"] != "success":
            why = f"model {result['status']}"
        elif product.unique_id in failed_tests:
            why = "tests failed: " + ", ".join(sorted(failed_tests[product.unique_id]))
        else:
            decided.build.append(product)
            continue
        if product.relation in previous:
            decided.carry[product.relation] = why
        else:
            decided.drop[product.relation] = why
    return decided
