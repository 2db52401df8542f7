"""`duckmesh adopt` on a typical public dbt project (tests/fixtures/jaffle_shop, shaped
like dbt-labs/jaffle-shop) with the eight traits that used to break onboarding:
packages called by namespace, var-gated seeds behind sources, its own
generate_schema_name, semantic models and a time spine, model-level tests, non-dbt
files, marts named like existing products, and technical models.

The walkthrough docs/onboarding.md is the script: its shell blocks are the commands run
here (adopt, governance check, build), its yaml block is the one edit, and its text
block is the checklist adopt must print. One mesh is onboarded and built per module;
the trait tests read what it did.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shlex
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
import yaml

from conftest import REPO, clone_built, copy_mesh, duckmesh
from duckmesh import cli
from duckmesh.core.names import InvalidInput
from duckmesh.selfserve.adopt import layout, project

FIXTURE = REPO / "tests" / "fixtures" / "jaffle_shop"
SEEDS = FIXTURE / "seeds" / "jaffle-data"
HUB = REPO / "tests" / "fixtures" / "packages" / "hub_utils"
DOC = REPO / "docs" / "onboarding.md"
DOC_PATH = "../jaffle-shop"  # the project's path in the walkthrough


def blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", DOC.read_text(), re.DOTALL)


def tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return digest.hexdigest()


def seed_rows(name: str) -> list[dict[str, str]]:
    with (SEEDS / f"{name}.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def hub_repository(dest: Path) -> dict[str, str]:
    """The stand-in hub package as a git repository tagged v1.1.1; the env that points
    the project's packages.yml at it."""
    shutil.copytree(HUB, dest)
    git = ["git", "-c", "user.email=ci@duckmesh.example", "-c", "user.name=ci"]
    for step in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "1.1.1"], ["tag", "v1.1.1"]):
        subprocess.run([*git, *step], cwd=dest, check=True)
    return {"HUB_UTILS_GIT": f"file://{dest}"}


def run_doc_command(root: Path, command: str, env: dict[str, str],
                    check: bool = True) -> subprocess.CompletedProcess:
    args = shlex.split(command.replace(DOC_PATH, str(FIXTURE)))
    assert args[0] == "./duckmesh", command
    return duckmesh(root, *args[1:], env=env, check=check)


@dataclass(frozen=True)
class Onboarded:
    root: Path
    env: dict[str, str]
    digest_before: str
    adopt: subprocess.CompletedProcess
    check: subprocess.CompletedProcess
    build: subprocess.CompletedProcess

    @property
    def domain(self) -> Path:
        return self.root / "domains" / "shop"


@pytest.fixture(scope="module")
def onboarded(tmp_path_factory: pytest.TempPathFactory) -> Onboarded:
    """The walkthrough, step by step: adopt, the one edit, governance check, build."""
    base = tmp_path_factory.mktemp("adopt")
    env = hub_repository(base / "hub_utils")
    root = copy_mesh(base / "duckmesh")
    digest = tree_digest(FIXTURE)
    adopt_cmd, check_cmd, build_cmd = (b.strip() for b in blocks("sh"))
    adopted = run_doc_command(root, adopt_cmd, env, check=False)
    assert adopted.returncode == 1, adopted.stdout + adopted.stderr
    (edit,) = blocks("yaml")
    description = yaml.safe_load(edit)[0]["description"]
    yml = root / "domains" / "shop" / "models" / "products" / "_customers.yml"
    text = yml.read_text()
    todo = "      - name: customer_type\n        description: ''  # TODO: describe\n"
    assert todo in text
    yml.write_text(text.replace(todo, f"      - name: customer_type\n"
                                      f"        description: {description}\n"))
    checked = run_doc_command(root, check_cmd, env)
    built = run_doc_command(root, build_cmd, env)
    return Onboarded(root, env, digest, adopted, checked, built)


# ---------------------------------------------------------------- the walkthrough

