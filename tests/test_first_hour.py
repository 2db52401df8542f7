"""The first hour: each stumble a new user hit, fixed and pinned by the exact text
the platform now prints (the README walkthrough itself is tests/test_readme.py)."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from conftest import REPO, duckmesh
from duckmesh.core import builddb
from duckmesh.core.dbt import colour_args
from duckmesh.core.fingerprint import RECORD, resolve_scale, state_dir
from duckmesh.core.project import Mesh, Settings
from duckmesh.governance import parse_checks
from duckmesh.selfserve import doctor

DOCS = REPO / "docs"


# ---------------------------------------------------------------- build output

class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_dbt_colours_only_on_a_terminal_without_no_color(built_mesh) -> None:
    assert colour_args(Terminal(), no_color="") == []
    assert colour_args(Terminal(), no_color="1") == ["--no-use-colors"]
    assert colour_args(io.StringIO(), no_color="") == ["--no-use-colors"]
    # the session's build ran with its output captured: not one escape code in it
    assert "Running with dbt=" in built_mesh.build_output
    assert "\x1b[" not in built_mesh.build_output


def makefile_copy(tmp_path: Path) -> Path:
    for name in ("Makefile", "pyproject.toml", "constraints.txt"):
        shutil.copy(REPO / name, tmp_path / name)
    return tmp_path


def test_first_build_says_what_pip_installs(tmp_path: Path) -> None:
    """Before its quiet pip install, the first `make build` says what it installs: the
    runtime dependencies pyproject.toml declares, by name."""
    folder = makefile_copy(tmp_path)
    # as a user runs it, not as a sub-make of `make test` (which prints "Entering directory")
    env = {k: v for k, v in os.environ.items() if k not in {"MAKELEVEL", "MAKEFLAGS", "MFLAGS"}}
    dry = subprocess.run(["make", "-n", "build"], cwd=folder, capture_output=True, text=True,
                         check=True, env={**env, "SCALE": ""}).stdout.splitlines()
    install = next(i for i, line in enumerate(dry) if " -m pip install " in line)
    assert "--quiet" in dry[install].split()
    said = " ".join(line for line in dry[:install] if line.startswith("echo "))
    declared = {Requirement(r).name for r in tomllib.loads(
        (REPO / "pyproject.toml").read_text())["project"]["dependencies"]}
    named = {name for name in declared if re.search(rf"(?<![\w-]){re.escape(name)}\b", said)}
    assert {"dbt-core", "dbt-duckdb", "duckdb"} <= named, said
    # without SCALE the CLI picks the last build's scale; with it, that scale
    assert dry[-1] == ".venv/bin/duckmesh build "
    scaled = subprocess.run(["make", "-n", "build", "SCALE=0.01"], cwd=folder, env=env,
                            capture_output=True, text=True, check=True).stdout.splitlines()
    assert scaled[-1] == ".venv/bin/duckmesh build --scale 0.01"


def test_the_duckmesh_wrapper_says_to_run_make_build_first(tmp_path: Path) -> None:
    shutil.copy(REPO / "duckmesh", tmp_path / "duckmesh")
    result = subprocess.run(["./duckmesh", "--help"], cwd=tmp_path, capture_output=True,
                            text=True)
    assert result.returncode == 127
    assert result.stderr == (f"./duckmesh: {tmp_path}/.venv/bin/duckmesh not found: run "
                             "`make build` first (it creates .venv/)\n")
    (tmp_path / ".venv").symlink_to(REPO / ".venv")
    result = subprocess.run(["./duckmesh", "--help"], cwd=tmp_path, capture_output=True,
                            text=True)
    assert result.returncode == 0
    assert result.stdout.startswith("usage: duckmesh [OPTIONS] COMMAND [ARGS]...")


def test_build_scale_defaults_to_the_last_builds(tmp_path: Path) -> None:
    mesh = Mesh(tmp_path, Settings())
    assert resolve_scale(mesh, None) == 0.1  # never built: the default
    state_dir(mesh).mkdir(parents=True)
    (state_dir(mesh) / RECORD).write_text(json.dumps(
        {"database": str(mesh.db_path), "scale": 0.01}))
    assert resolve_scale(mesh, None) == 0.01
    assert resolve_scale(mesh, 1.0) == 1.0
    other = Mesh(tmp_path, Settings(db=tmp_path / "other.duckdb"))
    assert resolve_scale(other, None) == 0.1  # another database: not its history


# ---------------------------------------------------------------- checks before dbt

def test_a_ref_to_a_private_model_names_the_public_products(mesh_copy: Path) -> None:
    peek = mesh_copy / "domains" / "marketing" / "models" / "intermediate" / "int_peek.sql"
    peek.write_text("select order_id from {{ ref('sales', 'stg_order_system__orders') }}\n")
    message = (
        "domains/marketing/models/intermediate/int_peek.sql: marketing.int_peek refs "
        "stg_order_system__orders, which is private to the sales domain (dbt would stop "
        "with 'not allowed because the referenced node is private'). Fix: use one of its "
        "public products instead: {{ ref('sales', 'order_items') }}, "
        "{{ ref('sales', 'orders') }}; or ask its owner, Sales Ops Team "
        "<sales-ops@duckmesh.example>, for a product with what you need (./duckmesh "
        "new-product sales <name> --from stg_order_system__orders).")
    assert parse_checks.findings(Mesh(mesh_copy, Settings())) == [message]
    # docs/domains.md shows this very message
    assert f"  - {message}" in (DOCS / "domains.md").read_text()
    # a one-argument ref to another domain's model is the same mistake
    peek.write_text("select order_id from {{ ref('int_orders_totals') }}\n")
    found = parse_checks.findings(Mesh(mesh_copy, Settings()))
    assert len(found) == 1 and "refs int_orders_totals, which is private to the sales" \
        in found[0]
    # governance check stops on it too, once, before dbt parses anything
    result = duckmesh(mesh_copy, "governance", "check", check=False)
    assert result.returncode == 1
    assert result.stderr.count("refs int_orders_totals") == 1
    assert "not allowed because the referenced node is private" not in result.stdout
    # a ref to a product is fine
    peek.write_text("select order_id from {{ ref('sales', 'orders') }}\n")
    assert parse_checks.findings(Mesh(mesh_copy, Settings())) == []


# ---------------------------------------------------------------- doctor

def test_doctor_suggests_the_make_targets(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(doctor.metadata, "version", missing)
    monkeypatch.setattr(doctor.shutil, "which", lambda _: None)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    assert [(f.check, f.fix) for f in doctor.check_spark()] == [
        ("dbt-spark", "make build-spark   (dbt-spark and pyspark, Java 17 if missing, "
                      "then a Spark build)"),
        ("pyspark", "make build-spark   (dbt-spark and pyspark, Java 17 if missing, "
                    "then a Spark build)"),
        ("java", "make java   (Debian's openjdk-17-jre-headless)")]


# ---------------------------------------------------------------- catalog show

def test_catalog_show_lists_column_descriptions_and_consumers(built_mesh) -> None:
    shown = duckmesh(built_mesh.root, "catalog", "show", "sales.orders").stdout
    manifest = json.loads((built_mesh.root / "target" / "manifest.json").read_text())
    node = manifest["nodes"]["model.sales.orders.v2"]
    lines = shown.splitlines()
    header = lines.index(next(line for line in lines if line.startswith("column ")))
    assert lines[header].split() == ["column", "type", "keys", "description"]
    rows = {line.split()[0]: line for line in lines[header + 2:header + 2 + len(node["columns"])]}
    assert list(rows) == list(node["columns"])
    for name, column in node["columns"].items():
        assert rows[name].rstrip().endswith(" " + column["description"]), name
    with builddb.connect(built_mesh.db_path, read_only=True) as con:
        consumers = con.execute(
            "select consumer_name, consumer_domain, "
            "string_agg(column_name, ', ' order by column_name) from mesh_catalog.consumers "
            "where product_id = 'urn:duckmesh:sales:orders:v2' group by all").fetchall()
    start = lines.index(f"consumers ({len(consumers)}): the models that read this version")
    assert lines[start + 1].split() == ["consumer", "domain", "columns", "it", "reads"]
    listed = [line.split(None, 2) for line in lines[start + 3:start + 3 + len(consumers)]]
    assert sorted(listed) == sorted([list(c) for c in consumers]) and len(consumers) == 3
    assert lines[-1] == "column lineage: ./duckmesh catalog lineage sales.orders --columns"
