"""`duckmesh bench`: performance and scale benchmarks (scripts that print figures).

The benchmarks live apart from the product (scripts/benchmarks/); `duckmesh bench`
imports this module only when it runs.

Subcommands:
  synthetic   write a synthetic mesh (N models over D domains) to a folder
  engine      full mesh build vs. the same compiled SQL run directly in DuckDB
  platform    governance / catalog / observability / publish as shares of the build
  scale       parse / governance / catalog times of synthetic meshes of growing size
  noop        a second build with no changes (state:modified selection)
  consumer    typical consumer queries on the published vs. the build database
  scale-out   the same dbt build on DuckDB and on local Spark, and the products compared
  warehouses  the mesh built on DuckDB, fakesnow and crucible (Snowflake, BigQuery emulators)
  domain      one domain built alone (upstream from the publish) against the whole mesh
  growth      floor / dbt build / whole duckmesh build of a new data set, scales 1, 10
  peer        the same models as a plain dbt project (no hooks) against DuckMesh's build
  probe       the bad-input matrix: every broken source file, one build each;
              then the trust cases (salt, file modes, query sandbox, bad input)
  share       upload and pull of a snapshot to and from moto's S3 against a local copy
  legacy      landing a PostgreSQL table against reading the same rows from Parquet
  all         every benchmark above; one table, JSON in target/bench/

Figures are wall-clock medians; they depend on the machine (see BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

from duckmesh.core.project import MeshError


def _engine() -> ModuleType:
    from benchmarks import bench_engine
    return bench_engine


def _platform() -> ModuleType:
    from benchmarks import bench_platform
    return bench_platform


def _scale() -> ModuleType:
    from benchmarks import bench_scale
    return bench_scale


def _noop() -> ModuleType:
    from benchmarks import bench_noop
    return bench_noop


def _consumer() -> ModuleType:
    from benchmarks import bench_consumer
    return bench_consumer


def _scale_out() -> ModuleType:
    from benchmarks import bench_scaleout
    return bench_scaleout


def _warehouses() -> ModuleType:
    from benchmarks import bench_warehouses
    return bench_warehouses


def _domain() -> ModuleType:
    from benchmarks import bench_domain
    return bench_domain


def _growth() -> ModuleType:
    from benchmarks import bench_growth
    return bench_growth


def _peer() -> ModuleType:
    from benchmarks import bench_peer
    return bench_peer


def _cli_start() -> ModuleType:
    from benchmarks import bench_cli
    return bench_cli


def _probe() -> ModuleType:
    from benchmarks import probe
    return probe


def _share() -> ModuleType:
    from benchmarks import bench_share
    return bench_share


def _legacy() -> ModuleType:
    from benchmarks import bench_legacy
    return bench_legacy


def _all() -> ModuleType:
    from benchmarks import bench_all
    return bench_all


# name -> (help, loader); each module has add_arguments(parser) and run(args) -> int
BENCHMARKS: dict[str, tuple[str, Callable[[], ModuleType]]] = {
    "engine": ("dbt build vs. the same SQL run directly in DuckDB", _engine),
    "platform": ("platform steps as a share of the build", _platform),
    "scale": ("parse/governance/catalog times of synthetic meshes", _scale),
    "noop": ("no-op rebuild with state:modified selection", _noop),
    "consumer": ("consumer query latency, published vs. build database", _consumer),
    "scale-out": ("the same dbt build on DuckDB and on a local Spark", _scale_out),
    "warehouses": ("the mesh on DuckDB and the Snowflake and BigQuery emulators", _warehouses),
    "domain": ("one domain built alone against the whole mesh; parse", _domain),
    "growth": ("floor, dbt build, duckmesh build of new data at scales 1/10, per M orders",
               _growth),
    "peer": ("the same models as a plain dbt project (no hooks) vs DuckMesh", _peer),
    "cli-start": ("duckmesh --help / query start-up vs. python -c pass", _cli_start),
    "probe": ("the bad-input matrix, one build per broken file", _probe),
    "share": ("upload and pull of a snapshot (moto S3) against a local copy; a change",
              _share),
    "legacy": ("landing a PostgreSQL table against reading the same rows from Parquet",
               _legacy),
    "all": ("every benchmark; one table and target/bench/*.json", _all),
}


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="duckmesh bench",
        description="Benchmarks that print a table and write JSON to target/bench/. "
                    "Not tests: figures depend on the machine.")
    commands = root.add_subparsers(dest="bench_command", metavar="BENCHMARK")

    synthetic = commands.add_parser(
        "synthetic", help="write a synthetic mesh of N models",
        description="Write a complete synthetic mesh (root project + domains as local "
                    "packages, stg -> int -> products, cross-domain refs) to --out.")
    synthetic.add_argument("--models", type=int, required=True, help="models in total")
    synthetic.add_argument("--domains", type=int, default=10, help="domains (default 10)")
    synthetic.add_argument("--out", type=Path, required=True, help="output folder (replaced)")
    synthetic.set_defaults(func=run_synthetic)

    for name, (help_text, load) in BENCHMARKS.items():
        # no -h of its own: `duckmesh bench NAME --help` reaches the benchmark's own
        # parser (main), which lists its options
        sub = commands.add_parser(name, help=help_text, add_help=False)
        sub.set_defaults(load=load)
    return root


def main(argv: Sequence[str], project_dir: str | None = None) -> int:
    """`duckmesh bench ARGS`: parse ``argv`` and run one benchmark."""
    root = parser()
    known, _ = root.parse_known_args(list(argv))
    load = getattr(known, "load", None)
    if load is not None:  # the benchmark's own arguments, from its module
        module = load()
        sub = argparse.ArgumentParser(prog=f"duckmesh bench {known.bench_command}",
                                      description=module.__doc__,
                                      formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(sub)
        args = sub.parse_args(list(argv)[1:])
        args.project_dir = project_dir
        return int(module.run(args) or 0)
    args = root.parse_args(list(argv))
    if not getattr(args, "func", None):
        root.print_help()
        return 2
    args.project_dir = project_dir
    return int(args.func(args) or 0)


def run_synthetic(args: argparse.Namespace) -> int:
    from benchmarks import synthetic

    try:
        dest = synthetic.write_synthetic_mesh(args.out, args.models, args.domains)
    except ValueError as error:
        raise MeshError(str(error)) from error
    mesh = synthetic.describe(dest)
    print(f"synthetic mesh: {mesh.model_count} models in {len(mesh.domains)} domains "
          f"-> {dest}")
    print(f"build it: cd {dest} && DUCKMESH_DB=$PWD/mesh.duckdb dbt deps --profiles-dir "
          "profiles && DUCKMESH_DB=$PWD/mesh.duckdb dbt build --profiles-dir profiles")
    return 0
