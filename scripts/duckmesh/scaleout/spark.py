"""`duckmesh scale-out`: the same mesh on Apache Spark (dbt-spark), and proof that it
gives the same products as the DuckDB build.

- ``build``: the source data, dbt deps and source checks of ``duckmesh build``, then
  ``dbt build --target spark`` (a local SparkSession from pyspark, Hive metastore and
  Parquet tables under DUCKMESH_SPARK_DIR, default target/spark). dbt's artifacts go
  to target/spark/dbt, so the DuckDB build's manifest stays as it is.
- ``compare``: every public product version, read from Spark's Parquet files with
  DuckDB (what a consumer does), against the DuckDB build of the same data: rows and
  an order-independent checksum per product, and sample rows where they differ.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import time
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import duckdb

from duckmesh.build import pipeline
from duckmesh.core import builddb, fingerprint
from duckmesh.core.context import BuildContext
from duckmesh.core.output import console, format_table
from duckmesh.core.products import ProductVersion, public_products
from duckmesh.core.project import Mesh, MeshError, relative
from duckmesh.core.sql import quote_ident, sql_path

TARGET = "spark"
# Double columns are compared after rounding: the engines may differ in the last bits.
DOUBLE_DIGITS = 6


def spark_dir(mesh: Mesh) -> Path:
    return mesh.settings.spark_dir or mesh.target_dir / "spark"


def spark_target_path(mesh: Mesh) -> Path:
    return spark_dir(mesh) / "dbt"


def warehouse(mesh: Mesh) -> Path:
    return spark_dir(mesh) / "warehouse"


def data_set_record(mesh: Mesh) -> Path:
    return spark_dir(mesh) / "data_set.json"


def require_spark() -> None:
    """Java and pyspark, or a message saying how to get them."""
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise MeshError("Spark needs Java 17 and none is on PATH: install it "
                        "(Debian: apt-get install openjdk-17-jre-headless) or set JAVA_HOME")
    for module, package in (("pyspark", "pyspark"), ("dbt.adapters.spark", "dbt-spark")):
        if importlib.util.find_spec(module) is None:
            raise MeshError(f"the Spark target needs dbt-spark and pyspark ({package} is "
                            "missing): .venv/bin/pip install -c constraints.txt -e '.[spark]' "
                            "(make build-spark and make test-engines install them)")


def product_files(mesh: Mesh, product: ProductVersion) -> Path:
    """Where Spark's Parquet table of a product lives (the metastore's default layout)."""
    return warehouse(mesh) / f"{product.schema}.db" / product.relation_name


def spark_manifest(mesh: Mesh) -> dict:
    path = spark_target_path(mesh) / "manifest.json"
    if not path.exists():
        raise MeshError(f"{relative(path, mesh.root)} not found: run "
                        "`duckmesh scale-out build` first")
    return json.loads(path.read_text())


# --- build ---------------------------------------------------------------------------

def build_on_spark(mesh: Mesh, scale: float, seed: int, select: str | None = None,
                   full_refresh: bool = False) -> int:
    """`duckmesh scale-out build`: the mesh build's plan (source data, deps, the checks
    before dbt) with the Spark target; prints the products' Parquet files."""
    require_spark()
    return pipeline.run(spark_plan(mesh, pipeline.BuildOptions(scale, seed, select, full_refresh)))


def spark_plan(mesh: Mesh, options: pipeline.BuildOptions) -> pipeline.Plan:
    """The mesh's plan on the Spark target: dbt's artifacts in target/spark/dbt (the
    DuckDB build's manifest stays as it is), the data set recorded beside the warehouse,
    no governance gate or publish (nothing of Spark's is published)."""
    plan = pipeline.mesh_plan(mesh, options)
    last = fingerprint.LastBuild.read(data_set_record(mesh), warehouse(mesh), mesh.root,
                                      plan.ctx.data_dir)
    return replace(plan, scope=pipeline.Scope.SPARK, target=TARGET, last_build=last,
                   dbt_args=("--target-path", str(spark_target_path(mesh))),
                   env=lambda data: {**mesh.env(data), "DUCKMESH_SPARK_DIR": str(spark_dir(mesh))},
                   label="Spark build",
                   summary=partial(print_products, started=time.perf_counter()))


def print_products(ctx: BuildContext, started: float) -> None:
    mesh = ctx.mesh
    console().step("[4/4] data products on Spark (Parquet, read with DuckDB)")
    products = public_products(spark_manifest(mesh))
    rows = []
    for product in products:
        folder = product_files(mesh, product)
        built = folder.is_dir() and any(folder.glob("*.parquet"))
        rows.append([product.domain, product.name, f"v{product.version}",
                     f"{parquet_rows(folder):,}" if built else "not built",
                     relative(folder, mesh.root)])
    console().out(format_table(["domain", "product", "version", "rows", "parquet files"], rows))
    console().out(f"\nmesh built on Spark in {time.perf_counter() - started:.1f}s "
                  f"(dbt build {ctx.build_seconds:.1f}s): {relative(warehouse(mesh), mesh.root)}")


