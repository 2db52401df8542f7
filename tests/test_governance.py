"""Federated computational governance: policies P00-P12 in macros/governance/
(P13 in governance/declared_reads.py).

One fixture mesh (tests/fixtures/governance/) installs a domain per policy, each
breaking exactly that policy, a clean domain and one with exemptions. It is
built once: the build must fail in on-run-start, before any model runs, listing
every violation with its policy, node and fix. The real mesh must pass.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO, dbt_cli, duckmesh, project_dbt
from duckmesh.core import builddb
from duckmesh.governance import semver  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "governance"
EXEMPTIONS = [
    {"policy": "P05", "node": "model.gov_exempted.accounts.v1", "column": "account_id",
     "reason": "fixture: ids are numeric until the CRM migration", "expires": "2099-12-31"},
    {"policy": "P05", "node": "model.gov_exempted.accounts.v1", "column": "opened_at",
     "reason": "fixture: an exemption that ran out", "expires": "2020-01-01"},
]


def make_fixture_mesh(dest: Path) -> Path:
    """The real root project (config, macros, profiles) over the fixture domains."""
    dest.mkdir(parents=True)
    project = yaml.safe_load((REPO / "dbt_project.yml").read_text())
    project["vars"]["duckmesh_governance"]["exemptions"] = EXEMPTIONS
    (dest / "dbt_project.yml").write_text(yaml.safe_dump(project, sort_keys=False))
    shutil.copytree(REPO / "macros", dest / "macros")
    shutil.copytree(REPO / "profiles", dest / "profiles")
    (dest / "models").mkdir()
    shutil.copy(REPO / "models" / "_groups.yml", dest / "models")  # the root's own group
    shutil.copytree(FIXTURES / "domains", dest / "domains")
    shutil.copytree(FIXTURES / "published", dest / "published")
    domains = sorted(p.name for p in (dest / "domains").iterdir())
    (dest / "packages.yml").write_text(yaml.safe_dump(
        {"packages": [{"local": "macros"}] + [{"local": f"domains/{name}"} for name in domains]}))
    return dest


def violations_of(report: dict, domain: str) -> list[dict]:
    return [v for v in report["violations"] if v["domain"] == domain]


def line(v: dict) -> str:
    where = f"{v['node']}, column {v['column']}" if v["column"] else v["node"]
    return f"[{v['policy']} {v['severity']}] domain {v['domain']}, {where}: {v['message']}. Fix: {v['fix']}."


@pytest.fixture(scope="module")
def fixture_mesh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_fixture_mesh(tmp_path_factory.mktemp("governance") / "mesh")
    deps = project_dbt(root, "deps")
    assert deps.returncode == 0, deps.stdout[-3000:]
    return root


@pytest.fixture(scope="module")
def fixture_build(fixture_mesh: Path) -> subprocess.CompletedProcess:
    return project_dbt(fixture_mesh, "build")


@pytest.fixture(scope="module")
def fixture_report(fixture_mesh: Path, fixture_build: subprocess.CompletedProcess) -> dict:
    result = duckmesh(fixture_mesh, "governance", "check", "--json", check=False)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(result.stdout)


@pytest.mark.e2e
def test_the_build_fails_in_on_run_start_before_any_model_runs(
        fixture_mesh: Path, fixture_build: subprocess.CompletedProcess) -> None:
    out = fixture_build.stdout
    assert fixture_build.returncode != 0
    assert "Compilation Error in operation duckmesh-on-run-start-0 (./dbt_project.yml)" in out
    assert ("DuckMesh governance: 24 error(s), 1 warning(s), 1 exempted, over 34 models "
            "(18 public)") in out
    assert " OK created " not in out and "START sql" not in out
    assert not (fixture_mesh / "target" / "run_results.json").exists()
    con = builddb.connect(fixture_mesh / "mesh.duckdb", read_only=True)
    try:
        created = con.execute("select table_schema, table_name from information_schema.tables "
                              "where table_schema like 'gov_%'").fetchall()
    finally:
        con.close()
    assert created == []


# Every line a fixture domain must produce, and nothing else for that domain.
EXPECTED = {
    "gov_p01": [
        "[P01 error] domain gov_p01, model.gov_p01.accounts.v1: public model accounts v1 does not "
        "enforce its contract. Fix: set `contract: {enforced: true}` under `config:` of accounts v1 "
        "in models/products/_products.yml (or `+contract: {enforced: true}` on the products folder "
        "in the domain's dbt_project.yml).",
        "[P01 error] domain gov_p01, model.gov_p01.accounts.v1, column balance_amount: column "
        "balance_amount of public model accounts v1 has no data_type. Fix: add "
        "`data_type: <DuckDB type>` to column balance_amount in models/products/_products.yml.",
    ],
    "gov_p02": [
        "[P02 error] domain gov_p02, group.gov_p02.gov_p02: group gov_p02 has no valid owner e-mail "
        "(got none). Fix: set `owner: {email: <team address>}` on group gov_p02 in "
        "models/_groups.yml.",
        "[P02 error] domain gov_p02, model.gov_p02.accounts.v1: public model accounts v1 has no "
        "description. Fix: add a `description:` to accounts in models/products/_products.yml.",
        "[P02 error] domain gov_p02, model.gov_p02.accounts.v1, column tier: column tier of public "
        "model accounts v1 has no description. Fix: add a `description:` to column tier in "
        "models/products/_products.yml.",
    ],
    "gov_p03": [
        "[P03 error] domain gov_p03, model.gov_p03.accounts_raw.v1: model accounts_raw v1 is in the "
        "private layer staging/ but is public. Fix: keep accounts_raw v1 private (remove "
        "`access: public`) and publish a product in models/products/ that selects from it.",
        "[P03 error] domain gov_p03, model.gov_p03.stg_gov_p03__tiers: model stg_gov_p03__tiers of "
        "domain gov_p03 belongs to group gov_p03_shadow, not to its domain's group gov_p03. Fix: "
        "remove the group override on stg_gov_p03__tiers (models/staging/stg_gov_p03__tiers.sql) "
        "so it inherits `+group: gov_p03` from the domain's dbt_project.yml.",
        "[P03 error] domain gov_p03, package.gov_p03: domain package gov_p03 does not set "
        "restrict-access: true, so its protected models can be ref'd by any project that installs "
        "it. Fix: add `restrict-access: true` to the dbt_project.yml of gov_p03.",
    ],
    "gov_p04": [
        "[P04 error] domain gov_p04, model.gov_p04.accounts.v1: product accounts v1 lives in schema "
        "shared, not in its domain's schema gov_p04. Fix: set `+schema: gov_p04` for the domain's "
        "models and remove any schema override on accounts v1.",
        "[P04 error] domain gov_p04, model.gov_p04.ledger: product ledger is not versioned. Fix: "
        "rename the file to ledger_v1.sql and add `latest_version: 1` and `versions: [{v: 1}]` to "
        "ledger in models/products/_products.yml.",
        "[P04 error] domain gov_p04, model.gov_p04.stg_balances.v1: product stg_balances v1 carries "
        "the layer prefix stg_; products are named for the business entity. Fix: name the product "
        "without stg_ (e.g. balances).",
    ],
    "gov_p05": [
        "[P05 error] domain gov_p05, model.gov_p05.accounts.v1, column account_id: column "
        "account_id of accounts v1 is integer, but columns named *_id are varchar across the mesh. "
        "Fix: cast account_id to varchar in the model and set `data_type: varchar` in "
        "models/products/_products.yml (never published, so not a breaking change: change it "
        "in place).",
        "[P05 error] domain gov_p05, model.gov_p05.accounts.v1, column opened_at: column opened_at "
        "of accounts v1 is timestamp, but columns named *_at are timestamp with time zone across "
        "the mesh. Fix: cast opened_at to timestamp with time zone in the model and set "
        "`data_type: timestamp with time zone` in models/products/_products.yml (never "
        "published, so not a breaking change: change it in place).",
    ],
    "gov_p06": [
        "[P06 error] domain gov_p06, model.gov_p06.accounts.v1, column email: column email of "
        "public model accounts v1 carries PII (source crm.people.email) unmasked. Fix: select it "
        "through `{{ duckmesh_platform.pseudonymise('email') }}` or "
        "`{{ duckmesh_platform.mask_pii('email') }}` in "
        "models/products/accounts_v1.sql, or drop it from the product.",
    ],
    "gov_p07": [
        "[P07 error] domain gov_p07, model.gov_p07.accounts.v1: product accounts v1 has no primary "
        "key. Fix: add `constraints: [{type: primary_key, columns: [<key>]}]` to accounts in "
        "models/products/_products.yml, or unique and not_null data_tests on its key column.",
        "[P07 error] domain gov_p07, model.gov_p07.accounts.v1: product accounts v1 has no SLO row "
        "minimum (meta.slo.min_rows, a whole number; got none). Fix: add "
        "`meta: {slo: {min_rows: <rows>}}` under `config:` of accounts in "
        "models/products/_products.yml.",
        "[P07 error] domain gov_p07, model.gov_p07.accounts.v1: product accounts v1 has no valid "
        "meta.classification (got top_secret; one of public, internal, confidential, restricted). "
        "Fix: add `meta: {classification: <public|internal|confidential|restricted>}` under "
        "`config:` of accounts in models/products/_products.yml.",
    ],
    "gov_p08": [
        "[P08 error] domain gov_p08, model.gov_p08.accounts.v1: domain gov_p08 refs "
        "gov_p08.accounts v1, past its deprecation date 2020-01-31 (in int_legacy_accounts). Fix: "
        "move int_legacy_accounts to gov_p08.accounts v2: ref('gov_p08', 'accounts').",
        # two models ref balances v1: one warning for the consumer, naming both
        "[P08 warn] domain gov_p08, model.gov_p08.balances.v1: domain gov_p08 refs "
        "gov_p08.balances v1, deprecated and removed after 2099-12-31 (in "
        "int_legacy_balance_totals, int_legacy_balances). Fix: move int_legacy_balance_totals, "
        "int_legacy_balances to gov_p08.balances v2: ref('gov_p08', 'balances').",
    ],
    "gov_p09": [
        "[P09 error] domain gov_p09, model.gov_p09.accounts.v1: breaking change to published "
        "product accounts v1 without a new version: column legacy_code removed; column tier "
        "retyped bigint -> integer. Fix: ship the change as v2: run `duckmesh new-version "
        "gov_p09.accounts`, which moves it to accounts_v2.sql, restores v1's SQL and columns "
        "as published and gives v1 a deprecation_date.",
        # ledger v1 vanished without a deprecation date; archive v1 after its date (allowed)
        "[P09 error] domain gov_p09, model.gov_p09.ledger.v1: published product ledger v1 was "
        "removed before its deprecation date (none set). Fix: restore ledger v1, give it a "
        "`deprecation_date` and remove it only after that date.",
    ],
    "gov_p10": [
        "[P10 error] domain gov_p10, model.gov_p10.accounts.v1, column lifetime_event_count: "
        "column lifetime_event_count of accounts v1 has type hugeint, which the mesh cannot "
        "render on every engine. Fix: use one of text, integer, bigint, double, boolean, date, "
        "money, timestamp_tz, timestamp or decimal(p,s) in models/products/_products.yml (see "
        "macros/portability/mesh_type.sql), or add the type to mesh_type() for every engine.",
        "[P10 error] domain gov_p10, model.gov_p10.accounts.v1, column tier: not_null constraint "
        "on tier of accounts v1 is not enforced on every engine (Spark Parquet enforces none; "
        "DuckDB does not index primary keys) and has no not_null test on tier. Fix: add not_null "
        "to data_tests of tier in models/products/_products.yml.",
    ],
    "gov_clean": [],
}


@pytest.mark.e2e
@pytest.mark.parametrize("domain", sorted(EXPECTED))
def test_each_fixture_domain_breaks_exactly_its_policy(
        domain: str, fixture_build: subprocess.CompletedProcess, fixture_report: dict) -> None:
    found = violations_of(fixture_report, domain)
    assert sorted(line(v) for v in found) == sorted(EXPECTED[domain])
    policy = domain.removeprefix("gov_").upper()
    assert {v["policy"] for v in found} <= {policy}
    for expected in EXPECTED[domain]:  # the build says the same, before any model runs
        assert expected in fixture_build.stdout


@pytest.mark.e2e
def test_exemptions_waive_until_they_expire(
        fixture_build: subprocess.CompletedProcess, fixture_report: dict) -> None:
    assert fixture_report["exempted"] == 1
    assert sorted(line(v) for v in violations_of(fixture_report, "gov_exempted")) == [
        "[P05 error] domain gov_exempted, model.gov_exempted.accounts.v1, column opened_at: column "
        "opened_at of accounts v1 is timestamp, but columns named *_at are timestamp with time "
        "zone across the mesh. Fix: cast opened_at to timestamp with time zone in the model and "
        "set `data_type: timestamp with time zone` in models/products/_products.yml (never "
        "published, so not a breaking change: change it in place).",
    ]
    expired = (
        "[P00 error] domain mesh, exemption.2: exemption #2 (P05 on model.gov_exempted.accounts.v1 "
        "column opened_at) expired on 2020-01-01. Fix: fix the underlying P05 violation and remove "
        "the exemption, or renew it with a new expires date and reason (reviewed by the "
        "governance group).")
    assert [line(v) for v in violations_of(fixture_report, "mesh")] == [expired]
    assert expired in fixture_build.stdout


@pytest.mark.e2e
def test_a_second_check_runs_the_macros_over_the_saved_manifest(
        fixture_mesh: Path, fixture_report: dict) -> None:
    """The same macros rendered without dbt (governance/offline.py) give dbt's report,
    field for field, while no file dbt reads changes; a touched yml sends it back to dbt."""
    assert fixture_report["source"] == "dbt"
    again = duckmesh(fixture_mesh, "governance", "check", "--json", check=False)
    saved = json.loads(again.stdout)
    assert again.returncode == 1
    assert saved["source"] == "saved manifest"
    for key in ("errors", "warnings", "exempted", "models", "public_models", "violations",
                "changes"):
        assert saved[key] == fixture_report[key], key
    text = duckmesh(fixture_mesh, "governance", "check", check=False)
    assert text.stdout.splitlines()[0].endswith(
        "(over the saved manifest: no file changed since dbt parsed)")
    yml = next((fixture_mesh / "domains" / "gov_clean").rglob("*.yml"))
    yml.write_text(yml.read_text() + "\n")
    touched = json.loads(duckmesh(fixture_mesh, "governance", "check", "--json",
                                  check=False).stdout)
    assert touched["source"] == "dbt"
    assert touched["violations"] == fixture_report["violations"]


@pytest.mark.e2e
def test_run_operation_prints_the_same_report_and_fails(fixture_mesh: Path,
                                                         fixture_report: dict) -> None:
    result = project_dbt(fixture_mesh, "run-operation", "mesh_governance")
    assert result.returncode != 0
    assert "DuckMesh governance: 24 error(s), 1 warning(s), 1 exempted" in result.stdout
    for v in fixture_report["violations"]:
        assert line(v) in result.stdout
    assert (fixture_report["errors"], fixture_report["warnings"]) == (24, 1)


@pytest.mark.e2e
def test_severity_config_downgrades_and_switches_off(tmp_path: Path) -> None:
    root = make_fixture_mesh(tmp_path / "mesh")
    project = yaml.safe_load((root / "dbt_project.yml").read_text())
    # the root sets no severity (the defaults are the macros'): set each one here
    project["vars"]["duckmesh_governance"]["severity"] = {
        **{f"P{n:02d}": "off" for n in range(1, 14)}, "P07": "warn", "P00": "error"}
    (root / "dbt_project.yml").write_text(yaml.safe_dump(project, sort_keys=False))
    result = duckmesh(root, "governance", "check", "--json", check=False)
    report = json.loads(result.stdout)
    assert result.returncode == 1  # the expired exemption (P00) is still an error
    assert sorted({(v["policy"], v["severity"]) for v in report["violations"]}) == [
        ("P00", "error"), ("P07", "warn")]
    assert len([v for v in report["violations"] if v["policy"] == "P07"]) == 3


def test_the_real_mesh_passes_with_zero_violations(built_mesh) -> None:
    # the hook ran inside the session's `duckmesh build`
    assert "DuckMesh governance: 0 error(s), 0 warning(s), 0 exempted" in built_mesh.build_output
    result = duckmesh(built_mesh.root, "governance", "check", "--json")
    report = json.loads(result.stdout)
    assert (report["errors"], report["warnings"], report["violations"]) == (0, 0, [])
    assert report["public_models"] == 10


def test_dbt_from_the_mesh_root_with_a_relative_project_dir_passes_too(
        built_mesh, tmp_path: Path) -> None:
    # DuckDB's glob gives ./dbt_packages/x/packages.yml back as dbt_packages/x/...: P03
    # once took every domain's packages.yml for the root's and reported 5 false errors
    result = dbt_cli(["run-operation", "mesh_governance", "--project-dir", ".",
                      "--profiles-dir", "profiles", "--target-path", str(tmp_path / "target")],
                     cwd=built_mesh.root, env={"PATH": "/usr/bin:/bin",
                                               "DUCKMESH_DB": str(tmp_path / "empty.duckdb")})
    assert result.returncode == 0, result.stdout[-3000:]
    assert "DuckMesh governance: 0 error(s), 0 warning(s), 0 exempted, over 22 models" \
        in result.stdout


def test_pii_selected_into_a_real_product_unmasked_is_refused(built_copy: Path) -> None:
    products = built_copy / "domains" / "customers" / "models" / "products"
    sql = (products / "customers_v1.sql").read_text()
    (products / "customers_v1.sql").write_text(
        sql.replace("        country_code,\n", "        country_code,\n        phone,\n"))
    yml = (products / "_products.yml").read_text()
    (products / "_products.yml").write_text(yml.replace(
        "      - name: country_code\n",
        "      - name: phone\n        description: Phone number.\n        data_type: varchar\n"
        "      - name: country_code\n"))
    result = duckmesh(built_copy, "governance", "check", check=False)
    assert result.returncode == 1
    assert result.stdout.splitlines()[1:] == [
        "[P06 error] domain customers, model.customers.customers.v1, column phone: column phone "
        "of public model customers v1 carries PII (source crm.customers.PHONE) unmasked. Fix: "
        "select it through `{{ duckmesh_platform.pseudonymise('phone') }}` or "
        "`{{ duckmesh_platform.mask_pii('phone') }}` in "
        "models/products/customers_v1.sql, or drop it from the product.",
    ]


# P09 / SemVer: two manifests (before, after) per change class.
def product_node(name: str = "orders", version: int | None = 1, **overrides) -> dict:
    node = {
        "unique_id": f"model.sales.{name}" + (f".v{version}" if version is not None else ""),
        "resource_type": "model", "package_name": "sales", "group": "sales", "name": name,
        "version": version, "latest_version": version, "access": "public",
        "contract": {"enforced": True}, "description": "Orders.", "deprecation_date": None,
        "config": {"meta": {"lifecycle": "active"}}, "constraints": [],
        "columns": {"order_id": {"name": "order_id", "data_type": "varchar", "description": "Key."},
                    "net_amount": {"name": "net_amount", "data_type": "decimal(18,2)",
                                   "description": "Net."}},
    }
    node.update(overrides)
    return node


def manifest(*nodes: dict) -> dict:
    return {"nodes": {node["unique_id"]: node for node in nodes}}


def changed(**overrides) -> list[semver.ProductChange]:
    before = product_node()
    return semver.compare_manifests(manifest(before), manifest(product_node(**overrides)))


def without(column: str) -> dict:
    return {k: v for k, v in product_node()["columns"].items() if k != column}


@pytest.mark.parametrize(("overrides", "change_class", "details", "breaking"), [
    ({"columns": without("net_amount")}, "major", ["v1: column net_amount removed"], True),
    ({"columns": {**without("net_amount"), "net_amount": {
        "name": "net_amount", "data_type": "double", "description": "Net."}}},
     "major", ["v1: column net_amount retyped decimal(18,2) -> double"], True),
    ({"contract": {"enforced": False}}, "major", ["v1: contract no longer enforced"], True),
    ({"access": "protected"}, "major", ["v1: access lowered to protected"], True),
    ({"columns": {**product_node()["columns"], "is_paid": {
        "name": "is_paid", "data_type": "boolean", "description": "Paid."}}},
     "minor", ["v1: column is_paid added"], False),
    ({"deprecation_date": "2027-06-30T00:00:00+00:00"}, "minor",
     ["v1: deprecated from 2027-06-30"], False),
    ({"description": "Every order."}, "patch", ["v1: description changed"], False),
    ({"config": {"meta": {"lifecycle": "deprecated"}}}, "patch", ["v1: meta changed"], False),
    # same type spelled differently is no change at all
    ({"columns": {**without("net_amount"), "net_amount": {
        "name": "net_amount", "data_type": "NUMERIC(18, 2)", "description": "Net."}}},
     None, None, False),
])
def test_semver_class_of_each_change(overrides: dict, change_class: str | None,
                                     details: list[str] | None, breaking: bool) -> None:
    changes = changed(**overrides)
    if change_class is None:
        assert changes == []
        return
    assert changes == [semver.ProductChange("sales", "orders", change_class, details, breaking)]


def test_a_breaking_change_shipped_as_a_new_version_is_major_but_not_a_violation() -> None:
    v1 = product_node()
    v2 = product_node(version=2, columns=without("net_amount"), latest_version=2)
    v1_after = {**v1, "latest_version": 2, "deprecation_date": "2027-06-30T00:00:00+00:00"}
    changes = semver.compare_manifests(manifest(v1), manifest(v1_after, v2))
    assert changes == [semver.ProductChange(
        "sales", "orders", "major", ["v2 added", "v1: deprecated from 2027-06-30"], False)]


def test_new_and_removed_products() -> None:
    tickets = product_node(name="tickets")
    assert semver.compare_manifests(manifest(), manifest(tickets)) == [
        semver.ProductChange("sales", "tickets", "minor", ["new product (v1)"], False)]
    assert semver.compare_manifests(manifest(tickets), manifest()) == [
        semver.ProductChange("sales", "tickets", "major", ["product removed"], False)]


@pytest.mark.e2e
def test_check_reports_the_semver_class_of_changes_since_publish(fixture_report: dict) -> None:
    changes = {(c["domain"], c["product"]): c for c in fixture_report["changes"]}
    assert changes[("gov_p09", "accounts")] == {
        "domain": "gov_p09", "product": "accounts", "change_class": "major",
        "details": ["v1: column legacy_code removed", "v1: column tier retyped bigint -> integer"],
        "unversioned_breaking": True}
    assert changes[("gov_p09", "ledger")]["details"] == ["product removed"]
    assert changes[("gov_p09", "archive")]["details"] == ["product removed"]
    # every other fixture product is new since that publish
    others = {key: c["change_class"] for key, c in changes.items() if key[0] != "gov_p09"}
    assert set(others.values()) == {"minor"} and ("gov_clean", "accounts") in others
