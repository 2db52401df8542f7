"""Nothing private leaks: the PII salt is a secret of the
installation, Parquet ports hold only what every consumer may see, published files are
not world-readable, restrictions follow the data through lineage, and consumer files
written with `publish --for` stay until removed."""

from __future__ import annotations

import copy
import grp
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

from conftest import REPO, TEST_SALT, BuiltMesh, clone_built, duckmesh, without_producer_manifest
from duckmesh.core import builddb, salt
from duckmesh.core.project import Mesh, MeshError, Settings
from duckmesh.publish import access, derived, ports

CUSTOMER_360 = "model.duckmesh.customer_360.v1"
FROM_CUSTOMERS = {"country_code", "customer_segment", "signup_date", "is_marketing_opt_in"}


@pytest.fixture()
def published_copy(built_mesh: BuiltMesh, tmp_path: Path) -> Path:
    root = tmp_path / "duckmesh"
    clone_built(built_mesh.root, root, ignore=shutil.ignore_patterns("logs", "data"))
    return root


def crm_emails(built_mesh: BuiltMesh) -> dict[str, str]:
    with duckdb.connect() as con:
        return dict(con.execute(
            f"select CUST_ID, EMAIL from read_csv('{built_mesh.data_dir}/crm/customers.csv', "
            "delim=';', header=true, all_varchar=true) where EMAIL is not null").fetchall())


# -- item 9: the salt ----------------------------------------------------------------------

def test_the_salt_is_a_secret_file_and_the_hashes_need_it(built_mesh: BuiltMesh) -> None:
    path = built_mesh.root / ".duckmesh" / "pii_salt"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    secret = path.read_text()
    assert len(secret) == 64 and secret != "duckmesh"
    ignored = subprocess.run(["git", "check-ignore", "-q", ".duckmesh/pii_salt"], cwd=REPO)
    assert ignored.returncode == 0  # never committed
    emails = crm_emails(built_mesh)
    with duckdb.connect(str(built_mesh.root / "published" / "mesh.duckdb"), read_only=True) as con:
        hashes = dict(con.execute("select customer_id, email_hash from customers.customers_v1"
                                  ).fetchall())
    assert len(hashes) == 1000

    def digest(prefix: str, email: str) -> str:
        return hashlib.sha256((prefix + email.strip().lower()).encode()).hexdigest()

    # the old committed salt re-identifies nobody; the installation's secret every row
    assert sum(hashes[c] == digest("duckmesh", e) for c, e in emails.items()) == 0
    assert sum(hashes[c] == digest(secret, e) for c, e in emails.items()) == len(emails)
    assert len(emails) > 900


def test_the_salt_is_in_no_artifact_log_or_publish(built_mesh: BuiltMesh) -> None:
    secret = (built_mesh.root / ".duckmesh" / "pii_salt").read_bytes()
    searched, holding = 0, []
    for folder in ("target", "logs", "published"):
        for path in (built_mesh.root / folder).rglob("*"):
            if path.is_file() and not path.is_symlink():
                searched += 1
                if secret in path.read_bytes():
                    holding.append(str(path))
    assert searched > 100
    assert holding == []
    manifest = (built_mesh.root / "target" / "manifest.json").read_text()
    compiled = json.loads(manifest)["nodes"]["model.customers.customers.v1"]["compiled_code"]
    # the SQL names the file (the build's own mesh root), never its content
    assert re.search(r"from read_text\('/[^']*/\.duckmesh/pii_salt'\)", compiled)


def test_the_salt_comes_from_the_environment_and_ci_never_makes_one_up(mesh_copy: Path) -> None:
    mesh = Mesh(mesh_copy, Settings(ci=True))
    with pytest.raises(MeshError) as refused:
        salt.ensure(mesh)
    assert str(refused.value) == (
        "no PII salt in CI: domains/customers/models/products/customers_v1.sql pseudonymise "
        "personal data, and a salt made up here would be lost with the runner. Set "
        "DUCKMESH_PII_SALT from your CI's secret store (the same value as production; "
        "docs/privacy.md)")
    assert not (mesh_copy / ".duckmesh").exists()
    with pytest.raises(MeshError, match="the PII salt in DUCKMESH_PII_SALT is too weak"):
        salt.ensure(replace(mesh, settings=Settings(ci=True, pii_salt="short")))
    given = "Zm9yLXRlc3RzLW9ubHk6IGEgY2ktc2VjcmV0LW9mLTQ4LWNoYXJz"  # 52 base64 characters
    path = salt.ensure(replace(mesh, settings=Settings(ci=True, pii_salt=given)))
    assert path.read_text() == given
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


