"""Self-serve scaffolding: new-domain, new-product, new-version, doctor, input validation.

The one scaffolding walkthrough runs the README's "Your own domain and product" in a
copy of the built mesh, checks the contracts against DuckDB's own catalog and the
generated SQL, checks that governance rejects exactly the descriptions left to the
team, writes them, starts a v2, lints and builds the whole mesh.
"""

from __future__ import annotations

import datetime
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import TEST_SCALE, clone_built, duckmesh
from duckmesh import cli
from duckmesh.core import builddb
from duckmesh.core.project import Mesh
from duckmesh.lint.runner import sqlfluff_env
from duckmesh.selfserve.version import DEPRECATION_NOTICE_DAYS
from readme_blocks import blocks, section

TODO_LINE = re.compile(r"description: ''  # TODO: describe")


def run_cli(root: Path, *args: str, capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    """The CLI in-process (validation paths never reach dbt)."""
    code = cli.main(["--project-dir", str(root), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def json_output(stdout: str, opener: str) -> object:
    """The JSON document a command printed, from its first line starting with ``opener``
    (dbt may log a line or two before it)."""
    lines = stdout.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(opener)), None)
    assert start is not None, f"no JSON in the output:\n{stdout[-3000:]}"
    return json.loads("\n".join(lines[start:]))


def product_entry(path: Path) -> dict:
    return yaml.safe_load(path.read_text())["models"][0]


def contract(path: Path) -> list[tuple[str, str]]:
    return [(c["name"], c["data_type"]) for c in product_entry(path)["columns"]]


def catalog_types(db_path: Path, schema: str, table: str) -> list[tuple[str, str]]:
    con = builddb.connect(db_path, read_only=True)
    try:
        rows = con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_catalog = current_database() and "
            "table_schema = ? and table_name = ? order by ordinal_position",
            [schema, table]).fetchall()
    finally:
        con.close()
    return [(name, data_type.lower().replace(", ", ",")) for name, data_type in rows]


# ---------------------------------------------------------------- input validation

@pytest.mark.parametrize(("args", "code", "message"), [
    (["new-domain", "Finance", "--owner", "F", "--email", "f@x.org", "--kind", "source"], 2,
     "domain name 'Finance' is not a valid identifier: use lower-case letters, digits and "
     "underscores, starting with a letter, at most 63 characters (for example 'finance')"),
    (["new-domain", "2fast", "--owner", "F", "--email", "f@x.org", "--kind", "source"], 2,
     "domain name '2fast' is not a valid identifier: use lower-case letters, digits and "
     "underscores, starting with a letter, at most 63 characters (for example 'x_2fast')"),
    (["new-domain", "order", "--owner", "F", "--email", "f@x.org", "--kind", "source"], 2,
     "domain name 'order' is a reserved SQL word: choose another (for example 'order_data')"),
    (["new-domain", "analytics", "--owner", "F", "--email", "f@x.org", "--kind", "source"], 2,
     "domain name 'analytics' is used by the mesh itself: choose another"),
    (["new-domain", "finance", "--owner", "F", "--email", "finance", "--kind", "source"], 2,
     "owner e-mail 'finance' is not an e-mail address (expected name@example.org)"),
    (["new-domain", "sales", "--owner", "F", "--email", "f@x.org", "--kind", "source"], 3,
     "domains/sales already exists: pass --force to overwrite its generated files"),
    (["new-product", "sales", "stg_orders", "--from", "int_orders_totals"], 2,
     "product name 'stg_orders' starts with the layer prefix 'stg_', which marks a private "
     "model (P04): name the product for what it is, e.g. 'orders'"),
    (["new-product", "sales", "revenue_v2", "--from", "int_orders_totals"], 2,
     "product name 'revenue_v2' ends in a version suffix: give the bare name ('revenue'); "
     "the platform adds _v<N>"),
    (["new-product", "nowhere", "revenue", "--from", "int_orders_totals"], 2,
     "no domain 'nowhere': domains/nowhere/dbt_project.yml does not exist; create it with "
     "`duckmesh new-domain nowhere --owner ... --email ... --kind ...` or "
     "`duckmesh adopt PATH --as nowhere`"),
    (["new-product", "sales", "orders", "--from", "int_orders_totals"], 3,
     "product sales.orders is already declared in domains/sales/models/products/"
     "_products.yml: for a breaking change run `duckmesh new-version sales.orders`"),
    (["new-product", "sales", "revenue", "--sql", "missing.sql"], 2,
     "--sql {root}/missing.sql: no such file"),
    (["new-version", "sales"], 2, "'sales': give DOMAIN.PRODUCT, e.g. sales.orders"),
    (["new-version", "sales.refunds"], 2,
     "no product 'refunds' in domain 'sales' (products: order_items, orders); create it with "
     "`duckmesh new-product sales refunds ...`"),
    (["new-version", "sales.orders", "--deprecation-date", "2020-01-01"], 2,
     f"--deprecation-date 2020-01-01 gives consumers less than {DEPRECATION_NOTICE_DAYS} days "
     "(P08): use {notice_date} or later"),
])
def test_bad_input_is_rejected_with_a_clear_error(
        mesh_copy: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch,
        args: list[str], code: int, message: str) -> None:
    monkeypatch.chdir(mesh_copy)
    before = {p: p.read_bytes() for p in mesh_copy.rglob("*") if p.is_file()}
    notice = datetime.timedelta(DEPRECATION_NOTICE_DAYS)
    first_day = datetime.date.today()
    returned, out, err = run_cli(mesh_copy, *args, capsys=capsys)
    assert returned == code
    # the earliest deprecation date counts from the day the command ran (even at midnight)
    expected = {f"duckmesh {args[0]}: error: "
                f"{message.format(root=mesh_copy, notice_date=day + notice)}\n"
                for day in {first_day, datetime.date.today()}}
    assert err in expected
    after = {p: p.read_bytes() for p in mesh_copy.rglob("*") if p.is_file()}
    assert after == before, "a rejected command changed files"


