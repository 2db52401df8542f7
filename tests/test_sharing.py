"""Sharing beyond the repository (docs/sharing.md).

An outside dbt project made by `duckmesh consumer init`, in a folder outside the
repository, builds through dbt-loom (the `.venv-consumer` dbt, `make consumer`) against a
published folder and against an S3 store (moto's server in this process), with the rows
of the published database; `publish --to s3://` and `pull` move verified snapshots; every
bad input says what and how to fix it in one line and leaves the previous snapshot current.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from conftest import REPO, BuiltMesh, clone_built, duckmesh
from duckmesh.core import builddb

STORE_MISSING = "needs moto and boto3: make test installs them (the test and s3 extras)"

CONSUMER_DBT = REPO / ".venv-consumer" / "bin" / "dbt"
needs_consumer = pytest.mark.skipif(not CONSUMER_DBT.exists(),
                                    reason="needs .venv-consumer with dbt-loom: make consumer")
AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
       "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Store:
    """moto's S3 server on a free port (its buckets live in this process, so a restarted
    server still has them)."""

    def __init__(self) -> None:
        pytest.importorskip("boto3", reason=STORE_MISSING)
        pytest.importorskip("moto.server", reason=STORE_MISSING)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.restart()

    def restart(self) -> None:
        from moto.server import ThreadedMotoServer

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port)
        self.server.start()

    @property
    def env(self) -> dict[str, str]:
        return {**AWS, "AWS_ENDPOINT_URL": self.endpoint}

    def client(self):  # noqa: ANN201
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def pointer(self, bucket: str, prefix: str) -> dict:
        body = self.client().get_object(Bucket=bucket, Key=f"{prefix}/current.json")["Body"]
        return json.loads(body.read())


@pytest.fixture(scope="module")
def store() -> Iterator[Store]:
    started = Store()
    yield started
    started.server.stop()


@pytest.fixture(scope="module")
def mesh(built_mesh: BuiltMesh, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy of the session's built mesh for this file (publish --to writes
    published/verified.json), published once where it is (a copied published/ folder
    writes its consumer files once more: docs/publishing.md)."""
    root = clone_built(built_mesh.root, tmp_path_factory.mktemp("sharing") / "duckmesh")
    duckmesh(root, "publish")
    return root


@pytest.fixture()
def aws(store: Store, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in store.env.items():
        monkeypatch.setenv(name, value)
    return store.env


def current(root: Path) -> str:
    return os.readlink(root / "published" / "current").rsplit("/", 1)[-1]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot_digests(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): sha256(p)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def consumer_dbt(project: Path, *args: str, env: dict[str, str] | None = None,
                 ) -> subprocess.CompletedProcess:
    """The outside project's dbt (.venv-consumer), in a fresh process, from its folder."""
    full = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", str(project)),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", **(env or {})}
    return subprocess.run([str(CONSUMER_DBT), *args, "--profiles-dir", "."], cwd=project,
                          env=full, capture_output=True, text=True, timeout=300)


def published_rows(root: Path, relation: str) -> list[tuple]:
    """``relation`` as published/mesh.duckdb holds it, read with DuckDB directly."""
    con = duckdb.connect(str(root / "published" / "mesh.duckdb"), read_only=True)
    try:
        return sorted(con.execute(f"select * from {relation}").fetchall())
    finally:
        con.close()


def outside_rows(project: Path, table: str) -> list[tuple]:
    con = builddb.connect(project / f"{project.name}.duckdb", read_only=True)
    try:
        return sorted(con.execute(f"select * from {table}").fetchall())
    finally:
        con.close()


DEPRECATED_MODEL = "select order_id, order_amount from {{ ref('sales', 'orders', v=1) }}\n"
DEPRECATION = ("Found a reference to orders.v1, which is slated for deprecation on "
               "'2027-06-30T00:00:00+00:00'")


# -- item 1: the standard consumer path --------------------------------------------------

