"""Scale out: the same `dbt build` (every model, seed and test, --full-refresh) on the
embedded DuckDB and on a local Spark session (dbt-spark `session`, Parquet tables),
side by side on the same data, as a ratio; then every product compared. A single
machine is where DuckDB shines and Spark pays for its JVM, planner and shuffles: the
figure says what moving to a cluster costs before the cluster's cores pay it back."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.bench_common import (
    Figure,
    add_standard_arguments,
    dbt_env,
    median,
    remove_db,
    run_dbt,
    run_standard,
    work_copy,
)
from duckmesh.core.project import Mesh, Settings
from duckmesh.scaleout import spark as scaleout


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_standard_arguments(parser, 1, "builds per engine")
    parser.set_defaults(scale=0.1)


def run(args: argparse.Namespace) -> int:
    return run_standard(args, "scale-out", measure)


def measure(mesh: Mesh, scale: float, repeat: int, work: Path | None = None
            ) -> tuple[list[Figure], dict]:
    scaleout.require_spark()
    with work_copy(mesh, scale, work) as (copy, data_dir):
        db = copy.root / "mesh.duckdb"
        spark_dir = copy.target_dir / "spark"
        env = dbt_env(db, data_dir, {"DUCKMESH_SPARK_DIR": str(spark_dir)})
        run_dbt(copy.root, ["deps"], env)
        duck, spark = [], []
        for _ in range(repeat):
            remove_db(db)
            duck.append(run_dbt(copy.root, ["build", "--full-refresh"], env))
            spark.append(run_dbt(copy.root, [
                "build", "--full-refresh", "--target", "spark",
                "--target-path", str(spark_dir / "dbt")], env))
        compared = scaleout.compare(Mesh(copy.root, Settings(db=db, spark_dir=spark_dir)))
    tag = f"scale {scale:g}"
    equal = sum(c.equal for c in compared)
    figures = [
        Figure("scale-out", f"dbt build on DuckDB ({tag})", median(duck), samples=duck),
        Figure("scale-out", f"dbt build on Spark, local[2] ({tag})", median(spark),
               samples=spark),
        Figure("scale-out", f"Spark / DuckDB ({tag})", median(spark) / median(duck), "x",
               note="same models, seeds and tests; JVM start included"),
        Figure("scale-out", f"products equal ({tag})", float(equal), "",
               note=f"{equal} of {len(compared)} product versions"),
    ]
    details = {"scale": scale, "duckdb_seconds": duck, "spark_seconds": spark,
               "products": {c.product: {"rows": c.spark_rows, "equal": c.equal}
                            for c in compared}}
    return figures, details