def test_adopt_ends_with_the_documented_checklist(onboarded: Onboarded) -> None:
    out = onboarded.adopt.stdout
    assert "still missing (governance check): 1 error(s), 0 warning(s)" in out
    assert out.rstrip().endswith(blocks("text")[0].rstrip()), out
    assert "duckmesh build" not in out.split("next steps:")[1]  # not while errors remain


def test_three_steps_later_governance_passes_and_the_mesh_builds(onboarded: Onboarded) -> None:
    assert "DuckMesh governance: 0 error(s), 0 warning(s)" in onboarded.check.stdout
    assert re.search(r"^shop +orders +v1 +9 +shop\.orders_v1 ", onboarded.build.stdout, re.M)
    assert tree_digest(FIXTURE) == onboarded.digest_before, "adopt changed the project"


def test_product_rows_match_the_seed_files(onboarded: Onboarded) -> None:
    orders, customers = seed_rows("raw_orders"), seed_rows("raw_customers")
    spend: Counter[str] = Counter()
    for order in orders:
        spend[order["customer"]] += int(order["order_total"])
    con = duckdb.connect(str(onboarded.root / "mesh.duckdb"), read_only=True)
    try:
        assert con.execute("select count(*) from shop.orders_v1").fetchone()[0] == len(orders)
        assert con.execute("select count(*) from shop.customers_v1").fetchone()[0] == \
            len(customers)
        rows = con.execute("select customer_id, count_lifetime_orders, lifetime_spend, "
                           "customer_type from shop.customers_v1").fetchall()
    finally:
        con.close()
    placed = Counter(order["customer"] for order in orders)
    assert sorted(rows) == sorted(
        (c["id"], placed[c["id"]] or None,
         Decimal(spend[c["id"]]) / 100 if placed[c["id"]] else None,
         "returning" if placed[c["id"]] > 1 else "new") for c in customers)


def test_the_adopted_domain_builds_alone(onboarded: Onboarded, tmp_path: Path) -> None:
    """The shop team builds its domain on its own (README "Domains"), seeds included."""
    root = clone_built(onboarded.root, tmp_path / "mesh")
    built = duckmesh(root, "build", "--domain", "shop", "--scale", "0.01", env=onboarded.env)
    assert "domain shop built in " in built.stdout
    con = duckdb.connect(str(root / "target" / "domains" / "shop" / "build.duckdb"),
                         read_only=True)
    try:
        assert con.execute("select count(*) from shop.orders_v1").fetchone()[0] == \
            len(seed_rows("raw_orders"))
        assert con.execute("select count(*) from shop.customers_v1").fetchone()[0] == \
            len(seed_rows("raw_customers"))
    finally:
        con.close()


# ---------------------------------------------------------------- the eight traits

def test_trait_1_packages_are_installed_through_the_domains_packages_yml(
        onboarded: Onboarded) -> None:
    assert "  - kept 1 third-party package(s) in domains/shop/packages.yml; the mesh's " \
           "`dbt deps` installs them\n" in onboarded.adopt.stdout
    packages = yaml.safe_load((onboarded.domain / "packages.yml").read_text())["packages"]
    assert packages[1] == {"git": "{{ env_var('HUB_UTILS_GIT', 'https://github.com/"
                                  "duckmesh-fixtures/hub_utils.git') }}", "revision": "v1.1.1"}
    results = json.loads((onboarded.root / "target" / "run_results.json").read_text())
    package_tests = sorted(r["unique_id"].split(".")[2] for r in results["results"]
                           if ".hub_utils_expression_is_true_" in r["unique_id"]
                           and r["status"] == "pass")
    assert len(package_tests) == 4, package_tests  # stg_orders, orders, customers (x2)
    con = duckdb.connect(str(onboarded.root / "mesh.duckdb"), read_only=True)
    try:  # the time spine calls hub_utils.get_base_dates(): one row per day of 2024
        assert con.execute("select count(*) from shop.metricflow_time_spine").fetchone()[0] == 366
    finally:
        con.close()


