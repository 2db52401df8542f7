"""`duckmesh warehouse`: the same mesh on Snowflake and BigQuery, and proof that it gives
the same products as the DuckDB build (docs/warehouses.md).

dbt-snowflake and dbt-bigquery live in virtual environments of their own
(.venv-snowflake, .venv-bigquery: `make warehouses`), so this module runs them as
processes: ``warehouse_client`` (connect, load, export) and that environment's ``dbt``.

- ``build``: the source data, dbt deps and source checks of ``duckmesh build``; then each
  file source, read as the DuckDB build reads it (its ``meta.external_location``), is
  written to a CSV file under target/warehouses/<target>/load and loaded the way the
  warehouse's users load files (Snowflake: a stage, PUT and COPY INTO; BigQuery: a
  load job), with the PII salt and the project files governance reads
  (a warehouse cannot read the client's disk); then ``dbt build --target <target>``.
  Nothing is published: the warehouse is the product's home there.
- ``compare``: every public product version, exported from the warehouse, against the
  DuckDB build of the same data: rows, and every row's values normalised alike
  (``warehouse_client.normalised``).

The emulators (fakesnow, crucible) stand in for the warehouses in the tests. What they
cannot do that a warehouse does is switched only for them (``Warehouse.emulated``): on
fakesnow the merge products use delete+insert and dbt's unit tests are left out.
"""

from __future__ import annotations

import collections
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import duckdb
import jinja2

from duckmesh.build import pipeline as build
from duckmesh.core import builddb, types, yamlio
from duckmesh.core.context import BuildContext
from duckmesh.core.output import console
from duckmesh.core.products import ProductVersion, public_products
from duckmesh.core.project import Mesh, MeshError, relative
from duckmesh.core.sql import quote_ident, sql_path
from duckmesh.scaleout.warehouse_client import normalised

META_SCHEMA = "duckmesh_meta"
CLIENT = "duckmesh.scaleout.warehouse_client"
PLATFORM_ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Warehouse:
    target: str  # the profile's target and the adapter's type
    venv: str  # its virtual environment, beside the platform's .venv
    packages: str  # what `make warehouses` installs there (for messages)
    emulator: str  # how to start the local emulator (for messages)
    endpoint_variables: tuple[str, ...]  # the profile's variables that name the endpoint
    utc_suffix: str  # how its CSV loader reads an instant in UTC after the wall-clock time

    def python(self, mesh: Mesh) -> Path:
        return self.bin(mesh) / "python"

    def dbt(self, mesh: Mesh) -> Path:
        return self.bin(mesh) / "dbt"

    def bin(self, mesh: Mesh) -> Path:
        """The environment beside the mesh, else beside the platform's checkout (a mesh
        copied elsewhere, as the tests do)."""
        for root in (mesh.root, PLATFORM_ROOT):
            if (root / self.venv / "bin" / "dbt").is_file():
                return root / self.venv / "bin"
        return mesh.root / self.venv / "bin"

    def emulated(self, env: dict[str, str]) -> bool:
        """The target points at the local emulator: the profile's defaults, or a host on
        this machine."""
        if self.target == "snowflake":
            return env.get("SNOWFLAKE_ACCOUNT", "fakesnow") == "fakesnow"
        endpoint = env.get("BIGQUERY_API_ENDPOINT", "http://127.0.0.1:9050")
        return urlparse(endpoint).hostname in ("127.0.0.1", "localhost")

    def emulator_command(self, port: int) -> list[str]:
        words = self.emulator.replace("8765", str(port)).replace("9050", str(port)).split()
        return [str(PLATFORM_ROOT / words[0]), *words[1:]]

    def emulator_env(self, port: int) -> dict[str, str]:
        """The profile's variables that point it at an emulator on ``port``."""
        if self.target == "snowflake":
            return {"SNOWFLAKE_PORT": str(port)}
        return {"BIGQUERY_API_ENDPOINT": f"http://127.0.0.1:{port}"}

    def endpoint(self, env: dict[str, str]) -> tuple[str, int]:
        if self.target == "snowflake":
            return env.get("SNOWFLAKE_HOST", "127.0.0.1"), int(env.get("SNOWFLAKE_PORT", "8765"))
        url = urlparse(env.get("BIGQUERY_API_ENDPOINT", "http://127.0.0.1:9050"))
        return url.hostname or "127.0.0.1", url.port or 80