@pytest.mark.e2e
@needs_consumer
def test_outside_project_from_published_folder(mesh: Path, tmp_path: Path) -> None:
    """`consumer init` writes the three files and a sample model; dbt-loom resolves the
    products from published/manifest.json; rows equal the published database's; the
    deprecated version warns; a private model is refused."""
    project = tmp_path / "outside"
    assert not project.resolve().is_relative_to(REPO)
    out = duckmesh(mesh, "consumer", "init", str(project), "--products",
                   "sales.orders,analytics.customer_360").stdout
    assert "models/sample_orders.sql" in out
    loom = (project / "dbt_loom.config.yml").read_text()
    assert f'path: "{mesh / "published" / "manifest.json"}"' in loom
    # customer_360 reads customers, marketing and customer_service products: all loaded
    assert "included_packages: [customer_service, customers, duckmesh, marketing, sales]" in loom
    profile = (project / "profiles.yml").read_text()
    assert "alias: mesh" in profile and "read_only: true" in profile
    (project / "models" / "old_orders.sql").write_text(DEPRECATED_MODEL)
    (project / "models" / "vip.sql").write_text(
        "select customer_id, lifetime_net_amount from {{ ref('duckmesh', 'customer_360') }}\n")

    built = consumer_dbt(project, "build")
    assert built.returncode == 0, built.stdout[-3000:]
    assert DEPRECATION in " ".join(built.stdout.split())
    assert outside_rows(project, "sample_orders") == published_rows(mesh, "sales.orders_v2")
    assert outside_rows(project, "old_orders") == published_rows(
        mesh, "(select order_id, order_amount from sales.orders_v1)")
    assert outside_rows(project, "vip") == published_rows(
        mesh, "(select customer_id, lifetime_net_amount from analytics.customer_360_v1)")

    (project / "models" / "peek.sql").write_text(
        "select * from {{ ref('sales', 'stg_order_system__orders') }}\n")
    refused = consumer_dbt(project, "parse")
    assert refused.returncode != 0
    # dbt-loom loads private models too; the project's own group makes dbt refuse them
    assert ("Node model.outside.peek attempted to reference node "
            "model.sales.stg_order_system__orders, which is not allowed because the referenced "
            "node is private to the 'sales' group.") in " ".join(refused.stdout.split())


@pytest.mark.e2e
@needs_consumer
def test_outside_project_from_store(mesh: Path, tmp_path: Path, store: Store,
                                    aws: dict[str, str]) -> None:
    """The same through the store: dbt-loom reads the manifest from S3, the profile reads
    the Parquet ports through dbt-duckdb's `filesystems:` (s3fs)."""
    bucket = store.bucket("outside-store")
    duckmesh(mesh, "publish", "--to", f"s3://{bucket}/mesh", env=aws)
    project = tmp_path / "remote_outside"
    duckmesh(mesh, "consumer", "init", str(project), "--products", "sales.orders", "--from",
             f"s3://{bucket}/mesh", env=aws)
    assert "type: s3" in (project / "dbt_loom.config.yml").read_text()
    assert "fs: s3" in (project / "profiles.yml").read_text()
    (project / "models" / "old_orders.sql").write_text(DEPRECATED_MODEL)
    built = consumer_dbt(project, "build", env=aws)
    assert built.returncode == 0, built.stdout[-3000:]
    assert DEPRECATION in " ".join(built.stdout.split())
    assert outside_rows(project, "sample_orders") == published_rows(mesh, "sales.orders_v2")
    assert outside_rows(project, "old_orders") == published_rows(
        mesh, "(select order_id, order_amount from sales.orders_v1)")


def test_consumer_init_after_a_domain_publish(tmp_path: Path) -> None:
    """A domain publish (`duckmesh ci --domain`) records its products under its workspace's
    database ("build"), the others under "mesh": the profile attaches the published file
    under both names; unknown products and a taken folder are refused in one line."""
    from duckmesh.core.project import MeshError
    from duckmesh.sharing import consumer

    published = tmp_path / "published"
    published.mkdir()
    duckdb.connect(str(published / "mesh.duckdb")).close()

    def node(package: str, schema: str, name: str, database: str) -> dict:
        return {"resource_type": "model", "access": "public", "package_name": package,
                "schema": schema, "name": name, "alias": f"{name}_v1", "version": 1,
                "database": database, "depends_on": {"nodes": []}}

    (published / "manifest.json").write_text(json.dumps({"nodes": {
        "model.sales.orders.v1": node("sales", "sales", "orders", "mesh"),
        "model.customer_service.tickets.v1": node("customer_service", "customer_service",
                                                  "tickets", "build")}}))
    project = tmp_path / "Team Reports"
    consumer.init(project, str(published), ["customer_service.tickets"])
    profile = (project / "profiles.yml").read_text()
    assert profile.count(f'path: "{published / "mesh.duckdb"}"') == 2
    assert "alias: build" in profile and "alias: mesh" in profile
    assert "name: team_reports" in (project / "dbt_project.yml").read_text()
    assert "included_packages: [customer_service]" in (
        project / "dbt_loom.config.yml").read_text()
    with pytest.raises(MeshError) as taken:
        consumer.init(project, str(published), [])
    assert str(taken.value) == (
        f"{project} already has dbt_loom.config.yml, dbt_project.yml, models/_groups.yml, "
        "models/sample_tickets.sql, profiles.yml: remove them or choose another folder")
    with pytest.raises(MeshError) as unknown:
        consumer.init(tmp_path / "other", str(published), ["sales.order"])
    assert str(unknown.value) == ("unknown product(s) sales.order: use domain.product, one of "
                                  "customer_service.tickets, sales.orders")