def test_trait_1_a_local_package_that_is_not_there_is_refused_with_the_rewrite(
        tmp_path: Path) -> None:
    shutil.copytree(FIXTURE, tmp_path / "jaffle")
    (tmp_path / "jaffle" / "packages.yml").write_text("packages:\n  - local: ../hub_utils\n")
    with pytest.raises(InvalidInput) as refused:
        project.source_libraries(tmp_path / "jaffle", "shop")
    assert str(refused.value) == (
        f"packages.yml installs the local package ../hub_utils, and {tmp_path}/hub_utils is "
        "not a dbt project. Publish it to git and list it as `- git: <url>` with "
        "`revision: <tag>` in packages.yml, or copy its macros into the project's macros/ "
        "and drop the namespace: hub_utils.expression_is_true( -> expression_is_true(, "
        "hub_utils.get_base_dates( -> get_base_dates(")


def test_trait_2_var_gated_seeds_build_and_sources_read_the_domain_schema(
        onboarded: Onboarded) -> None:
    out = onboarded.adopt.stdout
    assert ("  - set the vars' values as defaults in dbt_project.yml (an installed package's "
            "dbt_project.yml sees only the root project's vars): "
            "seeds.shop.jaffle-data.+enabled: {{ var('load_source_data', true) }}\n") in out
    assert ("  - sources backed by the project's seeds now read the domain's schema: ecom "
            "(schema raw -> shop); 4 model(s) that select from them depend on the seeds "
            "(`-- depends_on: {{ ref(...) }}`), so one `dbt build` loads the seeds first\n") in out
    staging = onboarded.domain / "models" / "staging"
    assert (staging / "stg_orders.sql").read_text() == \
        "-- depends_on: {{ ref('raw_orders') }}\n" + \
        (FIXTURE / "models" / "staging" / "stg_orders.sql").read_text()
    config = yaml.safe_load((onboarded.domain / "dbt_project.yml").read_text())
    assert config["vars"]["load_source_data"] is True
    assert config["seeds"]["shop"]["+schema"] == "shop"
    con = duckdb.connect(str(onboarded.root / "mesh.duckdb"), read_only=True)
    try:
        assert con.execute("select count(*) from shop.raw_items").fetchone()[0] == \
            len(seed_rows("raw_items"))
    finally:
        con.close()


def test_trait_3_the_projects_generate_schema_name_is_dropped(onboarded: Onboarded) -> None:
    assert ("  - dropped generate_schema_name (macros/generate_schema_name.sql): it would "
            "move the domain's models out of the schema named after the domain (P04); the "
            "mesh's own macros/generate_schema_name.sql replaces it\n") in onboarded.adopt.stdout
    assert "duckmesh_platform.domain_schema_name" in \
        (onboarded.domain / "macros" / "generate_schema_name.sql").read_text()


def test_trait_3_a_naming_macro_beside_others_is_cut_out(tmp_path: Path) -> None:
    macros = tmp_path / "macros"
    macros.mkdir()
    (macros / "naming.sql").write_text(
        "{% macro generate_alias_name(custom_alias_name, node) -%}\n  x\n{%- endmacro %}\n"
        "{% macro keep_me() %}1{% endmacro %}\n")
    notes = layout.drop_naming_overrides(tmp_path, ["macros"])
    assert notes == ["dropped generate_alias_name (macros/naming.sql; its other macros stay): "
                     "it would rename the product relations <product>_v<N> the mesh "
                     "addresses them by (P04); dbt's default naming applies"]
    assert (macros / "naming.sql").read_text() == "{% macro keep_me() %}1{% endmacro %}\n"


def test_trait_3_link_refuses_to_keep_a_naming_override(mesh_copy: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["--project-dir", str(mesh_copy), "adopt", str(FIXTURE), "--as", "shop",
                     "--link"]) == 2
    assert capsys.readouterr().err == (
        "duckmesh adopt: error: macros/generate_schema_name.sql overrides generate_schema_name: "
        "in the mesh it would move the domain's models out of the schema named after the "
        "domain (P04); the mesh's own macros/generate_schema_name.sql replaces it. With "
        "--link adopt would have to edit the original project to drop it: adopt without "
        "--link (a copy), or delete the override in the project first\n")


