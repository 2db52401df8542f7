"""Domain boundaries: only products are visible across domains, enforced by dbt."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import project_dbt


def add_model(root: Path, domain: str, name: str, sql: str) -> None:
    (root / "domains" / domain / "models" / "intermediate").mkdir(exist_ok=True)
    (root / "domains" / domain / "models" / "intermediate" / f"{name}.sql").write_text(sql)


@pytest.mark.parametrize(("target", "group"), [
    ("stg_order_system__orders", "sales"),
    ("int_orders_totals", "sales"),
])
def test_a_ref_to_another_domains_private_model_fails_to_parse(
        mesh_copy: Path, target: str, group: str) -> None:
    add_model(mesh_copy, "marketing", "int_peek",
              f"select * from {{{{ ref('sales', '{target}') }}}}\n")
    assert project_dbt(mesh_copy, "deps").returncode == 0
    result = project_dbt(mesh_copy, "parse")
    assert result.returncode != 0
    assert (f"Node model.marketing.int_peek attempted to reference node model.sales.{target}, "
            f"which is not allowed because the referenced node is private to the '{group}' group."
            ) in result.stdout


def test_a_ref_to_a_public_product_parses(mesh_copy: Path) -> None:
    add_model(mesh_copy, "marketing", "int_orders_peek",
              "select order_id from {{ ref('sales', 'orders', v=1) }}\n")
    assert project_dbt(mesh_copy, "deps").returncode == 0
    result = project_dbt(mesh_copy, "parse")
    assert result.returncode == 0, result.stdout[-3000:]


def test_every_domain_restricts_access_and_defaults_to_private(mesh_copy: Path) -> None:
    import yaml

    for project in sorted((mesh_copy / "domains").glob("*/dbt_project.yml")):
        config = yaml.safe_load(project.read_text())
        name = config["name"]
        assert config["restrict-access"] is True, name
        models = config["models"][name]
        assert models["+access"] == "private", name
        assert models["+group"] == name, name
        assert models["products"]["+access"] == "public", name
        assert models["products"]["+contract"] == {"enforced": True}, name
