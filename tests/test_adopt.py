"""`duckmesh adopt`: a third-party-style dbt project (tests/fixtures/third_party_project:
seeds, staging, marts, partial docs, no contracts) becomes a governed domain.

The fixture's gaps by design: no owner given; customers.lifetime_amount is a double
(P05 wants decimal(18,2) for *_amount); orders has no model description and only
order_id is documented. Everything else (contracts, types, access, group, schema,
versions, keys, metadata) the platform must generate correctly.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import duckdb
import pytest
import yaml

from conftest import REPO, TEST_SCALE, duckmesh
from duckmesh import cli

FIXTURE = REPO / "tests" / "fixtures" / "third_party_project"
GAP = re.compile(r"^\[(P\d\d) (error|warn)\] (\S+?)(?:, column (\w+))?: (.*)$")

EXPECTED_GAPS = {
    ("P02", "error", "group.shop.shop", None),
    ("P05", "error", "model.shop.customers.v1", "lifetime_amount"),
    ("P02", "error", "model.shop.orders.v1", None),
    ("P02", "error", "model.shop.orders.v1", "customer_id"),
    ("P02", "error", "model.shop.orders.v1", "order_date"),
    ("P02", "error", "model.shop.orders.v1", "status"),
    ("P02", "error", "model.shop.orders.v1", "amount"),
    ("P02", "error", "model.shop.orders.v1", "is_completed"),
}


def tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return digest.hexdigest()


def columns(path: Path) -> list[tuple[str, str, str]]:
    entry = yaml.safe_load(path.read_text())["models"][0]
    return [(c["name"], c["data_type"], c["description"]) for c in entry["columns"]]


def report_gaps(stdout: str) -> tuple[set[tuple], dict[tuple, str]]:
    """(policy, severity, node, column) of every report line, and each one's next step."""
    lines = stdout.splitlines()
    gaps, fixes = set(), {}
    for index, line in enumerate(lines):
        match = GAP.match(line)
        if match:
            key = (match[1], match[2], match[3], match[4])
            gaps.add(key)
            assert lines[index + 1].startswith("    next: "), line
            fixes[key] = lines[index + 1].removeprefix("    next: ")
    return gaps, fixes


@pytest.mark.e2e
def test_adopt_reports_exactly_the_projects_gaps_then_builds(mesh_copy: Path) -> None:
    before = tree_digest(FIXTURE)
    result = duckmesh(mesh_copy, "adopt", str(FIXTURE), "--as", "shop", check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    gaps, fixes = report_gaps(result.stdout)
    assert gaps == EXPECTED_GAPS, result.stdout
    assert "still missing (governance check): 8 error(s), 0 warning(s)" in result.stdout
    assert fixes[("P02", "error", "group.shop.shop", None)].startswith(
        f'duckmesh adopt {FIXTURE} --as shop --owner "<team>" --email <team@example.org> '
        "--force")
    assert tree_digest(FIXTURE) == before, "adopt changed the original project"

    domain = mesh_copy / "domains" / "shop"
    project = yaml.safe_load((domain / "dbt_project.yml").read_text())
    assert (project["name"], project["profile"], project["restrict-access"]) == \
        ("shop", "duckmesh", True)
    models = project["models"]["shop"]
    assert (models["+group"], models["+access"], models["+schema"]) == \
        ("shop", "private", "shop")
    assert "marts" not in models and not (domain / "models" / "marts").exists()
    assert project["seeds"]["shop"]["+schema"] == "shop"
    assert yaml.safe_load((mesh_copy / "packages.yml").read_text())["packages"][-1] == \
        {"local": "domains/shop"}

    products = domain / "models" / "products"
    assert sorted(p.name for p in products.iterdir()) == [
        "_customers.yml", "_orders.yml", "customers_v1.sql", "orders_v1.sql"]
    assert (products / "orders_v1.sql").read_text() == \
        (FIXTURE / "models" / "marts" / "orders.sql").read_text()
    # the contract: types from the built relation, the project's own descriptions kept
    assert columns(products / "_customers.yml") == [
        ("customer_id", "varchar", "Customer number."),
        ("first_name", "varchar", "First name as entered at signup."),
        ("signup_date", "date", "Day the customer signed up."),
        ("order_count", "bigint", "Orders placed, any status."),
        ("lifetime_amount", "double", "Sum of order amounts, in EUR."),
    ]
    assert columns(products / "_orders.yml") == [
        ("order_id", "varchar", "Order number."), ("customer_id", "varchar", ""),
        ("order_date", "date", ""), ("status", "varchar", ""), ("amount", "double", ""),
        ("is_completed", "boolean", "")]
    orders = yaml.safe_load((products / "_orders.yml").read_text())["models"][0]
    assert orders["constraints"] == [{"type": "primary_key", "columns": ["order_id"]}]
    assert orders["config"]["meta"]["lifecycle"] == "experimental"
    # the mart entries moved out of the project's schema.yml
    assert not (domain / "models" / "marts" / "schema.yml").exists()

    # the team closes the gaps; then the whole mesh builds with governance on
    groups = domain / "models" / "_groups.yml"
    groups.write_text(groups.read_text().replace(
        "name: 'TODO: owning team'", "name: Shop Team\n      email: shop@duckmesh.example"))
    sql = products / "customers_v1.sql"
    sql.write_text(sql.read_text().replace(
        "coalesce(customer_orders.lifetime_amount, 0) as lifetime_amount",
        "cast(coalesce(customer_orders.lifetime_amount, 0) as decimal(18, 2)) as lifetime_amount"))
    for name in ("_customers.yml", "_orders.yml"):
        path = products / name
        text = path.read_text().replace("data_type: double", "data_type: decimal(18,2)", 1) \
            if name == "_customers.yml" else path.read_text()
        path.write_text(text.replace("description: ''  # TODO: describe",
                                     "description: Written by the team."))
    duckmesh(mesh_copy, "build", "--scale", str(TEST_SCALE))
    con = duckdb.connect(str(mesh_copy / "mesh.duckdb"), read_only=True)
    try:
        assert con.execute("select count(*) from shop.orders").fetchone()[0] == 5
        assert con.execute("select count(*) from shop.customers_v1").fetchone()[0] == 4
        assert con.execute("select lifetime_amount from shop.customers "
                           "where customer_id = '1'").fetchone()[0] == pytest.approx(37.5)
    finally:
        con.close()


@pytest.mark.parametrize(("args", "code", "message"), [
    (["adopt", "{root}/domains", "--as", "shop"], 2,
     "{root}/domains is not a dbt project (no dbt_project.yml)"),
    (["adopt", str(FIXTURE), "--as", "Shop"], 2,
     "domain name 'Shop' is not a valid identifier: use lower-case letters, digits and "
     "underscores, starting with a letter, at most 63 characters (for example 'shop')"),
    (["adopt", str(FIXTURE), "--as", "sales"], 3,
     "domains/sales already exists: pass --force to replace it"),
    (["adopt", str(FIXTURE), "--as", "shop", "--email", "shop-team"], 2,
     "owner e-mail 'shop-team' is not an e-mail address (expected name@example.org)"),
])
def test_adopt_rejects_bad_input(mesh_copy: Path, capsys: pytest.CaptureFixture,
                                 args: list[str], code: int, message: str) -> None:
    args = [a.format(root=mesh_copy) for a in args]
    assert cli.main(["--project-dir", str(mesh_copy), *args]) == code
    assert capsys.readouterr().err == \
        f"duckmesh adopt: error: {message.format(root=mesh_copy)}\n"
    assert not (mesh_copy / "domains" / "shop").exists()