def test_every_self_serve_command_has_help(capsys: pytest.CaptureFixture) -> None:
    for command in ("new-domain", "new-product", "new-version", "adopt", "doctor"):
        with pytest.raises(SystemExit) as exit_info:
            cli.main([command, "--help"])
        assert exit_info.value.code == 0
        out = capsys.readouterr().out
        assert out.startswith(f"usage: duckmesh {command}")
        assert "exit codes:" in out


# ---------------------------------------------------------------- the walkthrough

GENERATED_SQL = """with

query as (

    select
        order_date,
        count(*) as order_count,
        sum(net_amount) as net_amount
    from {{ ref('sales', 'orders') }}
    group by order_date

),

published as (

    select
        order_date,
        order_count,
        cast(net_amount as decimal(18, 2)) as net_amount

    from query

)

select * from published
"""


@pytest.mark.e2e
def test_new_domain_to_governed_product_as_the_readme_shows(built_mesh, tmp_path: Path) -> None:
    """README "Your own domain and product", run as written in a copy of the session's
    built mesh: the domain, a product from the README's query, a product over a built
    model; governance rejects exactly the descriptions left to the team; they are
    written, a v2 started, the generated SQL passes lint and the mesh builds (governance
    runs on-run-start, so a pass means it passes)."""
    root = clone_built(built_mesh.root, tmp_path / "mesh")
    shown = blocks(section("Your own domain and product"))
    files = [b for b in shown if b.path]
    assert [b.path for b in files] == ["revenue.sql"]
    (root / "revenue.sql").write_text(files[0].body)
    commands = [shlex.split(line) for line in next(b for b in shown if b.lang == "sh"
                                                   ).body.splitlines() if line.strip()]
    assert [c[:2] for c in commands] == [["./duckmesh", "new-domain"],
                                         ["./duckmesh", "new-product"]]

    # 1. the domain, and what it says to do next
    said = duckmesh(root, *commands[0][1:]).stdout
    assert said.endswith(
        "registered domains/finance in packages.yml; the next build's dbt deps adds it to "
        "package-lock.yml (commit both with the domain)\n\nnext steps:\n"
        "  1. ./duckmesh new-product finance <product> --sql query.sql   (or --from <model>)\n"
        "  2. write the descriptions marked '# TODO: describe' in its YAML\n"
        "  3. ./duckmesh build   (installs the new domain with dbt deps)\n")
    domain = root / "domains" / "finance"
    project = yaml.safe_load((domain / "dbt_project.yml").read_text())
    assert project["restrict-access"] is True
    assert project["profile"] == "duckmesh"
    assert project["models"]["finance"]["+group"] == "finance"
    assert project["models"]["finance"]["+access"] == "private"
    assert project["models"]["finance"]["products"]["+contract"] == {"enforced": True}
    assert yaml.safe_load((domain / "models" / "_groups.yml").read_text())["groups"] == [{
        "name": "finance", "owner": {"name": "Finance Team", "email": "finance@duckmesh.example"},
        "description": "The finance domain (consumer-aligned)."}]
    assert (domain / "README.md").is_file() and not (domain / ".sqlfluff").exists()
    packages = yaml.safe_load((root / "packages.yml").read_text())["packages"]
    assert packages[-1] == {"local": "domains/finance"}
    # a self-contained package: the platform, its own nodes by default, the hook
    assert yaml.safe_load((domain / "packages.yml").read_text())["packages"] == [
        {"local": "{{ env_var('DUCKMESH_PLATFORM', '../../macros') }}"}]
    assert yaml.safe_load((domain / "selectors.yml").read_text())["selectors"][0][
        "definition"] == {"method": "package", "value": "finance"}
    assert project["on-run-start"] == ["{{ duckmesh_platform.on_run_start('finance') }}"]
    assert "duckmesh_platform.domain_schema_name" in (
        domain / "macros" / "generate_schema_name.sql").read_text()

    # 2. a product from the query (types from the query run with LIMIT 0), and what it did
    said = duckmesh(root, *commands[1][1:]).stdout
    products = domain / "models" / "products"
    sql = "domains/finance/models/products/daily_revenue_v1.sql"
    yml = products / "_daily_revenue.yml"
    assert said.split("\n\n", 2)[2] == (
        "done for you:\n"
        "  - declared upstream domain sales in domains/finance/packages.yml and "
        "dbt_project.yml (+database: published), so finance still builds alone\n"
        f"  - net_amount: cast to decimal(18,2) in {sql} (P05 naming rule)\n\n"
        "before it passes governance:\n"
        "  - write the descriptions marked '# TODO: describe' in "
        f"{yml.relative_to(root)}: the product, order_date, order_count, net_amount\n\n"
        "next: ./duckmesh build\n")
    assert (root / sql).read_text() == GENERATED_SQL
    # sum() of decimal(18,2) is decimal(38,2) in DuckDB: P05 wants *_amount decimal(18,2)
    assert contract(yml) == [("order_date", "date"), ("order_count", "bigint"),
                             ("net_amount", "decimal(18,2)")]
    assert len(TODO_LINE.findall(yml.read_text())) == 4  # the product and its 3 columns
    # it refs sales: finance now declares sales, read from the publish when built alone
    assert yaml.safe_load((domain / "packages.yml").read_text())["packages"][-1] == {
        "local": "{{ env_var('DUCKMESH_DOMAINS', '..') }}/sales"}
    assert yaml.safe_load((domain / "dbt_project.yml").read_text())["models"]["sales"] == {
        "+database": "published"}
    assert product_entry(yml)["constraints"] == [{"type": "primary_key",
                                                  "columns": ["order_date"]}]

    # a product over a built model: the contract is the relation's own catalog types
    duckmesh(root, "new-product", "sales", "order_facts", "--from", "int_orders_totals")
    facts_yml = root / "domains" / "sales" / "models" / "products" / "_order_facts.yml"
    assert contract(facts_yml) == catalog_types(root / "mesh.duckdb", "sales",
                                                "int_orders_totals")
    facts = product_entry(facts_yml)
    assert facts["description"] == \
        "One row per order with line totals (gross, discount, net) and flags."
    assert facts["columns"][0] == {
        "name": "order_id", "description": "Order number.", "data_type": "varchar",
        "constraints": [{"type": "not_null"}], "data_tests": ["unique", "not_null"]}

    # governance rejects exactly the descriptions left to the team
    check = duckmesh(root, "governance", "check", "--json", check=False)
    assert check.returncode == 1, check.stdout + check.stderr
    found = {(v["policy"], v["node"], v["column"])
             for v in json_output(check.stdout, "{")["violations"]}
    todo = {("P02", "model.finance.daily_revenue.v1", None)} | {
        ("P02", "model.finance.daily_revenue.v1", c)
        for c in ("order_date", "order_count", "net_amount")} | {
        ("P02", "model.sales.order_facts.v1", c["name"])
        for c in facts["columns"] if c["description"] == ""}
    assert len(todo) == 4 + 12
    assert found == todo

    # the team writes them
    for path in (yml, facts_yml):
        path.write_text(TODO_LINE.sub("description: Written by the team.", path.read_text()))

    # a breaking change starts as v2; v1 gets the policy's deprecation date
    said = duckmesh(root, "new-version", "finance.daily_revenue").stdout
    deprecation = datetime.date.today() + datetime.timedelta(DEPRECATION_NOTICE_DAYS)
    assert f"v1 deprecated on {deprecation}" in said
    assert (products / "daily_revenue_v2.sql").read_text() == \
        (products / "daily_revenue_v1.sql").read_text()
    entry = product_entry(yml)
    assert entry["latest_version"] == 2
    assert entry["versions"] == [{"v": 2}, {"v": 1, "deprecation_date": deprecation}]

    # every SQL file it wrote passes sqlfluff (dbt templater, the root's .sqlfluff), each
    # one linted (named in the report)
    generated = [sql, "domains/finance/models/products/daily_revenue_v2.sql",
                 "domains/sales/models/products/order_facts_v1.sql"]
    # the environment `duckmesh lint` gives sqlfluff (lint/runner.py): the templater's
    # dbt parse and the build's below reuse each other's parse state
    env = sqlfluff_env(Mesh(root))
    lint = subprocess.run([sys.executable, "-m", "sqlfluff", "lint", "--format", "json",
                           *generated], cwd=root, env=env, capture_output=True, text=True,
                          timeout=300)
    report = json_output(lint.stdout, "[")
    assert sorted(f["filepath"] for f in report) == sorted(generated)
    assert [v for f in report for v in f["violations"]] == []

    # 3. the whole mesh builds, governance included
    duckmesh(root, "build", "--scale", str(TEST_SCALE))
    with builddb.connect(root / "mesh.duckdb", read_only=True) as con:
        days = con.execute("select count(distinct order_date) from sales.orders").fetchone()[0]
        for relation in ("finance.daily_revenue_v1", "finance.daily_revenue_v2",
                         "finance.daily_revenue"):
            assert con.execute(f"select count(*) from {relation}").fetchone()[0] == days
        net = con.execute("select sum(net_amount) from sales.orders").fetchone()[0]
        assert con.execute("select sum(net_amount) from finance.daily_revenue").fetchone()[0] \
            == net
        orders = con.execute("select count(*) from sales.orders").fetchone()[0]
        assert con.execute("select count(*) from sales.order_facts").fetchone()[0] == orders


# ---------------------------------------------------------------- doctor

def test_doctor_names_stale_packages_and_the_lock_holder(mesh_copy: Path) -> None:
    # a fresh copy: no dbt_packages yet, so every domain needs `dbt deps`
    result = duckmesh(mesh_copy, "doctor", check=False)
    assert result.returncode == 1
    domains = [p.name for p in (mesh_copy / "domains").iterdir()
               if (p / "dbt_project.yml").is_file()
               and f"domains/{p.name}" in (mesh_copy / "packages.yml").read_text()]
    for name in domains:
        assert (f"FAIL  domain {name}: not installed in dbt_packages/ (a new domain, or deps "
                "never ran)\n      run: ./duckmesh build   (it runs dbt deps first)"
                ) in result.stdout

    # a DuckDB file held by another process: doctor names the process
    db = mesh_copy / "mesh.duckdb"
    builddb.connect(db).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
         "print('ready', flush=True); time.sleep(60)", str(db)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        result = duckmesh(mesh_copy, "doctor", check=False)
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 1
    assert f"FAIL  database: {db} is open in PID {holder.pid}" in result.stdout
    assert f"(kill {holder.pid})" in result.stdout