WAREHOUSES = {
    "snowflake": Warehouse(
        "snowflake", ".venv-snowflake", "dbt-snowflake, snowflake-connector-python, fakesnow",
        ".venv-snowflake/bin/fakesnow -s --host 127.0.0.1 -p 8765",
        ("SNOWFLAKE_HOST", "SNOWFLAKE_PORT"), "+00:00"),
    "bigquery": Warehouse(
        "bigquery", ".venv-bigquery", "dbt-bigquery, google-cloud-bigquery, crucible-emulator",
        ".venv-bigquery/bin/crucible serve --dialect bigquery --host 127.0.0.1 --port 9050",
        ("BIGQUERY_API_ENDPOINT",), " UTC"),
}


def warehouse(target: str) -> Warehouse:
    if target not in WAREHOUSES:
        raise MeshError(f"unknown warehouse target {target}: use one of {', '.join(WAREHOUSES)}")
    return WAREHOUSES[target]


def warehouse_dir(mesh: Mesh, wh: Warehouse) -> Path:
    return mesh.target_dir / "warehouses" / wh.target


def require_venv(mesh: Mesh, wh: Warehouse) -> None:
    if not wh.dbt(mesh).is_file():
        raise MeshError(f"the {wh.target} target needs {wh.venv}/ ({wh.packages}): "
                        "run `make warehouses`")


# --- the warehouse side, as processes ------------------------------------------------

def run_client(mesh: Mesh, wh: Warehouse, command: str, plan: dict, env: dict[str, str]) -> None:
    """``warehouse_client <command>`` in the warehouse's environment; its one-line error
    becomes a MeshError that names the emulator or the credentials to fix."""
    folder = warehouse_dir(mesh, wh)
    folder.mkdir(parents=True, exist_ok=True)
    plan_file = folder / f"{command}.json"
    full_env = {**os.environ, **env}
    plan_file.write_text(json.dumps({"root": str(mesh.root), "target": wh.target,
                                     "emulated": wh.emulated(full_env), **plan}, indent=1))
    scripts = str(PLATFORM_ROOT / "scripts")
    result = subprocess.run(
        [str(wh.python(mesh)), "-m", CLIENT, command, str(plan_file)],
        env={**os.environ, **env, "PYTHONPATH": scripts}, capture_output=True, text=True)
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        message = lines[-1] if lines else f"{wh.target} target: {command} failed"
        if result.returncode == 3:
            message += f". Fix: {connection_fix(wh, full_env)}"
        raise MeshError(message)


def connection_fix(wh: Warehouse, env: dict[str, str]) -> str:
    if not wh.emulated(env):
        if wh.target == "snowflake":
            return ("check SNOWFLAKE_ACCOUNT, SNOWFLAKE_USER, SNOWFLAKE_PASSWORD, SNOWFLAKE_ROLE, "
                    "SNOWFLAKE_WAREHOUSE and SNOWFLAKE_DATABASE (docs/warehouses.md)")
        return "check BIGQUERY_PROJECT, BIGQUERY_METHOD and your credentials (docs/warehouses.md)"
    host, port = wh.endpoint(env)
    return (f"start the emulator ({wh.emulator.replace('8765', str(port)).replace('9050', str(port))}) "
            f"or point {' and '.join(wh.endpoint_variables)} at it (now {host}:{port})")


def require_reachable(wh: Warehouse, env: dict[str, str]) -> None:
    """An emulator that is not running is named at once, not after a connector's retries."""
    if not wh.emulated(env):
        return
    host, port = wh.endpoint(env)
    try:
        socket.create_connection((host, port), timeout=3).close()
    except OSError as error:
        raise MeshError(f"{wh.target} target: nothing answers at {host}:{port} ({error.strerror or error}). "
                        f"Fix: {connection_fix(wh, env)}") from error


