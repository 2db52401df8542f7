"""Shared fixtures: a copy of the mesh in a temporary folder, built once per session.

Tests never write into the checked-in tree. ``copy_mesh`` copies the dbt project (not
the platform's code, the tests or build output); ``built_mesh`` builds one copy per
session and ``clone_built`` copies it cheaply for a test that changes it. ``duckmesh``
runs the CLI and ``dbt_cli`` (``project_dbt`` at a project's root) runs plain dbt, both
in this process through the platform's one dbt runner (core/dbt.py), with os.environ as
a child process would see it: no interpreter start and dbt import per call. A build on
Spark and the benchmarks run in a fresh process.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from duckmesh.cli import main
from duckmesh.core import builddb

REPO = Path(__file__).resolve().parents[1]
# a CI runner is a clean clone (no .duckmesh/pii_salt) with CI=true, where a build refuses
# to make a salt up: the test suite is its own secret store (test_privacy removes it
# where it checks that refusal). 32 random bytes, as every salt must hold (core/salt.py
# refuses a patterned one such as "5a17" * 16); a test value, known to everyone
TEST_SALT = "1e32ea697af343cf77cef92b9f7848a257b8d71a068c5efaeb5e0d418fe6b769"
os.environ.setdefault("DUCKMESH_PII_SALT", TEST_SALT)
TEST_SCALE = 0.01  # 1,000 customers, 10,000 orders: a few seconds to build
# a worker runs dbt, its manifests and DuckDB results in this process, one test after
# another: with the default thresholds (700, 10, 10) the cyclic collector took about a
# tenth of the workers' CPU, mostly full collections over dbt's objects; collecting
# less often halves that (docs/performance-history.md, "Test loop")
gc.set_threshold(50_000, 20, 100)
# the platform's code, the tests, tools' and builds' folders: not part of a mesh
SKIP = {".venv", ".venv-contracts", ".venv-consumer", ".venv-snowflake", ".venv-bigquery",
        ".git", ".ci", ".duckmesh", "data",
        "target", "dbt_packages", "logs", "published",
        ".pytest_cache", "__pycache__", "test-artifacts", "scripts", "tests", ".ruff_cache",
        ".mypy_cache"}
# commands run in a fresh process: a build on Spark (its session's warehouse is fixed
# when the JVM starts) and the benchmarks (which time fresh processes themselves)
FRESH_PROCESS = {("bench",), ("scale-out", "build")}


# what the public Parquet ports hide: columns restricted to some
# readers (customers' email_hash; customer_360's columns from customers, P12)
PORT_MASKED = {
    "customers.customers_v1": {"email_hash": "varchar"},
    "analytics.customer_360_v1": {"country_code": "varchar", "customer_segment": "varchar",
                                  "signup_date": "date", "is_marketing_opt_in": "boolean"},
    # a count of customers.customers' rows (restrictions follow counts)
    "analytics.executive_kpis_v1": {"new_customer_count": "bigint"},
}


def masked(relation: str, source: str | None = None) -> str:
    """``relation`` (or ``source``) as its public port holds it."""
    columns = PORT_MASKED.get(relation)
    if not columns:
        return source or relation
    nulls = ", ".join(f"cast(null as {t}) as {c}" for c, t in columns.items())
    return f"(select * replace ({nulls}) from {source or relation})"


def product_relations(con: object) -> set[str]:
    """The product relations a published file holds (a DuckDB connection): its tables and,
    in a consumer file, its views over Parquet ports; not the latest-version alias views,
    the ``_duckmesh`` metadata or the catalog (``mesh_catalog``)."""
    rows = con.execute(  # type: ignore[attr-defined]
        "select t.table_schema, t.table_name, t.table_type, v.sql "
        "from information_schema.tables as t left join duckdb_views() as v "
        "on v.database_name = t.table_catalog and v.schema_name = t.table_schema "
        "and v.view_name = t.table_name "
        "where t.table_schema not in ('_duckmesh', 'mesh_catalog')").fetchall()
    return {f"{schema}.{name}" for schema, name, kind, sql in rows
            if kind == "BASE TABLE" or "read_parquet(" in (sql or "")}


def copy_mesh(dest: Path) -> Path:
    """Copy the checked-in mesh (the dbt projects and their config) to ``dest``."""

    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = {n for n in names if n in SKIP or n.endswith((".duckdb", ".duckdb.wal"))}
        if Path(folder).resolve() == REPO:
            skipped |= {n for n in names if n.endswith((".egg-info", ".md"))}
        return skipped

    shutil.copytree(REPO, dest, ignore=ignore, symlinks=False)
    return dest


def clone_built(src: Path, dest: Path,
                ignore: Callable[[str, list[str]], set[str]] | None = None) -> Path:
    """Copy a built mesh (keeping symlinks such as published/current) and re-point
    dbt_packages' absolute links, made by `dbt deps`, at the copy's own domains, so a
    test that edits the copy never reads or changes the original."""
    shutil.copytree(src, dest, symlinks=True, ignore=ignore)
    packages = dest / "dbt_packages"
    if packages.is_dir():
        for link in packages.iterdir():
            if not link.is_symlink():
                continue
            target = Path(os.readlink(link))
            if target.is_absolute() and target.is_relative_to(src):
                link.unlink()
                link.symlink_to(dest / target.relative_to(src))
    return dest


def _repoint_consumer_files(src: Path, dest: Path) -> None:
    """A consumer file's views read its snapshot's Parquet ports by absolute path: point
    the copy's at the copy's own ports and record their new digests in the snapshot's
    publish.json, as a publish would have. For a worker's clone of the session's build,
    so that it is the mesh a single-process run builds in place (`duckmesh query` reads
    only this mesh's ports); a test's own clone keeps the "copied" publish a user gets
    from `cp -r` (docs/publishing.md: the next publish rewrites them)."""

    from duckmesh.publish import verify

    old, new = str(src.resolve()), str(dest.resolve())
    for snapshot in sorted((dest / "published" / "snapshots").glob("*")):
        record_path = snapshot / verify.RECORD
        if snapshot.is_symlink() or not record_path.is_file():
            continue
        # the ports' absolute paths the record keeps for the consumer files' views
        record = json.loads(record_path.read_text().replace(old, new))
        changed = []
        for path in sorted(snapshot.glob("consumers/*/mesh.duckdb")):
            con = builddb.connect(path)
            try:
                views = [sql for (sql,) in con.execute(
                    "select sql from duckdb_views() where not internal and sql like ?",
                    [f"%{old}%"]).fetchall()]
                for sql in views:
                    con.execute(sql.replace(old, new).replace("CREATE VIEW",
                                                              "CREATE OR REPLACE VIEW", 1))
                if views:
                    con.execute("update _duckmesh.ports set path = replace(path, ?, ?)",
                                [old, new])
            finally:
                con.close()
            if views:
                changed.append(path.relative_to(snapshot).as_posix())
        if not changed:
            continue
        for rel, digest in verify.sha256_files(snapshot, changed).items():
            if rel in (record.get("files") or {}) and digest is not None:
                record["files"][rel] = digest
        if record.get("file_stats"):
            record["file_stats"].update(verify.stats(snapshot, [
                rel for rel in changed if rel in record["file_stats"]]))
        record_path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    """os.environ is ``env`` for the length of the block, as a child process would see it
    (dbt reads env_var() from os.environ)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def dbt_cli(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`dbt ARGS` as the command line runs it, from ``cwd`` with exactly ``env`` as its
    environment: the platform's one runner (core/dbt.invoke, dbtRunner in this process),
    with the command line's exit codes (0 success, 1 a node failed, 2 an error before or
    around the run) and its output captured."""
    from duckmesh.core.dbt import invoke

    out, err = io.StringIO(), io.StringIO()
    with _environment(env), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        result = invoke(list(args), cwd=cwd)
    code = 0 if result.success else 1 if result.exception is None else 2
    return subprocess.CompletedProcess(["dbt", *args], code, out.getvalue(), err.getvalue())


def project_dbt(root: Path, *args: str, env: dict[str, str] | None = None
                ) -> subprocess.CompletedProcess:
    """`dbt ARGS` on the project at ``root`` with its own profiles/, in a clean environment
    (no DUCKMESH_* variable but the database file in ``root`` and ``env``)."""
    return dbt_cli(
        [*args, "--project-dir", str(root), "--profiles-dir", str(root / "profiles")],
        cwd=root, env={"PATH": "/usr/bin:/bin", "DUCKMESH_DB": str(root / "mesh.duckdb"),
                       "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", **(env or {})})


def duckmesh(root: Path, *args: str, env: dict[str, str] | None = None, check: bool = True,
             timeout: int = 600, fresh_process: bool = False) -> subprocess.CompletedProcess:
    """Run `duckmesh --project-dir root ARGS` with DUCKMESH_DB in ``root``, in this process
    (same exit code and output as the command line; dbt through its dbtRunner, which
    supports one invocation after another in a process) with os.environ set as a child
    would see it. Spark and the benchmarks, or ``fresh_process`` (a test of another
    process's lock), run in a fresh process."""
    full_env = {**os.environ, "DUCKMESH_DB": str(root / "mesh.duckdb"), **(env or {})}
    if "DUCKMESH_DATA" not in (env or {}):
        full_env.pop("DUCKMESH_DATA", None)
    argv = ["--project-dir", str(root), *args]
    if fresh_process or args[:1] in FRESH_PROCESS or args[:2] in FRESH_PROCESS:
        result = subprocess.run([sys.executable, "-m", "duckmesh.cli", *argv], cwd=root,
                                env=full_env, capture_output=True, text=True, timeout=timeout)
    else:
        out, err = io.StringIO(), io.StringIO()
        with _environment(full_env), contextlib.chdir(root), \
                contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv, env=full_env)
            except SystemExit as done:
                code = int(done.code or 0)
        result = subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())
    if check and result.returncode != 0:
        raise AssertionError(
            f"duckmesh {' '.join(args)} failed ({result.returncode}):\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def without_producer_manifest(data_dir: Path) -> Path:
    """Remove the producer manifest the generator writes beside its drop (bytes, rows and
    SHA-256 of every file): the drop of a producer that records nothing, so a test that
    changes a file exercises the content checks instead of the manifest's."""
    (data_dir / "_manifest.json").unlink(missing_ok=True)
    return data_dir


@dataclass(frozen=True)
class BuiltMesh:
    root: Path
    db_path: Path
    data_dir: Path
    build_output: str


def _build_once(shared: Path) -> str:
    """Build the mesh into ``shared`` unless another pytest worker already did (an
    exclusive lock next to it); return the build's output."""
    shared.parent.mkdir(parents=True, exist_ok=True)
    with open(shared.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        output = shared / "build_output.txt"
        if not output.exists():
            root = copy_mesh(shared / "duckmesh")
            output.write_text(duckmesh(root, "build", "--scale", str(TEST_SCALE)).stdout)
        return output.read_text()


@pytest.fixture(scope="session")
def built_mesh(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> BuiltMesh:
    """The whole mesh built at TEST_SCALE in a temporary copy, once per test run: with
    several pytest-xdist workers the first builds it and each works on its own clone."""
    if worker_id == "master":
        root = copy_mesh(tmp_path_factory.mktemp("mesh") / "duckmesh")
        output = duckmesh(root, "build", "--scale", str(TEST_SCALE)).stdout
    else:
        shared = tmp_path_factory.getbasetemp().parent / "built_mesh"
        output = _build_once(shared)
        root = clone_built(shared / "duckmesh", tmp_path_factory.mktemp("mesh") / "duckmesh")
        _repoint_consumer_files(shared / "duckmesh", root)
    return BuiltMesh(root=root, db_path=root / "mesh.duckdb",
                     data_dir=root / "data" / f"scale_{TEST_SCALE:g}", build_output=output)


@pytest.fixture()
def mesh_copy(tmp_path: Path) -> Path:
    """A fresh, unbuilt copy of the mesh for tests that change it."""
    return copy_mesh(tmp_path / "duckmesh")


@pytest.fixture()
def built_copy(built_mesh: BuiltMesh, tmp_path: Path) -> Path:
    """A clone of the session's built mesh without its published/ folder, for a test that
    changes a project and runs dbt on it: nothing published (no P09 baseline, as in a
    fresh copy), but dbt's packages and parse state are there, so dbt re-parses only what
    changed (a fresh copy runs `dbt deps` and parses the whole mesh: about 5 CPU s)."""

    def ignore(folder: str, names: list[str]) -> set[str]:
        return {"published"} & set(names) if Path(folder) == built_mesh.root else set()

    return clone_built(built_mesh.root, tmp_path / "duckmesh", ignore=ignore)


LEVELS = ("unit", "integration", "e2e")
# the files that take the longest, slowest first (a whole `make test` run's --junitxml,
# summed per file; docs/performance-history.md, "Test loop"): they start first, so a
# parallel run does not end on one of them alone
SLOWEST = ["test_faults.py", "test_adopt.py", "test_sharing.py", "test_readme.py",
           "test_snapshot_verify.py", "test_domain_publish.py", "test_scaffold.py",
           "test_domains.py", "test_publish.py", "test_governance.py", "test_lint.py",
           "test_incremental.py", "test_quality_gates.py", "test_build.py",
           "test_consumers.py", "test_privacy.py", "test_plain_dbt.py", "test_portability.py",
           "test_legacy_source.py", "test_breaking_change.py", "test_catalog_contracts.py",
           "test_catalog_failures.py", "test_governance_trust.py", "test_quarantine.py"]
# module fixtures that build meshes of their own (test_adopt's adopted jaffle-shop): the
# tests on them are e2e, and their files start early in a parallel run
BUILDING_FIXTURES = {"onboarded"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test gets one level marker: e2e and spark are written on the tests that
    build (or fault) meshes of their own; a test that reads the session's built mesh or
    works on a copy of the mesh is `integration`; the rest is `unit`. The Spark files
    run first (make test-engines), then the files that build meshes, so a parallel run
    (one file per worker at a time) starts its longest files at once."""
    for item in items:
        if item.get_closest_marker("spark") or item.get_closest_marker("faults") or \
                BUILDING_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)
        if any(item.get_closest_marker(level) for level in LEVELS):
            continue
        uses_mesh = {"built_mesh", "mesh_copy"} & set(getattr(item, "fixturenames", ()))
        item.add_marker(pytest.mark.integration if uses_mesh else pytest.mark.unit)
    building = {item.path for item in items if item.get_closest_marker("e2e")}
    items.sort(key=lambda item: (not item.get_closest_marker("spark"),
                                 SLOWEST.index(item.path.name) if item.path.name in SLOWEST
                                 else len(SLOWEST),
                                 item.path not in building))
