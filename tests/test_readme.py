"""The README's walkthrough, run exactly as written: the code blocks of "Quick start",
"Querying a product" and "Adding a model" are read from README.md (so the README and
this test cannot drift) and run in a fresh copy of the mesh, the way a newcomer types
them at the repository root after a clone. The copy gets the checkout's .venv/ (what
the first `make build` would create); everything else comes from the blocks.

One mesh build of its own (the quick start's `make build SCALE=0.01`); "Adding a model"
then builds only what changed, and the two failures it documents stop before any model
is built.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import duckdb
import pytest

from conftest import REPO, copy_mesh
from duckmesh.core import builddb
from readme_blocks import blocks, section

pytestmark = pytest.mark.e2e

def shell(root: Path, script: str, check: bool = True) -> subprocess.CompletedProcess:
    """``script`` in bash at the copy's root, with the environment a new user has: no
    DuckMesh variable set, not in CI, output not a terminal."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("DUCKMESH_") and k not in ("VIRTUAL_ENV", "MAKEFLAGS", "CI")}
    result = subprocess.run(["bash", "-e", "-c", script], cwd=root, env=env,
                            capture_output=True, text=True, timeout=1200)
    if check:
        assert result.returncode == 0, f"{script}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_mesh(tmp_path_factory.mktemp("readme") / "duckmesh")
    (root / ".venv").symlink_to(REPO / ".venv")
    return root


@pytest.fixture(scope="module")
def quick_start(clone: Path) -> list[subprocess.CompletedProcess]:
    code = [b for b in blocks(section("Quick start")) if b.lang == "sh"]
    assert len(code) == 1
    commands = [line for line in code[0].body.splitlines() if line.strip()]
    assert commands[0] == "make build SCALE=0.01" and commands[1].startswith("./duckmesh query")
    return [shell(clone, command) for command in commands]


def published(root: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(root / "published" / "mesh.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def working(root: Path, sql: str) -> list[tuple]:
    with builddb.connect(root / "mesh.duckdb", read_only=True) as con:
        return con.execute(sql).fetchall()


def table_rows(output: str) -> list[list[str]]:
    """The data rows of a `duckmesh query` table (after the header and the rule)."""
    lines = output.strip().splitlines()
    assert re.fullmatch(r"\(\d+ rows?\)", lines[-1]), output
    return [line.split() for line in lines[2:-1]]


def test_quick_start_builds_at_one_scale_and_answers_the_query(clone, quick_start):
    build, query = quick_start
    out = build.stdout
    assert "[1/4] source data -> data/scale_0.01" in out
    assert "[2/4] dbt deps (install the domains), then the checks before dbt" in out
    assert "      project files: versions and cross-domain refs OK" in out
    assert "\x1b[" not in out + build.stderr  # redirected: no colour codes
    assert re.search(r"\nmesh built in [\d.]+s \(dbt build [\d.]+s\) at scale 0\.01: ", out)
    # the summary the README shows is what this build printed, row for row
    shown = [b for b in blocks(section("What `make build` does")) if b.body.startswith("domain")]
    for line in shown[0].body.splitlines():
        if line != "...":
            assert line in out, line
    expected = published(clone, "select sales_channel, count(*) from sales.orders "
                                "group by 1 order by 1")
    assert table_rows(query.stdout) == [[channel, str(n)] for channel, n in expected]
    assert [n for _, n in expected] and sum(n for _, n in expected) == 10_000


def test_querying_a_product_runs_as_written(clone, quick_start):
    code = [b for b in blocks(section("Querying a product")) if b.lang == "sh"]
    assert len(code) == 2
    first = shell(clone, code[0].body).stdout
    by_day = working(clone, "select order_date, sum(net_amount) from sales.orders_v2 "
                            "group by 1 order by 1 limit 5")
    assert table_rows(first.split("sales.orders v2  (")[0]) == [
        [str(day), f"{amount:.2f}"] for day, amount in by_day]
    assert "sales.orders v2  (urn:duckmesh:sales:orders:v2)" in first
    assert "consumers (3): the models that read this version" in first

    python = shell(clone, code[1].body).stdout  # .venv/bin/python, as written
    (amount,), = working(clone, "select lifetime_net_amount from analytics.customer_360_v1 "
                                "where customer_id = 'C00000042'")
    assert re.search(rf"│ C00000042\s+│\s+{amount}\s+│", python), python
    first_orders = working(clone, "select order_id, order_amount from sales.orders_v1 "
                                  "order by order_id limit 3")
    for order_id, order_amount in first_orders:
        assert re.search(rf"│ {order_id}\s+│\s+{order_amount}\s+│", python), python


def test_adding_a_model_as_written(clone, quick_start):
    text = section("Adding a model")
    code = blocks(text)
    files = [b for b in code if b.path]
    assert [b.path for b in files] == [
        "domains/customer_service/models/products/ticket_categories_v1.sql",
        "domains/customer_service/models/products/_ticket_categories.yml"]
    for block in files:
        (clone / block.path).write_text(block.body)
    yml = files[1].body
    assert "    versions:\n      - v: 1\n" in yml
    assert "        data_tests:\n          - unique\n          - not_null\n" in yml

    commands = [b for b in code if b.lang == "sh"][0].body
    assert commands.splitlines()[0] == "./duckmesh build --changed-only"
    build = shell(clone, commands.splitlines()[0]).stdout
    assert "[1/4] source data -> data/scale_0.01" in build  # the quick start's scale
    assert "another data set" not in build
    assert "      --changed-only: only what changed since the last build (state:modified+)" \
        in build
    categories = working(clone, f"""
        select category, count(*) from read_json_auto(
            '{clone}/data/scale_0.01/support/tickets.jsonl') group by 1 order by 1""")
    assert re.search(r"\ncustomer_service  ticket_categories     v1\s+"
                     rf"{len(categories)}  customer_service.ticket_categories_v1 ", build)
    lint = shell(clone, commands.splitlines()[1])
    assert lint.stdout.rstrip().endswith("All Finished!")
    query = shell(clone, commands.splitlines()[2]).stdout
    assert table_rows(query) == [[category, str(n)] for category, n in categories]

    # without versions: stopped before dbt, the README's message, once
    product_yml = clone / files[1].path
    product_yml.write_text(yml.replace("    versions:\n      - v: 1\n", ""))
    failed = shell(clone, "./duckmesh build", check=False)
    assert failed.returncode == 1
    message = [b.body for b in code if b.body.startswith("duckmesh build: error: 1 problem")]
    assert failed.stderr == message[0]
    assert (failed.stdout + failed.stderr).count("latest_version: 1") == 1
    assert "[3/4] dbt build" not in failed.stdout

    # without the key's tests: governance P10, the README's line, once
    product_yml.write_text(yml.replace(
        "        data_tests:\n          - unique\n          - not_null\n", "", 1))
    failed = shell(clone, "./duckmesh build", check=False)
    assert failed.returncode == 1
    p10 = [b.body.strip() for b in code if b.body.startswith("[P10 error]")][0]
    assert failed.stdout.count(p10) == 1
    assert failed.stderr == (
        "duckmesh build: error: dbt build failed (Compilation Error in operation "
        "duckmesh-on-run-start-0 (./dbt_project.yml)): the error is printed above and in "
        "logs/dbt.log\n")