# -- item 2: the object store ------------------------------------------------------------

def test_without_boto3_the_store_commands_name_the_install(mesh: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)  # import boto3 raises ImportError
    for args in (["publish", "--to", "s3://bucket/mesh"],
                 ["pull", "s3://bucket/mesh", str(tmp_path / "copy")]):
        result = duckmesh(mesh, *args, check=False)
        assert result.returncode == 1
        assert result.stderr == (
            f"duckmesh {args[0]}: error: s3:// needs boto3, which is not installed: pip install "
            "-c constraints.txt -e '.[s3]' (`make s3`; a consumer without the repository: "
            "pip install 'duckmesh[s3]')\n")
    assert not (tmp_path / "copy").exists()


def test_publish_to_store_and_pull(mesh: Path, tmp_path: Path, store: Store,
                                   aws: dict[str, str]) -> None:
    bucket = store.bucket("round-trip")
    snapshot = current(mesh)
    local = mesh / "published" / "snapshots" / snapshot
    out = duckmesh(mesh, "publish", "--to", f"s3://{bucket}/team/mesh", env=aws).stdout
    assert f"shared snapshot {snapshot} at s3://{bucket}/team/mesh" in out
    pointer = store.pointer(bucket, "team/mesh")
    assert pointer["snapshot"] == snapshot
    assert {p["database"] for p in pointer["products"]} == {"mesh"}
    index = json.loads(store.client().get_object(
        Bucket=bucket, Key=f"team/mesh/{pointer['index']}")["Body"].read())["files"]
    # every file of the snapshot, and the catalog's contracts and descriptors
    assert {k for k in index if not k.startswith("contracts/")} == set(snapshot_digests(local))
    assert "contracts/sales/orders_v2.odcs.yaml" in index
    assert "contracts/sales/orders_v2.odps.yaml" in index
    head = store.client().head_object(Bucket=bucket, Key=f"team/mesh/snapshots/{snapshot}/"
                                      "mesh.duckdb", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == store_b64(index["mesh.duckdb"]["sha256"])

    again = duckmesh(mesh, "publish", "--to", f"s3://{bucket}/team/mesh", env=aws).stdout
    assert f"0 files uploaded (0.0 MB), {len(index)} already there" in again

    copy = tmp_path / "elsewhere" / "published"
    pulled = duckmesh(mesh, "pull", f"s3://{bucket}/team/mesh", str(copy), env=aws).stdout
    assert pulled.startswith(f"pulled snapshot {snapshot} into {copy}: {len(index)} files "
                             "downloaded")
    assert os.readlink(copy / "current") == f"snapshots/{snapshot}"
    digests = snapshot_digests(copy / "snapshots" / snapshot)
    assert {k: v for k, v in digests.items() if k in snapshot_digests(local)} \
        == snapshot_digests(local)
    assert all(digests[k] == v["sha256"] for k, v in index.items())
    con = builddb.connect(copy / "mesh.duckdb", read_only=True)
    assert con.execute("select count(*) from sales.orders").fetchone()[0] == len(
        published_rows(mesh, "sales.orders_v2"))
    con.close()
    assert duckmesh(mesh, "pull", f"s3://{bucket}/team/mesh", str(copy), env=aws).stdout == (
        f"up to date: {copy} holds snapshot {snapshot} (every file verified)\n")
    own = duckmesh(mesh, "pull", f"s3://{bucket}/team/mesh", str(mesh / "published"), env=aws,
                   check=False)
    assert own.stderr == (f"duckmesh pull: error: {mesh / 'published'} is a mesh's own "
                          "published/ folder (it has verified.json): pull into another folder\n")


def store_b64(hex_digest: str) -> str:
    from duckmesh.sharing.store import b64

    return b64(hex_digest)


def test_interrupted_upload_keeps_previous_and_resumes(mesh: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The store goes away half-way through an upload: the pointer stays on the previous
    snapshot, a pull still gets it; the next upload skips what is there; a pull then
    downloads only the files that changed."""
    from duckmesh.core.project import Mesh, MeshError
    from duckmesh.sharing import store as sharing

    own = Store()  # its own server: this test stops it
    try:
        for name, value in own.env.items():
            monkeypatch.setenv(name, value)
        bucket = own.bucket("interrupted")
        url = f"s3://{bucket}/mesh"
        old = current(mesh)
        duckmesh(mesh, "publish", "--to", url, env=own.env)
        copy = tmp_path / "copy"
        duckmesh(mesh, "pull", url, str(copy), env=own.env)
        duckmesh(mesh, "publish", "--force", env=own.env)
        new = current(mesh)
        assert new != old

        seen: list[str] = []

        def stop_after_three(rel: str) -> None:
            seen.append(rel)
            if len(seen) == 3:
                own.server.stop()

        with pytest.raises(MeshError) as stopped:
            sharing.upload(Mesh(mesh), sharing.Location.parse(url),
                           after_file=stop_after_three)
        total = len(sharing.snapshot_files(Mesh(mesh), mesh / "published", new))
        assert str(stopped.value) == (
            f"the store at {own.endpoint} stopped answering (EndpointConnectionError): "
            f"snapshot {old} stays current in the store (3 of {total} files of {new} are "
            "there; the next upload skips them); run the same command again when it is back "
            "(AWS_ENDPOINT_URL names a non-AWS endpoint)")
        own.restart()
        assert own.pointer(bucket, "mesh")["snapshot"] == old
        assert "up to date" in duckmesh(mesh, "pull", url, str(copy), env=own.env).stdout

        resumed = duckmesh(mesh, "publish", "--to", url, env=own.env).stdout
        # what the interrupted upload left is skipped; files with the bytes of the previous
        # snapshot (the ports, the manifest) are copied inside the store, not sent again
        uploaded, copied = map(int, re.search(
            r"(\d+) files uploaded .*, (\d+) copied in the store from the previous snapshot "
            r"\(same SHA-256\), 3 already there with the same SHA-256", resumed).groups())
        assert uploaded + copied == total - 3 and copied > uploaded
        assert own.pointer(bucket, "mesh")["snapshot"] == new
        pulled = duckmesh(mesh, "pull", url, str(copy), env=own.env).stdout
        assert pulled.startswith(f"pulled snapshot {new} into {copy}: ")
        # ports, packages and the manifest are the same bytes: linked from the local copy
        downloaded, reused = map(int, re.search(r"(\d+) files downloaded .* (\d+) unchanged",
                                                pulled).groups())
        assert downloaded + reused == total and reused > downloaded
        assert sorted(os.listdir(copy / "snapshots")) == sorted([old, new])
        assert os.readlink(copy / "current") == f"snapshots/{new}"
    finally:
        own.server.stop()


# -- bad input: one line each, the previous snapshot current and intact ---------------------

def published_state(root: Path) -> tuple[str, dict[str, str]]:
    return current(root), snapshot_digests(root / "published" / "current")


def test_missing_credentials(mesh: Path, tmp_path: Path, store: Store,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    before = published_state(mesh)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    env = {"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
           "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_EC2_METADATA_DISABLED": "true",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": store.endpoint}
    result = duckmesh(mesh, "publish", "--to", "s3://any-bucket/mesh", env=env, check=False)
    assert result.returncode == 1
    assert result.stderr == (
        "duckmesh publish: error: no AWS credentials for s3://any-bucket/mesh (Unable to "
        "locate credentials): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE "
        "(never in the repository); nothing was uploaded, the store is as it was\n")
    assert published_state(mesh) == before


def test_wrong_credentials(mesh: Path, store: Store, aws: dict[str, str],
                           monkeypatch: pytest.MonkeyPatch) -> None:
    from moto import settings

    bucket = store.bucket("wrong-keys")
    before = published_state(mesh)
    monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)  # moto checks keys
    result = duckmesh(mesh, "publish", "--to", f"s3://{bucket}/mesh", check=False,
                      env={**aws, "AWS_ACCESS_KEY_ID": "AKIAWRONGWRONGWRONG1"})
    assert result.returncode == 1
    assert result.stderr == (
        f"duckmesh publish: error: the store at {store.endpoint} refused the credentials for "
        f"s3://{bucket}/mesh (403): check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
        "AWS_PROFILE, and the bucket's policy; nothing was uploaded, the store is as it was\n")
    assert published_state(mesh) == before


def test_missing_bucket(mesh: Path, tmp_path: Path, store: Store, aws: dict[str, str]) -> None:
    before = published_state(mesh)
    result = duckmesh(mesh, "publish", "--to", "s3://no-such-bucket/mesh", env=aws, check=False)
    assert result.returncode == 1
    assert result.stderr == (
        f"duckmesh publish: error: bucket no-such-bucket does not exist at {store.endpoint}: "
        "create it (aws s3 mb s3://no-such-bucket) or fix the URL; nothing was uploaded, the "
        "store is as it was\n")
    assert published_state(mesh) == before
    pulled = duckmesh(mesh, "pull", "s3://no-such-bucket/mesh", str(tmp_path / "c"), env=aws,
                      check=False)
    assert pulled.stderr == (
        f"duckmesh pull: error: bucket no-such-bucket does not exist at {store.endpoint}: "
        f"create it (aws s3 mb s3://no-such-bucket) or fix the URL; nothing was pulled into "
        f"{tmp_path / 'c'}\n")


@pytest.fixture()
def shared(mesh: Path, tmp_path: Path, store: Store, aws: dict[str, str]) -> tuple[str, Path]:
    """A store with the current snapshot and a local copy pulled from it."""
    bucket = store.bucket(f"damage-{tmp_path.name[-20:].lower().replace('_', '-')}")
    url = f"s3://{bucket}/mesh"
    duckmesh(mesh, "publish", "--to", url, env=aws)
    copy = tmp_path / "copy"
    duckmesh(mesh, "pull", url, str(copy), env=aws)
    return url, copy


def test_damaged_object(mesh: Path, shared: tuple[str, Path], store: Store,
                        aws: dict[str, str]) -> None:
    """An object whose bytes are not those of the snapshot's index: the pull stops and
    leaves nothing; the next publish uploads it again."""
    url, copy = shared
    snapshot = current(mesh)
    bucket = url[5:].split("/")[0]
    port = f"snapshots/{snapshot}/ports/sales/orders/v2/orders_v2.parquet"
    store.client().put_object(Bucket=bucket, Key=f"mesh/{port}", Body=b"bit rot")
    fresh = copy.parent / "fresh"
    result = duckmesh(mesh, "pull", url, str(fresh), env=aws, check=False)
    assert result.returncode == 1
    assert result.stderr == (
        f"duckmesh pull: error: {url}/{port} is damaged: its SHA-256 is not the one the "
        f"snapshot's index records; publish again with `duckmesh publish --to {url}` (it "
        f"uploads the object again); nothing was pulled into {fresh}\n")
    assert list((fresh / "snapshots").iterdir()) == []
    assert "up to date" in duckmesh(mesh, "pull", url, str(copy), env=aws).stdout
    assert "1 files uploaded" in duckmesh(mesh, "publish", "--to", url, env=aws).stdout
    duckmesh(mesh, "pull", url, str(fresh), env=aws)
    assert snapshot_digests(fresh / "current") == snapshot_digests(copy / "current")


def test_pointer_to_incomplete_snapshot(mesh: Path, shared: tuple[str, Path], store: Store,
                                        aws: dict[str, str]) -> None:
    url, copy = shared
    snapshot = current(mesh)
    bucket = url[5:].split("/")[0]
    missing = f"snapshots/{snapshot}/ports/customers/customers/v1/customers_v1.parquet"
    store.client().delete_object(Bucket=bucket, Key=f"mesh/{missing}")
    # the local copy was damaged too, so the pull must download the missing object
    (copy / "snapshots" / snapshot / "ports" / "customers" / "customers" / "v1" /
     "customers_v1.parquet").unlink()
    result = duckmesh(mesh, "pull", url, str(copy), env=aws, check=False)
    assert result.returncode == 1
    assert result.stderr == (
        f"duckmesh pull: error: {url}/{missing} is missing: the store's current snapshot is "
        "incomplete (its pointer names objects that are not there); publish again with "
        f"`duckmesh publish --to {url}`; {copy} still holds snapshot {snapshot}\n")
    assert os.readlink(copy / "current") == f"snapshots/{snapshot}"
    assert not [p for p in (copy / "snapshots").iterdir() if p.name.startswith(".tmp-")]