@contextmanager
def running_emulator(wh: Warehouse, port: int, seconds: float = 60) -> Iterator[dict[str, str]]:
    """The warehouse's local emulator on ``port`` for the length of the block (tests and
    benchmarks); yields the variables that point the profile at it."""
    process = subprocess.Popen(wh.emulator_command(port), stdout=subprocess.DEVNULL,
                               stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + seconds
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise MeshError(f"{wh.target}: the emulator did not start on port {port}: "
                                    f"{' '.join(wh.emulator_command(port))}") from None
                time.sleep(0.3)
        yield wh.emulator_env(port)
    finally:
        process.terminate()
        process.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- sources -------------------------------------------------------------------------

@dataclass(frozen=True)
class FileSource:
    schema: str
    table: str
    external_location: str  # the DuckDB expression the DuckDB build reads it with


def file_sources(mesh: Mesh, data_dir: Path) -> list[FileSource]:
    """Every source table the domains read from files (``meta.external_location``),
    its DuckDB expression rendered for ``data_dir``."""
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)

    def env_var(name: str, default: str = "") -> str:
        return str(data_dir) if name == "DUCKMESH_DATA" else os.environ.get(name, default)

    found = []
    for domain_dir in mesh.domain_dirs():
        for yml in sorted((domain_dir / "models").rglob("*.yml")):
            document = yamlio.loads(yml.read_text()) or {}
            for source in document.get("sources") or []:
                for table in source.get("tables") or []:
                    meta = (table.get("config") or {}).get("meta") or table.get("meta") or {}
                    if meta.get("external_location"):
                        found.append(FileSource(
                            schema=source.get("schema") or source["name"],
                            table=table.get("identifier") or table["name"],
                            external_location=environment.from_string(
                                meta["external_location"]).render(env_var=env_var)))
    return found


def engine_type(duckdb_type: str, engine: str) -> str:
    """A column type DuckDB reports (VARCHAR, DECIMAL(10,2), TIMESTAMP WITH TIME ZONE)
    as ``engine`` names it, through the mesh's one type table."""
    spelled = types.spelling(duckdb_type)
    logical = types.aliases().get(spelled)
    if logical is not None:
        return types.table()[logical].on(engine)
    if spelled.startswith("decimal("):
        return spelled.replace("decimal", "number" if engine == "snowflake" else "numeric", 1)
    raise MeshError(f"{engine} target: a source column of type {duckdb_type} has no {engine} "
                    "type in macros/portability/mesh_type_table.sql: add it there, or cast it "
                    "in the source's external_location")


def _write(con: duckdb.DuckDBPyConnection, select: str, file: Path, wh: Warehouse) -> list:
    """``select`` written to ``file`` as CSV both warehouses load alike: a header, text
    quoted and null unquoted and empty (so an empty text stays one), instants in UTC
    with an explicit offset. Returns its columns [(name, duckdb type)]."""
    columns = [(row[0], row[1]) for row in con.execute(f"describe {select}").fetchall()]
    parts, texts = [], []
    for name, kind in columns:
        quoted = quote_ident(name)
        if kind.upper() == "TIMESTAMP WITH TIME ZONE":
            parts.append(f"strftime(timezone('UTC', {quoted}), '%Y-%m-%d %H:%M:%S.%f') "
                         f"|| '{wh.utc_suffix}' as {quoted}")
        else:
            parts.append(quoted)
        if kind.upper() == "VARCHAR":
            texts.append(quoted)
    # only text is quoted: BigQuery's loader reads a quoted value as text alone
    force_quote = f", force_quote ({', '.join(texts)})" if texts else ""
    con.execute(f"copy (select {', '.join(parts)} from ({select})) to {sql_path(file)} "
                f"(format csv, header true, delimiter ',', quote '\"'{force_quote})")
    return columns


def load_plan(mesh: Mesh, ctx: BuildContext, wh: Warehouse) -> dict:
    """The files to load (written here, from the data the DuckDB build reads) and their
    tables: every file source, the PII salt and the project files governance reads."""
    folder = warehouse_dir(mesh, wh) / "load"
    folder.mkdir(parents=True, exist_ok=True)
    tables = []
    with duckdb.connect() as con:
        con.execute("set timezone = 'UTC'")
        for source in file_sources(mesh, ctx.validated_data or ctx.data_dir):
            file = folder / f"{source.schema}__{source.table}.csv"
            columns = _write(con, f"select * from {source.external_location}", file, wh)
            tables.append(_table(source.schema, source.table, file, columns, wh))
        salt = mesh.pii_salt_path.read_text().strip().replace("'", "''")
        file = folder / f"{META_SCHEMA}__pii_salt.csv"
        columns = _write(con, f"select '{salt}'::varchar as salt", file, wh)
        tables.append(_table(META_SCHEMA, "pii_salt", file, columns, wh))
        file = folder / f"{META_SCHEMA}__text_files.csv"
        rows = [(str(path), number, line) for path in governance_files(mesh)
                for number, line in enumerate(path.read_text().split("\n"), start=1)]
        con.execute("create temp table text_files (path varchar, line_number integer, line varchar)")
        con.executemany("insert into text_files values (?, ?, ?)", rows)
        columns = _write(con, "select * from text_files", file, wh)
        tables.append(_table(META_SCHEMA, "text_files", file, columns, wh))
    return {"tables": tables}