HEX_FIX = ("Fix: write a new one with `python -c 'import secrets; "
           "print(secrets.token_hex(32))' > .duckmesh/pii_salt`, or delete .duckmesh/pii_salt "
           "and `duckmesh build` makes one (a new salt changes every hash: docs/privacy.md, "
           "rotation)")


@pytest.mark.parametrize(("value", "problem"), [
    ("", "it is empty"),
    ("a", "it has 1 character, and 64 hex characters are needed for 32 random bytes"),
    ("5a17" * 16, "it repeats a pattern of 4 characters 16 times"),
    ("a" * 64, "it repeats a pattern of 1 character 64 times"),
    ("ab" * 40 + "c", "it uses only 3 different characters (random text of its length uses "
                      "at least 8)"),
    ("1e32ea697af343cf77cef92b9f7848a257b8d71a068c5efaeb5e0d418fe6b7",
     "it has 62 characters, and 64 hex characters are needed for 32 random bytes"),
    ("a-ci-secret-of-32-characters-xyz",
     "it has 32 characters, and 43 base64 characters are needed for 32 random bytes"),
    ("pässwörd-pässwörd", "it has 21 bytes, and 32 UTF-8 bytes are needed for 32 random bytes"),
    ("1e32ea697af343cf77cef92b9f7848a257b8d71a068c5efaeb5e0d418fe6b769", None),
    ("u7Kq2xWb9Zr4Tn1Lm8Pc3Vd6Yh0Jf5Gs2Qa7Ee9Ri4O", None),  # token_urlsafe(32)
])
def test_a_salt_needs_32_random_bytes(value: str, problem: str | None) -> None:
    """64 hex, 43 base64 or 39 printable characters (32 bytes of other
    text), no repeated pattern, at least 8 different characters."""
    assert salt.strength_problem(value) == problem


@pytest.mark.parametrize(("content", "problem"), [
    ("", "it is empty"),
    ("a\n", "it has 1 character, and 64 hex characters are needed for 32 random bytes"),
    ("5a17" * 16 + "\n", "it repeats a pattern of 4 characters 16 times"),
])
def test_a_weak_salt_file_stops_the_build_with_the_fix(tmp_path: Path, content: str,
                                                       problem: str) -> None:
    """The probe's empty salt file, or one holding `a`, gave unsalted hashes."""
    (tmp_path / ".duckmesh").mkdir(mode=0o700)
    (tmp_path / ".duckmesh" / "pii_salt").write_text(content)
    with pytest.raises(MeshError) as refused:
        salt.ensure(Mesh(tmp_path, Settings()), log=None)
    assert str(refused.value) == (
        f"the PII salt in .duckmesh/pii_salt is too weak: {problem}. A salt needs 32 random "
        "bytes, or anyone with a list of e-mail addresses can undo the hashes. " + HEX_FIX)
    assert (tmp_path / ".duckmesh" / "pii_salt").read_text() == content  # left for the user


def test_a_publish_alone_checks_the_salt_it_hashes_with(built_mesh: BuiltMesh,
                                                        tmp_path: Path) -> None:
    """A salt file replaced between the build and a `duckmesh publish`: the publish
    (which writes `mask: hash` pseudonyms with it) refuses it as a build would."""
    root = clone_built(built_mesh.root, tmp_path / "mesh",
                       ignore=shutil.ignore_patterns("logs", "data"))
    (root / ".duckmesh" / "pii_salt").write_text("a\n")
    before = os.readlink(root / "published" / "current")
    refused = duckmesh(root, "publish", "--force", check=False)
    assert refused.returncode == 1
    assert refused.stderr == (
        "duckmesh publish: error: the PII salt in .duckmesh/pii_salt is too weak: it has 1 "
        "character, and 64 hex characters are needed for 32 random bytes. A salt needs 32 "
        "random bytes, or anyone with a list of e-mail addresses can undo the hashes. "
        + HEX_FIX + "\n")
    assert os.readlink(root / "published" / "current") == before


