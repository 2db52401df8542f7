"""`duckmesh release --domain`: the version from the SemVer class of the
domain's changes, the tag on a release commit whose packages.yml pins the platform and
the upstream domains, and the messages when the tree is dirty or git is absent.

The git tests work on a clone of the session build made a repository (its build output
ignored); the changes are made in the build's manifest, as a build would write them.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import BuiltMesh, clone_built, dbt_cli, duckmesh
from duckmesh.selfserve.release import bump, classify

GIT_ENV = {"GIT_AUTHOR_NAME": "ci", "GIT_AUTHOR_EMAIL": "ci@duckmesh.example",
           "GIT_COMMITTER_NAME": "ci", "GIT_COMMITTER_EMAIL": "ci@duckmesh.example"}
IGNORED = ["target/", "data/", "published/", "dbt_packages/", "logs/", ".duckmesh/",
           "*.duckdb", "*.duckdb.wal"]


@pytest.fixture(scope="module")
def manifest(built_mesh: BuiltMesh) -> dict:
    return json.loads((built_mesh.root / "target" / "manifest.json").read_text())


@pytest.mark.parametrize(("version", "change", "expected"), [
    ("2.0.0", "major", "3.0.0"), ("2.3.4", "minor", "2.4.0"), ("2.3.4", "patch", "2.3.5"),
    ("0.9.0", "major", "1.0.0")])
def test_bump_by_class(version: str, change: str, expected: str) -> None:
    assert bump(version, change) == expected


def test_the_class_of_a_domains_changes(manifest: dict) -> None:
    def changed(edit: str) -> dict:
        after = copy.deepcopy(manifest)
        v2 = after["nodes"]["model.sales.orders.v2"]
        if edit == "column added":
            v2["columns"]["coupon_code"] = {"name": "coupon_code", "data_type": "varchar"}
        elif edit == "version added":
            after["nodes"]["model.sales.orders.v3"] = {**copy.deepcopy(v2), "version": 3}
        elif edit == "description":
            v2["description"] = "Orders."
        elif edit == "query":
            v2["checksum"] = {"name": "sha256", "checksum": "0" * 64}
        elif edit == "other domain":
            after["nodes"]["model.customers.customers.v1"]["description"] = "Customers."
        return after

    assert classify(manifest, changed("column added"), "sales") == (
        "minor", ["sales.orders: minor - v2: column coupon_code added"])
    assert classify(manifest, changed("version added"), "sales")[0] == "major"
    assert classify(manifest, changed("description"), "sales") == (
        "patch", ["sales.orders: patch - v2: description changed"])
    assert classify(manifest, changed("query"), "sales") == (
        "patch", ["orders v2: query changed"])
    assert classify(manifest, changed("other domain"), "sales") == (None, [])


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, env={**os.environ, **GIT_ENV}, text=True,
                          capture_output=True, check=True).stdout.strip()


def test_release_tags_pinned_packages_and_says_what_to_run(
        built_mesh: BuiltMesh, tmp_path: Path) -> None:
    repo = clone_built(built_mesh.root, tmp_path / "repo")
    no_git = duckmesh(repo, "release", "--domain", "sales", check=False, env=GIT_ENV)
    assert no_git.returncode == 1
    assert no_git.stderr == (
        f"duckmesh release: error: git is not installed or {repo} is not a git repository: "
        "nothing changed. Run the release in a git checkout of the mesh (duckmesh release "
        "--domain sales), or by hand: set `version: \"2.0.0\"` in "
        "domains/sales/dbt_project.yml, commit it and `git tag -a sales-v2.0.0 -m "
        "\"sales 2.0.0\"` (a tag made by hand keeps local package paths, which an outside "
        "git install cannot resolve)\n")
    (repo / ".gitignore").write_text("\n".join(IGNORED) + "\n")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "the mesh")
    head = git(repo, "rev-parse", "HEAD")

    # sales needs its upstream released first: a local path cannot be pinned
    early = duckmesh(repo, "release", "--domain", "sales", check=False, env=GIT_ENV)
    assert early.stderr.endswith(
        "error: upstream domain customers has no release tag (customers-v<X.Y.Z>), so "
        "sales's release cannot pin it: release it first (duckmesh release --domain "
        "customers)\n")
    first = duckmesh(repo, "release", "--domain", "customers", env=GIT_ENV).stdout
    assert first.splitlines()[0] == (
        "customers 1.0.0 (first release of the published products; since the last publish "
        "(1.0.0), read from target/manifest.json)")
    duckmesh(repo, "release", "--domain", "sales", env=GIT_ENV)
    assert git(repo, "tag", "--list").split() == ["customers-v1.0.0", "sales-v2.0.0"]
    assert git(repo, "rev-parse", "HEAD") == head  # nothing to commit on the branch

    # a column added to orders v2 (the build's manifest, as a build would write it): minor
    target = repo / "target" / "manifest.json"
    built = json.loads(target.read_text())
    built["nodes"]["model.sales.orders.v2"]["columns"]["coupon_code"] = {
        "name": "coupon_code", "data_type": "varchar", "description": "Coupon used."}
    target.write_text(json.dumps(built))
    done = duckmesh(repo, "release", "--domain", "sales", env=GIT_ENV).stdout
    assert done.splitlines() == [
        "sales 2.1.0 (minor: sales.orders: minor - v2: column coupon_code added; since "
        "sales-v2.0.0, read from target/manifest.json)",
        "  domains/sales/dbt_project.yml: version 2.1.0 (committed on the branch)",
        f"  tag sales-v2.1.0 -> release commit {git(repo, 'rev-parse', 'sales-v2.1.0^{}')[:12]}"
        " (packages.yml pinned; the branch keeps local paths)",
        f"    pins the platform (macros) at {head} (as the upstream releases pin it)",
        "    pins customers at customers-v1.0.0",
        "  publish the tag: git push origin sales-v2.1.0"]
    assert 'version: "2.1.0"' in (repo / "domains/sales/dbt_project.yml").read_text()
    assert git(repo, "log", "-1", "--format=%s") == "release sales 2.1.0"
    assert git(repo, "status", "--porcelain", "--untracked-files=no") == ""
    # the branch keeps local paths; the tag pins the platform and customers by git
    assert "local:" in (repo / "domains/sales/packages.yml").read_text()
    pinned = git(repo, "show", "sales-v2.1.0:domains/sales/packages.yml")
    assert f"""  - git: file://{repo}
    subdirectory: macros
    revision: {head}
  - git: file://{repo}
    subdirectory: domains/customers
    revision: customers-v1.0.0""" in pinned
    assert "local:" not in pinned
    again = duckmesh(repo, "release", "--domain", "sales", env=GIT_ENV).stdout
    assert again == "sales: no product change since sales-v2.1.0: nothing to release\n"

    # an outside project installs the tag by git with no DUCKMESH_* paths: all pinned
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "dbt_project.yml").write_text(
        'name: outside\nversion: "1.0.0"\nconfig-version: 2\nprofile: outside\n')
    (outside / "packages.yml").write_text(
        f"packages:\n  - git: \"file://{repo}\"\n    subdirectory: domains/sales\n"
        "    revision: sales-v2.1.0\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUCKMESH_")}
    deps = dbt_cli(["deps"], cwd=outside, env=env)
    assert deps.returncode == 0, deps.stdout[-3000:]
    assert sorted(p.name for p in (outside / "dbt_packages").iterdir()) == [
        "customers", "duckmesh_platform", "sales"]
    lock = (outside / "package-lock.yml").read_text()
    assert f"revision: {git(repo, 'rev-parse', 'customers-v1.0.0^{}')}" in lock
    assert f"revision: {head}" in lock

    # a dirty tree: nothing changes, the message says what to run
    (repo / "domains/sales/models/products/orders_v2.sql").write_text("select 1 as order_id\n")
    stale = duckmesh(repo, "release", "--domain", "sales", check=False, env=GIT_ENV)
    assert stale.stderr == (
        "duckmesh release: error: domains/sales/models/products/orders_v2.sql changed since "
        "the build the release reads (target/manifest.json): build first (duckmesh build "
        "--domain sales), then release\n")
    built["nodes"]["model.sales.orders.v2"]["columns"]["gift_note"] = {
        "name": "gift_note", "data_type": "varchar", "description": "Gift note."}
    target.write_text(json.dumps(built))  # as the build would write it
    dirty = duckmesh(repo, "release", "--domain", "sales", check=False, env=GIT_ENV)
    assert dirty.returncode == 1
    assert dirty.stderr == (
        "duckmesh release: error: the working tree has uncommitted changes "
        "(domains/sales/models/products/orders_v2.sql): nothing changed. Commit them (git "
        "commit -am \"...\") or stash them (git stash), then run `duckmesh release --domain "
        "sales` again: it sets version 2.2.0 in domains/sales/dbt_project.yml and tags "
        "sales-v2.2.0\n")
    assert git(repo, "tag", "--list").split() == [
        "customers-v1.0.0", "sales-v2.0.0", "sales-v2.1.0"]