def parquet_rows(folder: Path) -> int:
    with duckdb.connect() as con:
        return con.execute(f"select count(*) from read_parquet({parquet_glob(folder)})"
                           ).fetchall()[0][0]


def parquet_glob(folder: Path) -> str:
    if not folder.is_dir() or not any(folder.glob("*.parquet")):
        raise MeshError(f"no Parquet files in {folder}: build it with `duckmesh scale-out "
                        "build` (with vars.duckmesh_spark_file_format: parquet)")
    return sql_path(folder / "*.parquet")


# --- compare -------------------------------------------------------------------------

@dataclass(frozen=True)
class Comparison:
    product: str  # schema.relation, e.g. sales.orders_v2
    duckdb_rows: int
    spark_rows: int
    duckdb_checksum: int
    spark_checksum: int
    only_in_duckdb: list[tuple]  # a few sample rows, normalised
    only_in_spark: list[tuple]

    @property
    def equal(self) -> bool:
        return (self.duckdb_rows == self.spark_rows
                and self.duckdb_checksum == self.spark_checksum)


def normalised(columns: dict[str, dict]) -> str:
    """One list of text values per row: instants as epoch microseconds, doubles
    rounded, everything else as DuckDB spells it, nulls kept as nulls."""
    parts = []
    for name, column in columns.items():
        data_type = (column.get("data_type") or "").lower()
        quoted = quote_ident(name)
        if data_type.startswith("timestamp"):
            parts.append(f"cast(epoch_us({quoted}) as varchar)")
        elif data_type in ("double", "float", "real", "double precision"):
            parts.append(f"cast(round({quoted}, {DOUBLE_DIGITS}) as varchar)")
        else:
            parts.append(f"cast({quoted} as varchar)")
    return "[" + ", ".join(parts) + "]"


def data_set_mismatch(mesh: Mesh) -> str | None:
    """Why the two builds cannot be equal (they read other data sets: another scale, seed
    or DUCKMESH_DATA), from each build's record; None when the same or unknown."""
    spark = data_set_record(mesh)
    duck = fingerprint.state_dir(mesh) / fingerprint.RECORD
    if not spark.is_file() or not duck.is_file():
        return None
    spark_data = json.loads(spark.read_text()).get("data_dir")
    duck_data = json.loads(duck.read_text()).get("data_dir")
    if not spark_data or not duck_data or spark_data == duck_data:
        return None
    return (f"the DuckDB build read {relative(Path(duck_data), mesh.root)} and the Spark "
            f"build {relative(Path(spark_data), mesh.root)}: other data sets, so their "
            "products differ whatever the engines do. Fix: build both from the same data "
            "(the same --scale and --seed for `duckmesh build` and `duckmesh scale-out "
            "build`), then compare")


def compare(mesh: Mesh, samples: int = 3) -> list[Comparison]:
    """Every public product version of the Spark build against the DuckDB build."""
    manifest = spark_manifest(mesh)
    if not mesh.db_path.exists():
        raise MeshError(f"{mesh.db_path} not found: run `duckmesh build` (same --scale) first")
    results = []
    with duckdb.connect() as con:
        con.execute(f"attach '{str(mesh.db_path)}' as built (read_only)")
        builddb.attach_products(con, mesh.db_path, read_only=True)
        for product in public_products(manifest):
            columns = manifest["nodes"][product.unique_id]["columns"]
            row = normalised(columns)
            con.execute(f"create or replace temp view spark_product as select {row} as r "
                        f"from read_parquet({parquet_glob(product_files(mesh, product))})")
            try:
                con.execute(f"create or replace temp view duckdb_product as select {row} as r "
                            f'from built."{product.schema}"."{product.relation_name}"')
            except duckdb.CatalogException as error:
                raise MeshError(f"{product.relation} is not in {mesh.db_path}: build the DuckDB "
                                "mesh from the same data first (duckmesh build --scale <same>)"
                                ) from error
            sums = {}
            for side in ("duckdb", "spark"):
                sums[side] = con.execute(
                    f"select count(*), coalesce(sum(hash(r)::hugeint), 0) from {side}_product"
                ).fetchall()[0]
            differ = sums["duckdb"] != sums["spark"]
            only = {}
            for side, other in (("duckdb", "spark"), ("spark", "duckdb")):
                only[side] = [tuple(r) for (r,) in con.execute(
                    f"(select r from {side}_product except all select r from {other}_product) "
                    f"limit {samples}").fetchall()] if differ else []
            results.append(Comparison(
                product=product.relation, duckdb_rows=sums["duckdb"][0],
                spark_rows=sums["spark"][0], duckdb_checksum=int(sums["duckdb"][1]),
                spark_checksum=int(sums["spark"][1]), only_in_duckdb=only["duckdb"],
                only_in_spark=only["spark"]))
    return results