def _table(schema: str, table: str, file: Path, columns: list, wh: Warehouse) -> dict:
    return {"schema": schema, "table": table, "file": str(file),
            "columns": [[name, engine_type(kind, wh.target)] for name, kind in columns]}


def governance_files(mesh: Mesh) -> list[Path]:
    """What the governance macros read from disk (P03: the installed packages'
    dbt_project.yml and packages.yml, the root's packages.yml; P05/P09: the last
    published manifest), as absolute paths."""
    root = mesh.root.resolve()
    found = [root / "dbt_project.yml", root / "packages.yml",
             *sorted(root.glob("dbt_packages/*/dbt_project.yml")),
             *sorted(root.glob("dbt_packages/*/packages.yml"))]
    published = Path(os.environ.get("DUCKMESH_PUBLISHED") or root / "published") / "manifest.json"
    if published.is_file():
        found.append(published.resolve())
    return [path for path in found if path.is_file()]


# --- build ---------------------------------------------------------------------------

def dbt_args(mesh: Mesh, wh: Warehouse, env: dict[str, str], select: str | None,
             full_refresh: bool) -> list[str]:
    args = [str(wh.dbt(mesh)), "build", "--target", wh.target,
            "--project-dir", str(mesh.root), "--profiles-dir", str(mesh.profiles_dir),
            "--target-path", str(warehouse_dir(mesh, wh) / "dbt"), "--no-use-colors"]
    if select:
        args += ["--select", select]
    if wh.target == "bigquery" and wh.emulated(env):
        # crucible has no parameterised NUMERIC in a query's result; BigQuery has
        args += ["--vars", json.dumps({"duckmesh_bigquery_numeric_parameters": False})]
    if wh.target == "snowflake" and wh.emulated(env):
        # fakesnow runs a first incremental build but not a later one (its temporary
        # views), nor dbt's unit tests: DuckDB runs those; a real account runs all
        args += ["--exclude-resource-type", "unit_test", "--full-refresh"]
    elif full_refresh:
        args.append("--full-refresh")
    return args


def build_on_warehouse(mesh: Mesh, target: str, scale: float, seed: int,
                       select: str | None = None, full_refresh: bool = False) -> int:
    """`duckmesh warehouse build`: source data, deps, source checks (as `duckmesh
    build`), the sources loaded into the warehouse, then `dbt build --target <target>`."""
    wh = warehouse(target)
    require_venv(mesh, wh)
    env = dict(os.environ)
    require_reachable(wh, env)
    started = time.perf_counter()
    mesh_plan = build.mesh_plan(mesh, build.BuildOptions(scale, seed))
    ctx = mesh_plan.ctx  # steps 1-2 of every build: source data, deps, the checks before dbt
    build.source_data(ctx)
    build.install_packages(mesh_plan)
    build.run_before_build(mesh_plan)
    dbt_env = {**ctx.dbt_env, "DUCKMESH_TARGET": wh.target}
    run_client(mesh, wh, "check", {}, dbt_env)
    voice = console()
    voice.step(f"[3/4] load the sources into {wh.target} "
               f"({'stage, PUT, COPY INTO' if wh.target == 'snowflake' else 'load jobs'})")
    load_started = time.perf_counter()
    plan = load_plan(mesh, ctx, wh)
    run_client(mesh, wh, "load", plan, dbt_env)
    load_seconds = time.perf_counter() - load_started
    voice.step(f"      {len(plan['tables'])} tables loaded in {load_seconds:.1f}s")
    emulator = wh.emulator.split()[0].split("/")[-1]
    voice.step(f"[4/4] dbt build --target {wh.target}"
               + (f" (emulator: {emulator})" if wh.emulated(env) else ""))
    build_started = time.perf_counter()
    result = subprocess.run(dbt_args(mesh, wh, env, select, full_refresh),
                            env={**os.environ, **dbt_env}, cwd=mesh.root,
                            capture_output=True, text=True)
    build_seconds = time.perf_counter() - build_started
    voice.out(result.stdout.rstrip("\n"))
    if result.returncode != 0:
        raise MeshError(f"dbt build --target {wh.target} failed: {dbt_failure(result.stdout)} "
                        f"(the whole output is above and in logs/dbt.log); nothing was published")
    (warehouse_dir(mesh, wh) / "data_set.json").write_text(
        json.dumps({"data_dir": str(ctx.data_dir.resolve())}) + "\n")
    voice.out(f"\nmesh built on {wh.target} in {time.perf_counter() - started:.1f}s "
              f"(load {load_seconds:.1f}s, dbt build {build_seconds:.1f}s)")
    return 0