def test_trait_3_p04_names_the_generate_schema_name_macro(onboarded: Onboarded,
                                                          tmp_path: Path) -> None:
    root = clone_built(onboarded.root, tmp_path / "mesh")
    shutil.copy(FIXTURE / "macros" / "generate_schema_name.sql",
                root / "domains" / "shop" / "macros" / "generate_schema_name.sql")
    report = json.loads(duckmesh(root, "governance", "check", "--json", env=onboarded.env,
                                 check=False).stdout)
    p04 = sorted((v["node"], v["message"], v["fix"]) for v in report["violations"]
                 if v["policy"] == "P04")
    assert p04 == [(
        f"model.shop.{name}.v1",
        f"product {name} v1 lives in schema main, not in its domain's schema shop: its config "
        "says `+schema: shop`, so a generate_schema_name macro renamed it",
        "make generate_schema_name in the macros of shop (and of the project dbt runs from) "
        "return duckmesh_platform.domain_schema_name(custom_schema_name, node), or delete "
        "that override") for name in ("customers", "orders")]


def test_trait_4_semantic_models_and_the_time_spine_keep_working(onboarded: Onboarded) -> None:
    assert ("  - 3 semantic models, 2 metrics joined group shop (semantic-models, metrics and "
            "saved-queries `+group` in dbt_project.yml): dbt lets them ref the domain's "
            "private models\n") in onboarded.adopt.stdout
    manifest = json.loads((onboarded.root / "target" / "manifest.json").read_text())
    semantic = {m["name"]: (m["config"]["group"], m["depends_on"]["nodes"])
                for m in manifest["semantic_models"].values() if m["package_name"] == "shop"}
    assert semantic == {"orders": ("shop", ["model.shop.orders.v1"]),
                        "customers": ("shop", ["model.shop.customers.v1"]),
                        "order_item": ("shop", ["model.shop.order_items"])}
    metrics = {m["name"]: m["config"]["group"] for m in manifest["metrics"].values()
               if m["package_name"] == "shop"}
    assert metrics == {"order_total": "shop", "orders": "shop"}
    spine = manifest["nodes"]["model.shop.metricflow_time_spine"]
    assert (spine["access"], spine["time_spine"]["standard_granularity_column"]) == \
        ("private", "date_day")


def test_trait_5_model_level_tests_are_kept_and_run(onboarded: Onboarded) -> None:
    assert ("  - kept the model-level data tests in the products' yml: 2 of orders, "
            "1 of customers\n") in onboarded.adopt.stdout
    products = onboarded.domain / "models" / "products"
    kept = yaml.safe_load((products / "_orders.yml").read_text())["models"][0]["data_tests"]
    original = yaml.safe_load((FIXTURE / "models" / "marts" / "orders.yml").read_text())
    assert kept == original["models"][0]["data_tests"]
    results = json.loads((onboarded.root / "target" / "run_results.json").read_text())
    on_orders = sorted(r["status"] for r in results["results"]
                       if r["unique_id"].startswith("test.shop.hub_utils_expression_is_true_orders"))
    assert on_orders == ["pass", "pass"]
    singular = [r["status"] for r in results["results"]
                if r["unique_id"] == "test.shop.orders_have_items"]
    assert singular == ["pass"]


def test_trait_6_non_dbt_files_are_left_out_and_listed(onboarded: Onboarded) -> None:
    assert ("\nleft out (not part of a dbt package): .github/, .pre-commit-config.yaml, "
            ".sqlfluff, README.md, Taskfile.yml\n") in onboarded.adopt.stdout
    assert sorted(p.name for p in onboarded.domain.iterdir()) == [
        "analyses", "data-tests", "dbt_project.yml", "macros", "models", "packages.yml",
        "seeds", "selectors.yml"]