def test_a_weak_environment_salt_is_refused(tmp_path: Path) -> None:
    mesh = Mesh(tmp_path, Settings(pii_salt="0123456789abcdef"))
    with pytest.raises(MeshError) as refused:
        salt.ensure(mesh, log=None)
    assert str(refused.value) == (
        "the PII salt in DUCKMESH_PII_SALT is too weak: it has 16 characters, and 64 hex "
        "characters are needed for 32 random bytes. A salt needs 32 random bytes, or anyone "
        "with a list of e-mail addresses can undo the hashes. Fix: set DUCKMESH_PII_SALT to "
        "the output of `python -c 'import secrets; print(secrets.token_hex(32))'` (64 hex "
        "characters), kept in your secret store")
    assert not (tmp_path / ".duckmesh").exists()


def test_a_loose_salt_folder_and_file_are_tightened_with_a_message(tmp_path: Path) -> None:
    """The probe's `.duckmesh` chmodded 0755 stayed so."""
    folder = tmp_path / ".duckmesh"
    folder.mkdir()
    (folder / "pii_salt").write_text(TEST_SALT + "\n")
    os.chmod(folder, 0o755)
    os.chmod(folder / "pii_salt", 0o644)
    said: list[str] = []
    salt.ensure(Mesh(tmp_path, Settings()), log=said.append)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "pii_salt").stat().st_mode) == 0o600
    assert said == [f"      tightened {folder} from 0755 to 0700: it holds the PII salt "
                    "(docs/privacy.md)",
                    "      tightened .duckmesh/pii_salt to 0600: it is the PII salt "
                    "(docs/privacy.md)"]
    said.clear()
    salt.ensure(Mesh(tmp_path, Settings()), log=said.append)
    assert said == []  # nothing to say the second time


def test_a_generated_salt_is_private_from_the_start(tmp_path: Path) -> None:
    path = salt.ensure(Mesh(tmp_path, Settings()), log=None)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert salt.strength_problem(path.read_text()) is None
    assert len(path.read_text()) == 64


# -- raw personal data is never world-readable --------------------------

def test_source_data_and_the_check_cache_are_0640_in_0750_folders(
        built_mesh: BuiltMesh) -> None:
    """customers.csv holds names, e-mails and phone numbers; the checks' cache the raw
    lines of quarantined rows."""
    assert modes_of(built_mesh.data_dir) == {"file": {0o640}, "folder": {0o750}}
    csv = built_mesh.data_dir / "crm" / "customers.csv"
    assert stat.S_IMODE(csv.stat().st_mode) == 0o640
    cache = built_mesh.root / "target" / "validation_cache"
    assert stat.S_IMODE((cache / "crm__customers.json").stat().st_mode) == 0o640
    assert modes_of(cache) == {"file": {0o640}, "folder": {0o750}}