def dbt_failure(output: str) -> str:
    """The first error dbt printed, without timestamps: its heading and the next two
    lines (the error's kind and its message)."""
    lines = [line.split("  ", 1)[-1].strip() if line[:2].isdigit() else line.strip()
             for line in output.splitlines()]
    lines = [line for line in lines if line]
    for number, text in enumerate(lines):
        if text.startswith(("Failure in", "Error in", "Encountered an error",
                            "Compilation Error", "Database Error", "Runtime Error")):
            return " ".join(lines[number:number + 3])
    return "see its output"


# --- compare -------------------------------------------------------------------------

@dataclass(frozen=True)
class Export:
    relation: str  # schema.relation
    file: Path  # JSON lines of normalised rows
    columns: list[tuple[str, str]]  # (name, contract data_type)


@dataclass(frozen=True)
class Comparison:
    product: str  # schema.relation, e.g. sales.orders_v2
    duckdb_rows: int
    warehouse_rows: int
    only_in_duckdb: list[tuple]  # a few sample rows, normalised
    only_in_warehouse: list[tuple]

    @property
    def equal(self) -> bool:
        return not self.only_in_duckdb and not self.only_in_warehouse \
            and self.duckdb_rows == self.warehouse_rows


def warehouse_manifest(mesh: Mesh, wh: Warehouse) -> dict:
    path = warehouse_dir(mesh, wh) / "dbt" / "manifest.json"
    if not path.exists():
        raise MeshError(f"{relative(path, mesh.root)} not found: run "
                        f"`duckmesh warehouse build --target {wh.target}` first")
    return json.loads(path.read_text())


def compare(mesh: Mesh, target: str, samples: int = 3) -> list[Comparison]:
    """Every public product version of the warehouse build against the DuckDB build."""
    wh = warehouse(target)
    require_venv(mesh, wh)
    manifest = warehouse_manifest(mesh, wh)
    if not mesh.db_path.exists():
        raise MeshError(f"{mesh.db_path} not found: run `duckmesh build` (same --scale) first")
    env = dict(os.environ)
    require_reachable(wh, env)
    products = public_products(manifest)
    folder = warehouse_dir(mesh, wh) / "export"
    folder.mkdir(parents=True, exist_ok=True)
    exports: list[Export] = [Export(
        product.relation, folder / f"{product.relation}.jsonl",
        [(name, column.get("data_type") or "") for name, column
         in manifest["nodes"][product.unique_id]["columns"].items()]) for product in products]
    run_client(mesh, wh, "export", {"products": [
        {"relation": e.relation, "file": str(e.file), "columns": e.columns} for e in exports]},
        {"DUCKMESH_TARGET": wh.target})
    results = []
    with builddb.connect(mesh.db_path, read_only=True) as con:
        for product, export in zip(products, exports):
            theirs = collections.Counter(tuple(json.loads(line))
                                         for line in export.file.read_text().splitlines())
            ours = collections.Counter(_duckdb_rows(con, product,
                                                    [name for name, _ in export.columns]))
            results.append(Comparison(
                product=product.relation, duckdb_rows=sum(ours.values()),
                warehouse_rows=sum(theirs.values()),
                only_in_duckdb=sorted((ours - theirs).elements(), key=str)[:samples],
                only_in_warehouse=sorted((theirs - ours).elements(), key=str)[:samples]))
    return results


def _duckdb_rows(con: duckdb.DuckDBPyConnection, product: ProductVersion,
                 columns: list[str]) -> list[tuple]:
    select = ", ".join(quote_ident(column) for column in columns)
    try:
        rows = con.execute(f'select {select} from "{product.schema}"."{product.relation_name}"'
                           ).fetchall()
    except duckdb.CatalogException as error:
        raise MeshError(f"{product.relation} is not in the DuckDB build: build the DuckDB mesh "
                        "from the same data first (duckmesh build --scale <same>)") from error
    return [tuple(normalised(value) for value in row) for row in rows]
