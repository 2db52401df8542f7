"""Benchmark: catalog tables and static site for a synthetic mesh of N public products.

Builds an in-memory dbt manifest shaped like the real mesh (domains as groups, each
product a private staging model over a source plus a public, contracted product that
also reads up to two products of lower-numbered domains), then times:
column lineage (sqlglot) + descriptors cold and again with the lineage cache (a rebuild
without SQL changes), the mesh_catalog tables in a fresh DuckDB file, ODCS/ODPS files
(written, then rewritten unchanged), ODCS schema validation, and the static site.

    .venv/bin/python -m benchmarks.catalog_lineage [--products 1000] [--domains 20]
Targets: catalog tables <= 2 s, site <= 10 s for 1,000 products.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from duckmesh.catalog import site
from duckmesh.catalog import store as cat

COLUMNS = [("id", "varchar"), ("customer_id", "varchar"), ("amount", "decimal(18,2)"),
           ("quantity", "integer"), ("created_at", "timestamp with time zone"),
           ("status", "varchar"), ("is_active", "boolean"), ("category", "varchar")]


def synthetic_manifest(n_products: int, n_domains: int) -> dict:
    nodes: dict[str, dict] = {}
    sources: dict[str, dict] = {}
    groups: dict[str, dict] = {}
    products: list[tuple[int, str]] = []  # (domain index, unique_id)
    for d in range(n_domains):
        domain = f"domain_{d:02d}"
        groups[f"group.{domain}.{domain}"] = {
            "name": domain, "package_name": domain, "description": f"Domain {d}.",
            "owner": {"name": f"Team {d}", "email": f"team{d}@example.com"}}
    for i in range(n_products):
        d = i % n_domains
        domain = f"domain_{d:02d}"
        name = f"product_{i:04d}"
        source_id = f"source.{domain}.raw.{name}"
        sources[source_id] = {
            "unique_id": source_id, "resource_type": "source", "package_name": domain,
            "source_name": "raw", "name": name, "columns": {},
            "relation_name": f"read_parquet('/data/{domain}/{name}/*.parquet')"}
        stg_id = f"model.{domain}.stg_{name}"
        nodes[stg_id] = _model(stg_id, domain, f"stg_{name}", "private", None,
                               f"with source as (select * from read_parquet('/data/{domain}/"
                               f"{name}/*.parquet')), renamed as (select cast(id as varchar) "
                               f"as id, cust as customer_id, amt as amount, qty as quantity, "
                               f"ts as created_at, st as status, act as is_active, cat as "
                               f"category from source) select * from renamed", [source_id])
        upstream = [uid for dd, uid in products if dd < d][-2:]
        joins = "".join(
            f" left join \"mesh\".\"{nodes[u]['schema']}\".\"{nodes[u]['alias']}\" as up{k} "
            f"on s.customer_id = up{k}.customer_id" for k, u in enumerate(upstream))
        extra = " + ".join(f"coalesce(up{k}.amount, 0)" for k in range(len(upstream)))
        sql = (f"with s as (select * from \"mesh\".\"{domain}\".\"stg_{name}\") select s.id, "
               f"s.customer_id, s.amount{' + ' + extra if extra else ''} as amount, "
               f"s.quantity, s.created_at, s.status, s.is_active, s.category from s{joins}")
        uid = f"model.{domain}.{name}.v1"
        nodes[uid] = _model(uid, domain, name, "public", 1, sql, [stg_id, *upstream])
        for column, _ in COLUMNS:
            test_id = f"test.{domain}.not_null_{name}_v1_{column}"
            if column == "id":
                nodes[test_id] = {"unique_id": test_id, "resource_type": "test",
                                  "name": f"not_null_{name}_v1_{column}",
                                  "attached_node": uid, "column_name": column,
                                  "test_metadata": {"name": "not_null", "kwargs": {}},
                                  "depends_on": {"nodes": [uid]}, "package_name": domain}
        products.append((d, uid))
    return {"nodes": nodes, "sources": sources, "groups": groups}


def _model(uid: str, domain: str, name: str, access: str, version: int | None, sql: str,
           depends: list[str]) -> dict:
    public = access == "public"
    alias = f"{name}_v{version}" if version else name
    return {
        "unique_id": uid, "resource_type": "model", "package_name": domain, "name": name,
        "alias": alias, "schema": domain, "database": "mesh", "group": domain,
        "access": access, "version": version, "latest_version": version,
        "description": f"Synthetic {name} of {domain}.", "tags": ["synthetic"],
        "meta": {"classification": "internal", "slo": {"freshness_hours": 24}},
        "relation_name": f'"mesh"."{domain}"."{alias}"', "compiled_code": sql,
        "contract": {"enforced": public}, "constraints": [],
        "primary_key": ["id"] if public else [],
        "columns": {c: {"name": c, "data_type": t, "description": f"The {c}.",
                        "constraints": [], "meta": {}} for c, t in COLUMNS} if public else {},
        "depends_on": {"nodes": depends},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--domains", type=int, default=20)
    args = parser.parse_args()
    manifest = synthetic_manifest(args.products, args.domains)
    with tempfile.TemporaryDirectory(prefix="bench-catalog-") as folder:
        out = Path(folder)
        cache = out / "lineage_cache.json"
        started = time.perf_counter()
        catalog = cat.build_catalog(manifest, cache_path=cache)
        t_cold = time.perf_counter() - started
        started = time.perf_counter()
        warm = cat.build_catalog(manifest, cache_path=cache)
        t_build = time.perf_counter() - started
        same = warm.lineage.direct == catalog.lineage.direct

        started = time.perf_counter()
        rows = cat.catalog_rows(catalog)
        with duckdb.connect(str(out / "bench.duckdb")) as con:
            cat.write_tables(con, rows)
            counts = {t: con.execute(f"select count(*) from mesh_catalog.{t}").fetchall()[0][0]
                      for t in cat.TABLES}
        t_tables = time.perf_counter() - started

        started = time.perf_counter()
        cat.write_descriptors(catalog, out / "contracts", validate=False)
        t_files = time.perf_counter() - started
        started = time.perf_counter()
        cat.write_descriptors(catalog, out / "contracts", validate=False)
        t_files_again = time.perf_counter() - started
        started = time.perf_counter()
        invalid = sum(bool(cat.validate_odcs(cat.odcs_contract(r, "mesh.duckdb")))
                      for r in catalog.records)
        t_validate = time.perf_counter() - started

        started = time.perf_counter()
        site.write_site(catalog, out / "site")
        t_site = time.perf_counter() - started
        pages = len(list((out / "site").rglob("*.html")))

    lineage_cols = counts["column_lineage"]
    print(f"synthetic mesh: {args.products} products in {args.domains} domains "
          f"({len(manifest['nodes'])} nodes)")
    print(f"  lineage + descriptors, cold        {t_cold:6.2f} s  (every model parsed, "
          f"{lineage_cols} column-lineage edges)")
    print(f"  lineage + descriptors, rebuild     {t_build:6.2f} s  (lineage cache hit, "
          f"{'same' if same else 'DIFFERENT'} lineage)")
    print(f"  mesh_catalog tables (DuckDB)       {t_tables:6.2f} s  "
          + ", ".join(f"{t}={n}" for t, n in counts.items()))
    print(f"  catalog tables total, rebuild      {t_build + t_tables:6.2f} s  (target <= 2 s; "
          f"cold {t_cold + t_tables:.2f} s)")
    print(f"  ODCS + ODPS files                  {t_files:6.2f} s  "
          f"({2 * len(catalog.records)} files; unchanged rewrite {t_files_again:.2f} s)")
    print(f"  ODCS schema validation             {t_validate:6.2f} s  ({invalid} invalid; "
          f"`catalog check` and tests, not per build)")
    print(f"  static site                        {t_site:6.2f} s  ({pages} pages, "
          f"target <= 10 s)")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