def test_trait_7_product_names_of_other_domains_are_warned_about(onboarded: Onboarded) -> None:
    rename = "--force --products orders=shop_orders,customers=shop_customers"
    for name, owner in (("orders", "sales"), ("customers", "customers")):
        assert (f"\nwarning: product name {name} is also {owner}.{name}: two products of the "
                f"same name are legal (consumers write ref('shop', '{name}')), but a "
                f"one-argument ref('{name}') in a project that installs both is ambiguous. "
                f"To rename, adopt again with {rename}\n") in onboarded.adopt.stdout


def test_trait_8_only_the_chosen_marts_become_products(onboarded: Onboarded) -> None:
    out = onboarded.adopt.stdout
    assert ("  - metricflow_time_spine stays private: it is MetricFlow's time spine "
            "(a technical model)\n") in out
    assert "  - order_items stays private (not in --products)\n" in out
    manifest = json.loads((onboarded.root / "target" / "manifest.json").read_text())
    public = sorted(n["name"] for n in manifest["nodes"].values()
                    if n.get("package_name") == "shop" and n.get("access") == "public")
    assert public == ["customers", "orders"]
    assert (onboarded.domain / "models" / "marts" / "order_items.sql").is_file()


def test_casts_are_applied_in_the_product_sql(onboarded: Onboarded) -> None:
    sql = (onboarded.domain / "models" / "products" / "orders_v1.sql").read_text()
    assert "        cast(ordered_at as timestamp with time zone) as ordered_at,\n" in sql
    assert "        cast(count_food_items as bigint) as count_food_items,\n" in sql
    assert ("  product shop.orders v1 (13 columns, lifecycle experimental, cast ordered_at, "
            "count_food_items, count_drink_items (P05/P10))\n") in onboarded.adopt.stdout


# ---------------------------------------------------------------- re-running adopt