def test_loose_source_data_is_tightened_when_reused(built_mesh: BuiltMesh,
                                                    tmp_path: Path) -> None:
    """Data written by an older build (0644 in 0755 folders) is tightened, with a line."""
    from duckmesh.sources import generate

    data = tmp_path / "scale_0.01"
    shutil.copytree(built_mesh.data_dir, data)
    for path in [data, *data.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    said: list[str] = []
    result = generate.generate(data, scale=0.01, log=said.append)
    assert result.reused
    assert modes_of(data) == {"file": {0o640}, "folder": {0o750}}
    assert said[0] == f"source data for scale 0.01 already in {data} (reusing)"
    assert re.fullmatch(rf"      tightened {re.escape(str(data))}/?\S* \(0755 -> 0750\) and "
                        rf"\d+ more under {re.escape(str(data))}: it holds personal data; "
                        r"files 0640, folders 0750 \(docs/privacy.md\)", said[1]), said


def test_every_build_tightens_the_cache_and_the_cleaned_copy(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]
                                                             ) -> None:
    """Also when --changed-only skips the source checks (the pipeline calls it after the
    source data step)."""
    from duckmesh.sources import quarantine

    for folder in ("validation_cache", "validated/crm"):
        (tmp_path / "target" / folder).mkdir(parents=True)
    (tmp_path / "target" / "validation_cache" / "crm__customers.json").write_text("{}")
    (tmp_path / "target" / "validated" / "crm" / "customers.csv").write_text("x")
    for path in (tmp_path / "target").rglob("*"):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    quarantine.keep_private(Mesh(tmp_path, Settings()))
    for folder in ("validation_cache", "validated"):
        assert modes_of(tmp_path / "target" / folder) == {"file": {0o640}, "folder": {0o750}}
    said = capsys.readouterr().out.splitlines()
    assert len(said) == 2 and all(line.startswith("      tightened ") for line in said)


def test_the_validated_copy_of_quarantined_data_is_private(built_mesh: BuiltMesh,
                                                           tmp_path: Path) -> None:
    """A source with bad rows: dbt reads target/validated/, a cleaned copy of it."""
    from duckmesh.sources import quarantine

    root = clone_built(built_mesh.root, tmp_path / "mesh",
                       ignore=shutil.ignore_patterns("published", "logs"))
    data = without_producer_manifest(root / "data" / "scale_0.01")
    csv = data / "crm" / "customers.csv"
    lines = csv.read_bytes().splitlines(keepends=True)
    csv.write_bytes(b"".join(lines[:5] + [b"C0;not;enough;fields\n"] + lines[5:]))
    cache = root / "target" / "validation_cache"
    os.chmod(cache, 0o755)
    os.chmod(cache / "crm__customers.json", 0o644)
    mirror = quarantine.validate_sources(Mesh(root, Settings(db=root / "mesh.duckdb")), data)
    assert mirror == root / "target" / "validated"
    cleaned = mirror / "crm" / "customers.csv"
    assert not cleaned.is_symlink() and b"C0;not;enough" not in cleaned.read_bytes()
    assert modes_of(mirror) == {"file": {0o640}, "folder": {0o750}}
    assert modes_of(cache) == {"file": {0o640}, "folder": {0o750}}


