"""Governance: every walk-around of the attacker/careless-user probe, each with
the exact outcome (the error line, the exit code, nothing published).

Unit tests judge small hand-written manifests (compiled SQL as dbt-duckdb writes it);
the few end-to-end cases work on one clone of the session's built mesh.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pytest

from conftest import TEST_SCALE, BuiltMesh, clone_built, duckmesh
from duckmesh.core import builddb
from duckmesh.governance import declared_reads, pii

DB = '"mesh"'


def _model(package: str, name: str, sql: str, depends: list[str], *, public: bool = False,
           version: int | None = None, columns: dict | None = None, meta: dict | None = None,
           schema: str | None = None, group: str | None = None) -> dict:
    alias = f"{name}_v{version}" if version is not None else name
    uid = f"model.{package}.{name}" + (f".v{version}" if version is not None else "")
    folder = "products" if public else "staging"
    return {
        "unique_id": uid, "resource_type": "model", "package_name": package, "name": name,
        "alias": alias, "database": "mesh", "schema": schema or package,
        "relation_name": f'{DB}."{schema or package}"."{alias}"',
        "access": "public" if public else "private", "version": version,
        "latest_version": version, "group": group or package,
        "original_file_path": f"models/{folder}/{alias}.sql",
        "patch_path": f"{package}://models/{folder}/_{name}.yml",
        "raw_code": sql, "compiled_code": sql, "depends_on": {"nodes": depends},
        "columns": columns or {}, "config": {"meta": meta or {}},
        "contract": {"enforced": public}, "meta": meta or {},
    }


def _source(package: str, source: str, name: str, relation: str, schema: str,
            columns: dict | None = None) -> dict:
    return {"unique_id": f"source.{package}.{source}.{name}", "resource_type": "source",
            "package_name": package, "source_name": source, "name": name,
            "database": "mesh", "schema": schema, "relation_name": relation,
            "original_file_path": "models/staging/__sources.yml",
            "columns": columns or {}, "meta": {}, "config": {"meta": {}}}


CRM = "read_csv('/data/crm/customers.csv', delim=';', header=true, all_varchar=true)"
PII = {"email": {"name": "email", "meta": {"pii": True}},
       "phone": {"name": "phone", "meta": {"pii": True}}}


def _mesh(*models: dict, sources: tuple[dict, ...] = ()) -> dict:
    """The customers domain (a CRM source with PII, its staging model, its product) and
    ``models`` on top."""
    crm = _source("customers", "crm", "customers", CRM, "crm", PII)
    staging = _model("customers", "stg_crm__customers",
                     f"with source as (select * from {CRM}) select * from source",
                     [crm["unique_id"]], schema="customers")
    product = _model(
        "customers", "customers",
        "select customer_id, signup_date, sha256(concat((select trim(columns('^content$'))"
        " from read_text('.duckmesh/pii_salt')), lower(trim(cast(email as varchar)))))"
        ' as email_hash from "mesh"."customers"."stg_crm__customers"',
        [staging["unique_id"]], public=True, version=1,
        columns={c: {"name": c} for c in ("customer_id", "signup_date")}
        | {"email_hash": {"name": "email_hash",
                          "meta": {"restricted_to": ["analytics", "marketing"]}}},
        meta={"consumers": ["analytics", "marketing"]})
    nodes = {n["unique_id"]: n for n in (staging, product, *models)}
    return {"nodes": nodes,
            "sources": {s["unique_id"]: s for s in (crm, *sources)}}


STAGING = "model.customers.stg_crm__customers"
PRODUCT = "model.customers.customers.v1"


def _lines(manifest: dict) -> list[str]:
    return [f"{f.node}: {f.message}. Fix: {f.fix}."
            for f in declared_reads.check(manifest)]


# -- P13: every read is a declared read -------------------------------------------------

def test_the_platform_s_own_reads_pass() -> None:
    assert _lines(_mesh()) == []


def test_a_raw_relation_name_in_a_product_is_an_undeclared_read() -> None:
    contacts = _model("marketing", "contacts",
                      "select customer_id, email as contact_email\n"
                      "from customers.stg_crm__customers", [], public=True, version=1)
    assert _lines(_mesh(contacts)) == [
        "model.marketing.contacts.v1: contacts v1 reads customers.stg_crm__customers, which "
        "none of its refs and sources names (in DuckDB every schema of the build is "
        "reachable by raw name; only ref() and source() are declared reads). Fix: "
        "stg_crm__customers is private to customers: read one of its products instead, "
        "{{ ref('customers', 'customers') }}, in models/products/contacts_v1.sql."]


def test_a_fully_qualified_name_in_a_private_model_is_an_undeclared_read() -> None:
    reach = _model("marketing", "int_reach",
                   'with c as (select * from mesh.customers.stg_crm__customers)\n'
                   "select c.email from c", [])
    assert [f.relation for f in declared_reads.check(_mesh(reach))] == [
        "mesh.customers.stg_crm__customers"]


def test_a_relation_a_macro_builds_is_an_undeclared_read() -> None:
    # what api.Relation.create(database='mesh', schema='customers', ...) renders
    built = _model("marketing", "by_macro",
                   'select * from "mesh"."customers"."stg_crm__customers"', [],
                   public=True, version=1)
    [finding] = declared_reads.check(_mesh(built))
    assert finding.relation == "mesh.customers.stg_crm__customers"


def test_a_new_domain_reading_a_product_by_raw_name_is_told_the_ref() -> None:
    raw = _model("finance", "signups", "select count(*) as n from customers.customers_v1",
                 [], public=True, version=1)
    [finding] = declared_reads.check(_mesh(raw))
    assert finding.relation == "customers.customers_v1"
    assert finding.fix == ("read it with {{ ref('customers', 'customers') }}, in "
                           "models/products/signups_v1.sql")


def test_file_readers_in_a_model_are_undeclared_reads() -> None:
    files = _model("marketing", "leaks",
                   "select * from read_csv('data/current/crm/customers.csv') as c\n"
                   "cross join (select content from read_text('.duckmesh/pii_salt')) as s\n"
                   "cross join glob('/etc/*') as g\n"
                   "cross join 'data/current/crm/customers.csv' as f", [],
                   public=True, version=1)
    found = {f.relation: f.message for f in declared_reads.check(_mesh(files))}
    assert found == {
        "read_csv('data/current/crm/customers.csv')":
            "leaks v1 reads read_csv('data/current/crm/customers.csv'), a read_csv() no "
            "source or ref of leaks v1 declares (a model may read only what its refs and "
            "sources name)",
        "read_text('.duckmesh/pii_salt')":
            "leaks v1 reads read_text('.duckmesh/pii_salt'), a read_text() no source or ref "
            "of leaks v1 declares (a model may read only what its refs and sources name)",
        "glob('/etc/*')":
            "leaks v1 reads glob('/etc/*'), a glob() no source or ref of leaks v1 declares "
            "(a model may read only what its refs and sources name)",
        "data/current/crm/customers.csv":
            "leaks v1 reads data/current/crm/customers.csv, which none of its refs and "
            "sources names (in DuckDB every schema of the build is reachable by raw name; "
            "only ref() and source() are declared reads)",
    }


def test_only_the_salt_file_may_be_read_inside_sha256() -> None:
    hashed = _model("marketing", "hashed",
                    "select sha256((select content from read_text('/etc/passwd'))) as h", [],
                    public=True, version=1)
    assert [f.relation for f in declared_reads.check(_mesh(hashed))] == [
        "read_text('/etc/passwd')"]


def test_a_declared_source_s_reader_elsewhere_is_told_the_source() -> None:
    copy = _model("customers", "int_copy", f"select * from {CRM}", [])
    [finding] = declared_reads.check(_mesh(copy))
    assert finding.fix == ("read it with {{ source('crm', 'customers') }} (add it to "
                           "models/staging/int_copy.sql)")


def test_the_salt_read_outside_sha256_is_an_undeclared_read() -> None:
    salt = _model("marketing", "salted",
                  "select (select trim(columns('^content$')) from read_text("
                  "'.duckmesh/pii_salt')) as salt", [], public=True, version=1)
    assert [f.relation for f in declared_reads.check(_mesh(salt))] == [
        "read_text('.duckmesh/pii_salt')"]


def test_a_source_on_another_domain_s_schema_is_refused() -> None:
    source = _source("marketing", "crm_copy", "stg_crm__customers",
                     '"mesh"."customers"."stg_crm__customers"', "customers")
    phones = _model("marketing", "phones", 'select phone from "mesh"."customers".'
                    '"stg_crm__customers"', [source["unique_id"]], public=True, version=1)
    assert _lines(_mesh(phones, sources=(source,))) == [
        "model.marketing.phones.v1: phones v1 reads source crm_copy.stg_crm__customers, "
        "declared on schema customers, where the build writes the models of customers: a "
        "source is outside data, not a way around ref(). Fix: stg_crm__customers is "
        "private to customers: read one of its products instead, "
        "{{ ref('customers', 'customers') }}; remove the source crm_copy from "
        "models/staging/__sources.yml."]


def test_a_source_on_its_own_domain_s_schema_passes() -> None:
    """An adopted project loads its raw tables as seeds and declares sources on them in
    its own schema (jaffle-shop's `ecom` source): its own data, not a read around ref()."""
    seed = _model("marketing", "raw_spend", "select 1 as spend", [], schema="marketing")
    seed["resource_type"] = "seed"
    source = _source("marketing", "ecom", "raw_spend", '"mesh"."marketing"."raw_spend"',
                     "marketing")
    spend = _model("marketing", "spend", 'select spend from "mesh"."marketing"."raw_spend"',
                   [source["unique_id"]], public=True, version=1)
    assert _lines(_mesh(seed, spend, sources=(source,))) == []


def test_a_source_on_a_platform_schema_is_refused() -> None:
    source = _source("marketing", "held", "crm__customers",
                     '"mesh"."quarantine"."crm__customers"', "quarantine")
    raw = _model("marketing", "raw_lines", 'select * from "mesh"."quarantine"."crm__customers"',
                 [source["unique_id"]], public=True, version=1)
    assert _lines(_mesh(raw, sources=(source,))) == [
        "model.marketing.raw_lines.v1: raw_lines v1 reads source held.crm__customers, "
        "declared on schema quarantine, which the platform writes (quarantined raw lines, "
        "the catalog, run history): no model reads it. Fix: remove the source held from "
        "models/staging/__sources.yml."]


def test_ctes_aliases_and_declared_refs_pass() -> None:
    ok = _model("marketing", "fine",
                "with customers as (select * from \"mesh\".\"customers\".\"customers_v1\"),\n"
                "stg_crm__customers as (select * from customers)\n"
                "select c.customer_id from stg_crm__customers as c "
                "join customers.customers as latest using (customer_id) "
                "cross join range(3) as r", [PRODUCT], public=True, version=1)
    assert _lines(_mesh(ok)) == []


# -- P06 by column lineage ----------------------------------------------------------------

def _p06(sql: str) -> list[str]:
    contacts = _model("marketing", "contacts", sql, [STAGING], public=True, version=1,
                      columns={"customer_id": {"name": "customer_id"},
                               "contact_email": {"name": "contact_email"}})
    return [v.line() for v in pii.violations(_mesh(contacts)) if v.policy == "P06"]


CONTACT_EMAIL = (
    "[P06 error] domain marketing, model.marketing.contacts.v1, column contact_email: column "
    "contact_email of public model contacts v1 carries PII (source crm.customers.email) "
    "unmasked. Fix: select it through `{{ duckmesh_platform.pseudonymise('<column>') }}` or "
    "`{{ duckmesh_platform.mask_pii('<column>') }}` in models/products/contacts_v1.sql, or "
    "drop it from the product.")


@pytest.mark.parametrize("select", [
    "customer_id,\n    email\n        as contact_email",  # the alias on the next line
    "'--' as marker, customer_id, email as contact_email",  # '--' in a literal
    "customer_id, /* email */ lower(email) contact_email",  # no `as`, a comment
    "customer_id, coalesce(email, '') as contact_email",
])
def test_p06_follows_pii_through_any_alias(select: str) -> None:
    sql = f'with s as (select * from "mesh"."customers"."stg_crm__customers")\n' \
          f"select {select} from s"
    assert _p06(sql) == [CONTACT_EMAIL]


def test_p06_passes_the_masking_forms() -> None:
    masked = ("select customer_id, left(email, 1) || '***@' || split_part(email, '@', 2) "
              'as contact_email from "mesh"."customers"."stg_crm__customers"')
    assert _p06(masked) == []


# -- P12: restrictions follow counts ------------------------------------------------------

def _p12(sql: str, columns: dict) -> list[str]:
    kpis = _model("analytics", "kpis", sql, [PRODUCT], public=True, version=1,
                  columns=columns)
    return [v.line() for v in pii.violations(_mesh(kpis)) if v.policy == "P12"]


SIGNUPS = ('with c as (select * from "mesh"."customers"."customers_v1")\n'
           "select signup_date as month_date, {aggregate} as n from c group by 1")


@pytest.mark.parametrize("aggregate", ["count(*)", "count(1)", "count(distinct email_hash)"])
def test_an_aggregate_over_a_restricted_product_is_derived_from_it(aggregate: str) -> None:
    found = _p12(SIGNUPS.format(aggregate=aggregate),
                 {"month_date": {"name": "month_date",
                                 "meta": {"restricted_to": ["analytics"]}},
                  "n": {"name": "n"}})
    what = ("counts the rows of" if "email" not in aggregate
            else "comes from column email_hash of")
    allowed = "['analytics', 'customers', 'marketing']"
    assert found == [
        f"[P12 error] domain analytics, model.analytics.kpis.v1, column n: column n of kpis "
        f"v1 {what} customers.customers v1, which only {allowed} may read, but kpis v1 gives "
        "it to every consumer: publishing masks it for them. Fix: declare its readers with "
        "`meta: {restricted_to: [...]}` (at most those) on column n in "
        "models/products/_kpis.yml, or, with the customers team, release it with `meta: "
        "{declassified_from: [customers.customers]}`."]


def test_a_count_declared_for_the_product_s_readers_passes() -> None:
    assert _p12(SIGNUPS.format(aggregate="count(*)"),
                {c: {"name": c, "meta": {"restricted_to": ["analytics", "marketing"]}}
                 for c in ("month_date", "n")}) == []


def test_data_science_gets_no_count_of_customers(built_mesh: BuiltMesh) -> None:
    """executive_kpis.new_customer_count is a count(*) of customers.customers, which
    data_science may not read: its file holds the column masked (null)."""
    consumer = built_mesh.root / "published" / "consumers" / "data_science" / "mesh.duckdb"
    with duckdb.connect(str(consumer), read_only=True) as con:
        counts = con.execute("select count(new_customer_count), count(order_count) "
                             "from analytics.executive_kpis").fetchone()
    assert counts is not None and counts[0] == 0 and counts[1] > 0
    reporting = built_mesh.root / "published" / "consumers" / "bi_dashboards" / "mesh.duckdb"
    with builddb.connect(reporting, read_only=True) as con:  # reporting reads customers
        seen = con.execute("select count(new_customer_count) from analytics.executive_kpis"
                           ).fetchone()
    assert seen is not None and seen[0] > 0


# -- P00: a domain's own vars cannot weaken a policy -------------------------------------

P06_OFF = ("[P00 error] domain customers, domains/customers/dbt_project.yml: "
           "domains/customers/dbt_project.yml sets vars.duckmesh_governance.severity: "
           "{'P06': 'off'}; a domain cannot set governance severities, exemptions or rules "
           "(they would rule its own build, `build --domain` and `ci`, and nothing else). "
           "Fix: remove vars.duckmesh_governance.severity from "
           "domains/customers/dbt_project.yml; the mesh sets them in the root dbt_project.yml "
           "under vars.duckmesh_governance, and an exception is an exemption there (policy, "
           "node, reason, expires), reviewed by the governance group.")


def _turn_p06_off(root: Path) -> None:
    project = root / "domains" / "customers" / "dbt_project.yml"
    project.write_text(project.read_text().replace(
        "vars:\n", "vars:\n  duckmesh_governance:\n    severity: {P06: 'off'}\n", 1))


def test_a_domain_setting_a_policy_off_is_a_p00_error(mesh_copy: Path) -> None:
    from duckmesh.core.project import Mesh
    from duckmesh.governance import parse_checks

    _turn_p06_off(mesh_copy)
    assert [o.line() for o in parse_checks.domain_overrides(Mesh(mesh_copy))] == [P06_OFF]


# -- end to end: nothing is published ------------------------------------------------------

@pytest.fixture(scope="module")
def mesh(built_mesh: BuiltMesh, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clone whose last build is its own (the state `--changed-only` compares with
    names the clone's files, as if it had been built where it lies)."""
    root = clone_built(built_mesh.root, tmp_path_factory.mktemp("trust") / "duckmesh")
    state = root / "target" / "last_build"
    record = json.loads((state / "build.json").read_text())
    # where that build ran (a pytest-xdist worker's built_mesh is itself a clone)
    built_in = record["database"][:-len(record["database_in_root"]) - 1]
    for name in ("manifest.json", "build.json"):
        path = state / name
        path.write_text(path.read_text().replace(built_in, str(root)))
    return root


def _snapshot(root: Path) -> str:
    return os.readlink(root / "published" / "current")


def _restore(root: Path, path: Path, text: str) -> None:
    path.write_text(text)
    assert path.read_text() == text


@pytest.mark.e2e
def test_changed_only_runs_governance_after_removing_key_tests(mesh: Path) -> None:
    yml = mesh / "domains" / "customer_service" / "models" / "products" / "_products.yml"
    before, snapshot = yml.read_text(), _snapshot(mesh)
    try:
        yml.write_text(before.replace(
            "        data_tests:\n          - duckmesh_platform.unique_key\n", "", 1))
        result = duckmesh(mesh, "build", "--changed-only", "--scale", str(TEST_SCALE),
                          check=False)
        assert result.returncode == 1, result.stdout[-3000:]
        # dbt selects nothing, so runs no hook; the platform's check runs all the same
        assert "'state:modified+' does not match any enabled nodes" in result.stdout
        assert "nothing changed since the last build" not in result.stdout
        assert result.stderr.startswith(
            "duckmesh build: error: governance: 2 error(s) in this build; nothing published "
            "(the last publish stays current):\n[P10 error] domain customer_service, "
            "model.customer_service.tickets.v1, column ticket_id: primary_key constraint on "
            "ticket_id of tickets v1 is not enforced on every engine")
        assert _snapshot(mesh) == snapshot
        # and the next --changed-only does not take the failed build as its baseline
        again = duckmesh(mesh, "build", "--changed-only", "--scale", str(TEST_SCALE),
                         check=False)
        assert again.returncode == 1 and "[P10 error]" in again.stderr
    finally:
        _restore(mesh, yml, before)


@pytest.mark.e2e
def test_a_raw_read_is_never_published_by_build_or_publish(mesh: Path) -> None:
    products = mesh / "domains" / "marketing" / "models" / "products"
    sql, yml = products / "contacts_v1.sql", products / "_contacts.yml"
    snapshot = _snapshot(mesh)
    sql.write_text("select customer_id, email as contact_email\n"
                   "from customers.stg_crm__customers\n")
    yml.write_text(
        "models:\n  - name: contacts\n    description: Contacts.\n    latest_version: 1\n"
        "    config:\n      meta: {classification: internal, lifecycle: active,\n"
        "             slo: {freshness_hours: 24, min_rows: 1}}\n"
        "    constraints:\n      - type: primary_key\n        columns: [customer_id]\n"
        "    columns:\n      - name: customer_id\n        description: Id.\n"
        "        data_type: varchar\n        constraints:\n          - type: not_null\n"
        "        data_tests: [unique, not_null]\n"
        "      - name: contact_email\n        description: E-mail.\n"
        "        data_type: varchar\n    versions:\n      - v: 1\n")
    try:
        result = duckmesh(mesh, "build", "--changed-only", "--scale", str(TEST_SCALE),
                          check=False)
        assert result.returncode == 1, result.stdout[-3000:]
        line = ("[P13 error] domain marketing, model.marketing.contacts.v1: contacts v1 reads "
                "customers.stg_crm__customers, which none of its refs and sources names (in "
                "DuckDB every schema of the build is reachable by raw name; only ref() and "
                "source() are declared reads). Fix: stg_crm__customers is private to "
                "customers: read one of its products instead, {{ ref('customers', "
                "'customers') }}, in models/products/contacts_v1.sql.")
        assert line in result.stderr
        assert _snapshot(mesh) == snapshot
        published = json.loads((mesh / "published" / "current" / "publish.json").read_text())
        assert "marketing.contacts_v1" not in published["products"]
        # `duckmesh publish` over that build's manifest refuses the same way
        again = duckmesh(mesh, "publish", check=False)
        assert again.returncode == 1 and line in again.stderr
        assert _snapshot(mesh) == snapshot
        # and `governance check` reports it, over that build's manifest
        checked = duckmesh(mesh, "governance", "check", check=False)
        assert checked.returncode == 1 and line in checked.stdout.splitlines()
    finally:
        sql.unlink()
        yml.unlink()


@pytest.mark.e2e
def test_ci_of_a_domain_that_turns_p06_off_publishes_nothing(mesh: Path) -> None:
    project = mesh / "domains" / "customers" / "dbt_project.yml"
    before, snapshot = project.read_text(), _snapshot(mesh)
    try:
        _turn_p06_off(mesh)
        result = duckmesh(mesh, "ci", "--domain", "customers", "--scale", str(TEST_SCALE),
                          check=False)
        assert result.returncode == 1
        assert f"  - {P06_OFF}" in result.stderr
        assert _snapshot(mesh) == snapshot
    finally:
        _restore(mesh, project, before)


@pytest.mark.e2e
def test_new_product_refuses_a_query_that_reads_a_system_file(mesh: Path) -> None:
    query = mesh / "passwd.sql"
    query.write_text("select * from read_text('/etc/passwd')\n")
    result = duckmesh(mesh, "new-product", "marketing", "accounts", "--sql", str(query),
                      "--primary-key", "filename", check=False)
    assert result.returncode == 2
    assert ("accounts v1 reads read_text('/etc/passwd'), a read_text() no source or ref of "
            "accounts v1 declares") in result.stderr
    assert not (mesh / "domains" / "marketing" / "models" / "products" /
                "accounts_v1.sql").exists()


# -- P06 in the hook (the macro, by text before dbt compiles): the same two cases ---------

@pytest.mark.parametrize("select", [
    "customer_id,\n    email\n        as contact_email",
    "'--' as marker, customer_id, email as contact_email",
])
def test_the_p06_macro_is_not_fooled_by_a_line_break_or_a_literal(
        built_mesh: BuiltMesh, select: str) -> None:
    import copy

    from duckmesh.core.project import Mesh
    from duckmesh.governance import offline

    manifest = json.loads((built_mesh.root / "target" / "manifest.json").read_text())
    contacts = copy.deepcopy(manifest["nodes"][PRODUCT])
    uid = "model.customers.contacts.v1"
    contacts.update({
        "unique_id": uid, "name": "contacts", "alias": "contacts_v1",
        "raw_code": f"select {select}\nfrom {{{{ ref('stg_crm__customers') }}}}",
        "depends_on": {"nodes": [STAGING], "macros": []},
        "columns": {name: {**contacts["columns"]["customer_id"], "name": name}
                    for name in ("customer_id", "contact_email")}})
    manifest["nodes"][uid] = contacts
    report = offline.governance_check(Mesh(built_mesh.root), manifest)
    assert [(v["node"], v["column"]) for v in report["violations"] if v["policy"] == "P06"] \
        == [(uid, "contact_email")]