def test_update_keeps_edits_and_force_says_it_is_destructive(
        onboarded: Onboarded, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = clone_built(onboarded.root, tmp_path / "mesh")
    assert cli.main(["--project-dir", str(root), "adopt", str(FIXTURE), "--as", "shop"]) == 3
    assert capsys.readouterr().err == (
        "duckmesh adopt: error: domains/shop already exists: pass --update to set the owner "
        "or add products while keeping every edit made in it, or --force to replace it "
        "(destructive: --force deletes domains/shop and the edits made in it)\n")
    orders_yml = root / "domains" / "shop" / "models" / "products" / "_orders.yml"
    edited = orders_yml.read_text().replace("The store the order was placed in.",
                                            "The shop (store) that took the order.")
    orders_yml.write_text(edited)

    updated = duckmesh(root, "adopt", str(FIXTURE), "--as", "shop", "--update", "--owner",
                       "Web Shop Team", "--products", "orders,customers,order_items",
                       env=onboarded.env, check=False)
    assert orders_yml.read_text() == edited
    group = yaml.safe_load((root / "domains" / "shop" / "models" / "_groups.yml").read_text())
    assert group["groups"][0]["owner"] == {"name": "Web Shop Team",
                                           "email": "shop@duckmesh.example"}
    assert "  - kept the products made before, with their edits: customers, orders\n" in \
        updated.stdout
    assert updated.returncode == 1, updated.stdout + updated.stderr
    steps = updated.stdout.split("next steps:\n")[1].splitlines()
    yml = "domains/shop/models/products/_order_items.yml"
    assert steps == [
        f"  {n}. edit {yml}: write the description of column {column} (marked "
        "'# TODO: describe')"
        for n, column in enumerate(["is_drink_item", "is_food_item", "ordered_at",
                                    "product_id", "product_name", "product_price"], 1)
    ] + ["  7. ./duckmesh governance check   (until domain shop has 0 errors)"]

    # replaced from a copy of the project that installs the package by a local path
    local = tmp_path / "local" / "jaffle"
    shutil.copytree(FIXTURE, local)
    shutil.copytree(HUB, local.parent / "hub_utils")
    (local / "packages.yml").write_text("packages:\n  - local: ../hub_utils\n")
    replaced = duckmesh(root, "adopt", str(local), "--as", "shop", "--force", "--owner",
                        "Shop Team", "--email", "shop@duckmesh.example", "--products",
                        "orders=shop_orders,customers", check=False)
    assert "      --force: replacing domains/shop (destructive: the edits made in it are " \
           "gone)\n" in replaced.stdout
    assert ("  - copied the local package hub_utils into domains/shop/vendor/hub_utils: a "
            "local path in a domain's packages.yml resolves against the mesh root, so the "
            "domain installs it from its own folder (DUCKMESH_DOMAINS, as upstream domains)\n"
            ) in replaced.stdout
    assert yaml.safe_load((root / "domains" / "shop" / "packages.yml").read_text())[
        "packages"][1] == {"local": "{{ env_var('DUCKMESH_DOMAINS', '..') }}/shop/vendor/hub_utils"}
    # governance ran (the vendored package installed and parsed): the one description,
    # and the rename removed shop.orders v1, which the build published (P09)
    assert "still missing (governance check): 2 error(s), 0 warning(s)" in replaced.stdout
    assert ("[P09 error] model.shop.orders.v1: published product orders v1 was removed "
            "before its deprecation date (none set)\n") in replaced.stdout
    products = root / "domains" / "shop" / "models" / "products"
    assert sorted(p.name for p in products.iterdir()) == [
        "_customers.yml", "_shop_orders.yml", "customers_v1.sql", "shop_orders_v1.sql"]
    assert "{{ ref('shop_orders') }}" in (products / "customers_v1.sql").read_text()
    assert "warning: product name orders" not in replaced.stdout
    assert "The shop (store) that took the order." not in \
        (products / "_shop_orders.yml").read_text()


@pytest.mark.parametrize(("args", "code", "message"), [
    (["adopt", "{root}/domains", "--as", "shop"], 2,
     "{root}/domains is not a dbt project (no dbt_project.yml)"),
    (["adopt", str(FIXTURE), "--as", "Shop"], 2,
     "domain name 'Shop' is not a valid identifier: use lower-case letters, digits and "
     "underscores, starting with a letter, at most 63 characters (for example 'shop')"),
    (["adopt", str(FIXTURE), "--as", "shop", "--email", "shop-team"], 2,
     "owner e-mail 'shop-team' is not an e-mail address (expected name@example.org)"),
    (["adopt", str(FIXTURE), "--as", "shop", "--update"], 2,
     "--update: domains/shop does not exist yet; adopt it first (without --update)"),
    (["adopt", str(FIXTURE), "--as", "shop", "--update", "--force"], 2,
     "--update keeps the domain's edits and --force replaces the domain: give one of them"),
    (["adopt", str(FIXTURE), "--as", "shop", "--vars", "load_source_data"], 2,
     "--vars 'load_source_data' is not a YAML mapping (e.g. '{load_source_data: true}')"),
])
def test_adopt_rejects_bad_input(mesh_copy: Path, capsys: pytest.CaptureFixture,
                                 args: list[str], code: int, message: str) -> None:
    args = [a.replace("{root}", str(mesh_copy)) for a in args]
    assert cli.main(["--project-dir", str(mesh_copy), *args]) == code
    assert capsys.readouterr().err == \
        f"duckmesh adopt: error: {message.replace('{root}', str(mesh_copy))}\n"
    assert not (mesh_copy / "domains" / "shop").exists()


def test_switch_vars_and_their_defaults() -> None:
    config = {"seeds": {"jaffle_shop": {"jaffle-data": {
        "+enabled": "{{ var('load_source_data', false) }}"}}}}
    assert project.switch_vars(config) == {"load_source_data": True}
    changed: list[str] = []
    project.resolve_vars(config, {"load_source_data": True}, changed)
    assert config["seeds"]["jaffle_shop"]["jaffle-data"]["+enabled"] == \
        "{{ var('load_source_data', true) }}"
    assert changed == ["seeds.jaffle_shop.jaffle-data.+enabled: "
                       "{{ var('load_source_data', true) }}"]