@pytest.mark.e2e
def test_a_ci_build_without_the_salt_stops_before_dbt(
        mesh_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DUCKMESH_PII_SALT", raising=False)  # conftest's, for CI runners
    result = duckmesh(mesh_copy, "build", "--scale", "0.002", check=False,
                      env={"CI": "true"})
    assert result.returncode == 1
    assert "no PII salt in CI: domains/customers/models/products/customers_v1.sql" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (mesh_copy / "mesh.duckdb").exists()  # nothing ran


# -- item 8: ports per access level, file modes --------------------------------------------

def test_a_consumer_denied_customers_reads_no_email_hash_from_the_port(
        built_mesh: BuiltMesh) -> None:
    published = built_mesh.root / "published"
    port = published / "customers" / "customers" / "v1" / "customers_v1.parquet"
    own = published / "consumers" / "data_science" / "mesh.duckdb"
    with builddb.connect(own, read_only=True) as con:  # the probe of item 8
        assert con.execute(f"select count(*), count(email_hash), count(customer_id) from "
                           f"read_parquet('{port}')").fetchone() == (1000, 0, 1000)
        c360 = published / "analytics" / "customer_360" / "v1" / "customer_360_v1.parquet"
        counts = con.execute(
            "select count(*), count(customer_id), count(country_code), count(customer_segment), "
            "count(signup_date), count(is_marketing_opt_in), count(order_count) "
            f"from read_parquet('{c360}')").fetchone()
        assert counts == (1000, 1000, 0, 0, 0, 0, 1000)


def modes_of(root: Path) -> dict[str, set[int]]:
    found: dict[str, set[int]] = {"file": set(), "folder": set()}
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            found["folder" if path.is_dir() else "file"].add(stat.S_IMODE(path.stat().st_mode))
    return found


def test_published_files_are_0640_folders_0750_and_the_build_database_private(
        built_mesh: BuiltMesh) -> None:
    published = built_mesh.root / "published"
    assert modes_of(published / "current" / "") == {"file": {0o640}, "folder": {0o750}}
    assert stat.S_IMODE(published.stat().st_mode) == 0o750
    assert stat.S_IMODE((published / "snapshots").stat().st_mode) == 0o750
    assert stat.S_IMODE(built_mesh.db_path.stat().st_mode) & 0o007 == 0


def test_publish_keeps_an_operators_modes_and_sets_the_group(published_copy: Path) -> None:
    published = published_copy / "published"
    os.chmod(published / "consumers" / "data_science" / "mesh.duckdb", 0o600)
    os.chmod(published / "current" / "ports" / "sales", 0o700)
    group = next(g for g in grp.getgrall() if g.gr_gid != os.getgid())
    project = published_copy / "dbt_project.yml"
    project.write_text(project.read_text().replace(
        "vars:\n", f"vars:\n  duckmesh_publish:\n    group: {group.gr_name}\n", 1))
    before = (published / "current").readlink().name
    duckmesh(published_copy, "publish")
    assert (published / "current").readlink().name != before
    assert stat.S_IMODE((published / "consumers" / "data_science" / "mesh.duckdb").stat()
                        .st_mode) == 0o600
    assert stat.S_IMODE((published / "current" / "ports" / "sales").stat().st_mode) == 0o700
    assert stat.S_IMODE((published / "consumers" / "bi_dashboards" / "mesh.duckdb").stat()
                        .st_mode) == 0o640
    groups = {p.stat().st_gid for p in [published / "current" / "",
                                        *(published / "current" / "").rglob("*")]}
    assert groups == {group.gr_gid}
    project.write_text(project.read_text().replace(f"group: {group.gr_name}",
                                                   "group: no-such-group-here"))
    result = duckmesh(published_copy, "publish", check=False)
    assert result.returncode == 1
    assert ("group 'no-such-group-here' (vars.duckmesh_publish.group in dbt_project.yml) does "
            "not exist on this machine: create it (groupadd) or change the setting"
            ) in result.stderr


# -- item 11: lineage-aware access ----------------------------------------------------------

def test_data_science_reads_no_customer_column_through_customer_360(
        built_mesh: BuiltMesh) -> None:
    consumers = built_mesh.root / "published" / "consumers"
    query = ("select count(*), count(customer_id), count(country_code), count(customer_segment), "
             "count(signup_date), count(is_marketing_opt_in) from analytics.customer_360")
    with duckdb.connect(str(consumers / "data_science" / "mesh.duckdb"), read_only=True) as con:
        assert con.execute(query).fetchone() == (1000, 1000, 0, 0, 0, 0)
    with duckdb.connect(str(consumers / "bi_dashboards" / "mesh.duckdb"), read_only=True) as con:
        assert con.execute(query).fetchone() == (1000, 1000, 1000, 1000, 1000, 1000)


@pytest.fixture(scope="module")
def lineage_guard(built_mesh: BuiltMesh) -> ports.Guard:
    manifest = json.loads((built_mesh.root / "target" / "manifest.json").read_text())
    guard = ports.Guard(manifest, {}, access.consumer_groups(built_mesh.root))
    with builddb.connect(built_mesh.db_path, read_only=True) as con:
        guard.read_lineage(con, Mesh(built_mesh.root))  # lineage only: policies come later
    return guard


def hidden_for(guard: ports.Guard, manifest: dict, unique_id: str, consumer: str | None
               ) -> set[str]:
    policies = access.policies(manifest)
    assert guard.lineage is not None
    origins = derived.origins(manifest, guard.lineage, policies)
    return set(derived.hidden(policies, origins.get(unique_id, {}), consumer, guard.groups))


def without_column_rules(manifest: dict) -> dict:
    """customer_360 with no restricted_to and no declassified_from: lineage alone."""
    changed = copy.deepcopy(manifest)
    for column in changed["nodes"][CUSTOMER_360]["columns"].values():
        column["meta"], column["config"]["meta"] = {}, {}
    return changed


def test_restrictions_follow_the_column_lineage(lineage_guard: ports.Guard) -> None:
    manifest = without_column_rules(lineage_guard.manifest)
    # customer_id too: it is customers.customer_id, and nothing released it
    assert hidden_for(lineage_guard, manifest, CUSTOMER_360, "data_science") == (
        FROM_CUSTOMERS | {"customer_id"})
    assert hidden_for(lineage_guard, manifest, CUSTOMER_360, "bi_dashboards") == set()
    assert hidden_for(lineage_guard, manifest, CUSTOMER_360, None) == FROM_CUSTOMERS | {
        "customer_id"}
    # a computed column: a count over customers.is_marketing_opt_in, released by marketing
    campaign = "model.marketing.campaign_performance.v1"
    assert hidden_for(lineage_guard, manifest, campaign, "data_science") == set()
    node = manifest["nodes"][campaign]
    for column in node["columns"].values():
        column["meta"], column["config"]["meta"] = {}, {}
    assert hidden_for(lineage_guard, manifest, campaign, "data_science") == {
        "reached_opted_in_customer_count"}
    # the owner releases the whole product
    node = manifest["nodes"][CUSTOMER_360]
    node["meta"] = {**node["meta"], "declassified_from": ["customers.customers"]}
    assert hidden_for(lineage_guard, manifest, CUSTOMER_360, "data_science") == set()


def test_a_product_without_lineage_is_masked_whole(lineage_guard: ports.Guard) -> None:
    """A gap in the lineage analysis never unmasks a column: every column of the product
    counts as derived from every restricted product it reads."""
    from duckmesh.catalog.lineage import MeshLineage, ModelColumns

    manifest = without_column_rules(lineage_guard.manifest)
    assert lineage_guard.lineage is not None
    broken = MeshLineage(lineage_guard.lineage.nodes, {
        **lineage_guard.lineage.direct, CUSTOMER_360: ModelColumns(error="ParseError: x")})
    guard = ports.Guard(manifest, {}, lineage_guard.groups, lineage=broken)
    everything = {c.lower() for c in manifest["nodes"][CUSTOMER_360]["columns"]}
    assert len(everything) == 13
    assert hidden_for(guard, manifest, CUSTOMER_360, "data_science") == everything
    assert hidden_for(guard, manifest, CUSTOMER_360, "analytics") == set()


# -- item 12: kept consumer files -----------------------------------------------------------

def consumers_of_current(published: Path) -> list[str]:
    return sorted(p.name for p in (published / "current" / "consumers").iterdir())


def test_publish_for_keeps_the_file_until_removed(published_copy: Path) -> None:
    published = published_copy / "published"
    duckmesh(published_copy, "publish", "--for", "marketing")
    assert consumers_of_current(published) == ["bi_dashboards", "data_science", "marketing"]
    duckmesh(published_copy, "publish")
    duckmesh(published_copy, "publish", "--rollback")
    duckmesh(published_copy, "publish")
    assert consumers_of_current(published) == ["bi_dashboards", "data_science", "marketing"]
    with duckdb.connect(str(published / "consumers" / "marketing" / "mesh.duckdb"),
                        read_only=True) as con:
        assert con.execute("select count(email_hash) from customers.customers_v1"
                           ).fetchone() == (1000,)
    declared = duckmesh(published_copy, "publish", "--remove", "bi_dashboards", check=False)
    assert declared.returncode == 1
    assert ("consumer 'bi_dashboards' is declared in dbt_project.yml (vars.duckmesh_consumers): "
            "remove it there to stop publishing its file") in declared.stderr
    unknown = duckmesh(published_copy, "publish", "--remove", "sales", check=False)
    assert unknown.returncode == 1
    assert ("consumer 'sales' is not registered: registered are ['marketing'] "
            "(`duckmesh publish --for NAME` registers one)") in unknown.stderr
    removed = duckmesh(published_copy, "publish", "--remove", "marketing")
    assert "removed consumer marketing: its file is no longer published" in removed.stdout
    assert consumers_of_current(published) == ["bi_dashboards", "data_science"]
    duckmesh(published_copy, "publish")
    assert consumers_of_current(published) == ["bi_dashboards", "data_science"]


def test_governance_reports_a_column_derived_from_a_restricted_product(
        mesh_copy: Path) -> None:
    """P12: the same rule, reported before any model builds."""
    yml = mesh_copy / "models" / "products" / "_products.yml"
    text = yml.read_text()
    rule = ("        config:\n          # from customers.customers: only its consumers see it "
            "(P12), others get null\n          meta: {restricted_to: [analytics, marketing, "
            "sales, customer_service, reporting]}\n")
    assert text.count(rule) == 1
    text = text.replace(rule, "")
    count = ("      - name: order_count\n        description: Orders placed and not cancelled.\n"
             "        data_type: bigint\n")
    assert text.count(count) == 1
    text = text.replace(count, count + "        config:\n          meta: {declassified_from: "
                                       "[customers.customer]}\n")
    yml.write_text(text)
    result = duckmesh(mesh_copy, "governance", "check", "--json", check=False)
    assert result.returncode == 1, result.stderr[-2000:]
    report = json.loads(result.stdout)
    found = sorted((v["policy"], v["severity"], v["column"], v["message"])
                   for v in report["violations"])
    assert found == [
        ("P12", "error", "country_code",
         "column country_code of customer_360 v1 comes from customers.customers v1, which "
         "only ['customers', 'analytics', 'marketing', 'sales', 'customer_service', "
         "'reporting'] may read, but customer_360 v1 gives it to every consumer: publishing "
         "masks it for them"),
        ("P12", "error", "order_count",
         "meta.declassified_from of customer_360 v1 names customers.customer, which "
         "customer_360 v1 does not read (it reads customer_service.satisfaction, "
         "customers.customers, marketing.attribution, sales.orders)"),
    ]


def test_a_hash_mask_is_the_salted_pseudonym_never_a_bare_sha256(
        tmp_path: Path, built_mesh: BuiltMesh) -> None:
    """`mask: hash` is what pseudonymise() renders (the macro itself, over the build's
    manifest): salt + trimmed lower-case text, so nobody can look a value up in a
    dictionary of SHA-256s; the select list (recorded in publish.json) names the salt
    file, never the salt; no salt file: null."""
    policy = access.Policy(
        "model.crm.people.v1", "crm", None,
        (access.Column("email", "varchar", ("crm",), "hash"),
         access.Column("visits", "integer", ("crm",), "hash")))
    columns = [("person_id", "VARCHAR"), ("email", "VARCHAR"), ("visits", "INTEGER")]
    secret = "a-long-installation-secret-0123456789"
    salt_file = tmp_path / "pii_salt"
    salt_file.write_text(secret + "\n")
    manifest = json.loads((built_mesh.root / "target" / "manifest.json").read_text())
    hashed = access.hash_template(Mesh(built_mesh.root), manifest, str(salt_file))
    assert access.hash_template(Mesh(built_mesh.root), manifest, None) is None
    salted = access.select_list(policy, "marketing", {}, columns, hashed=hashed)
    bare = access.select_list(policy, "marketing", {}, columns)
    assert str(salt_file) in salted
    assert secret not in salted
    assert bare == ('"person_id", cast(null as VARCHAR) as "email", '
                    'cast(null as INTEGER) as "visits"')
    with duckdb.connect() as con:
        con.execute("create table people as select * from (values "
                    "('p1', ' Ann@Example.COM ', 3), ('p2', null, 4)) as t(person_id, email, visits)")
        rows = con.execute(f"select {salted} from people order by person_id").fetchall()
    expected = hashlib.sha256((secret + "ann@example.com").encode()).hexdigest()
    assert rows == [("p1", expected, None), ("p2", None, None)]
    assert expected != hashlib.sha256(b"ann@example.com").hexdigest()
