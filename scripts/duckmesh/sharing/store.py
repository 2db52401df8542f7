"""A verified snapshot in an object store (S3 or S3-compatible), and a consumer's local
copy of it.

Layout under ``s3://<bucket>/<prefix>/``:

    snapshots/<id>/...                     every file of snapshot <id>, never changed once
                                           uploaded, each with its SHA-256 (S3 checksum)
    snapshots/<id>/duckmesh-index.json     the snapshot's files: path -> SHA-256 and size
    manifest.json                          the current snapshot's dbt manifest (dbt-loom's
                                           `s3` type reads a fixed key)
    current.json                           the pointer: which snapshot is current, the
                                           SHA-256 of its index, its product ports

The pointer is written LAST, so a reader that follows it sees the old snapshot or the new
one, never a mix. An interrupted upload leaves the pointer on the previous snapshot; the
next one skips every object already there with the right checksum.

``pull`` downloads the current snapshot into ``<dir>/snapshots/.tmp-<id>`` (files whose
SHA-256 equals a file of the local copy are linked from it, not downloaded), checks
every file against the index, renames the folder and switches ``<dir>/current`` with one
rename: the local copy has the layout of ``published/``.

Credentials and the endpoint come from the standard AWS variables or profile
(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE, AWS_ENDPOINT_URL, AWS_REGION),
read by boto3, never from the repository.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from duckmesh.catalog.store import contracts_dir
from duckmesh.core.output import console
from duckmesh.core.project import Mesh, MeshError
from duckmesh.publish import files, snapshots, verify

INDEX = "duckmesh-index.json"
POINTER = "current.json"
MANIFEST = "manifest.json"
PUBLISH_RECORD = "publish.json"
INSTALL_HINT = ("pip install -c constraints.txt -e '.[s3]' (`make s3`; a consumer without the "
                "repository: pip install 'duckmesh[s3]')")
CHUNK = 1 << 20


@dataclass(frozen=True)
class Location:
    """``s3://bucket/prefix``."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, url: str) -> Location:
        if not url.startswith("s3://"):
            raise MeshError(f"{url!r} is not an object store URL: write s3://BUCKET/PREFIX")
        bucket, _, prefix = url[len("s3://"):].partition("/")
        if not bucket:
            raise MeshError(f"{url!r} names no bucket: write s3://BUCKET/PREFIX")
        return cls(bucket, prefix.strip("/"))

    def key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)

    def url(self, *parts: str) -> str:
        return f"s3://{self.bucket}/{self.key(*parts)}"

    def __str__(self) -> str:
        return self.url()


def is_store(source: str) -> bool:
    return source.startswith("s3://")


def b64(hex_digest: str) -> str:
    """S3's form of a SHA-256 (base64 of the digest)."""
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


# -- the client and its errors, each one line with the fix -------------------------------

def client() -> Any:
    """An S3 client from the standard AWS configuration (variables or profile)."""
    try:
        import boto3  # noqa: PLC0415 (the optional s3 extra)
        from botocore.config import Config  # noqa: PLC0415
    except ImportError:
        raise MeshError(f"s3:// needs boto3, which is not installed: {INSTALL_HINT}") from None
    config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5,
                    read_timeout=60)
    return boto3.session.Session().client("s3", config=config)


def _bx() -> Any:
    """botocore's exceptions (botocore comes with boto3, the optional s3 extra)."""
    from botocore import exceptions  # noqa: PLC0415

    return exceptions


def _code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str((response.get("Error") or {}).get("Code") or "")


CREDENTIAL_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403",
                    "ExpiredToken", "InvalidToken", "InvalidClientTokenId"}


@contextmanager
def errors(s3: Any, location: Location, state: Callable[[], str]) -> Iterator[None]:
    """Translate boto3's errors into one line naming the thing and the fix; ``state``
    says what is left as it was (the store's current snapshot, the local copy)."""
    bx = _bx()
    endpoint = getattr(getattr(s3, "meta", None), "endpoint_url", None) or "AWS"
    try:
        yield
    except MeshError:
        raise
    except (bx.NoCredentialsError, bx.PartialCredentialsError) as error:
        raise MeshError(f"no AWS credentials for {location} ({error}): set AWS_ACCESS_KEY_ID "
                        "and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (never in the repository); "
                        f"{state()}") from None
    except (bx.EndpointConnectionError, bx.ConnectionClosedError, bx.ReadTimeoutError,
            bx.ConnectTimeoutError) as error:
        raise MeshError(f"the store at {endpoint} stopped answering ({type(error).__name__}): "
                        f"{state()}; run the same command again when it is back "
                        "(AWS_ENDPOINT_URL names a non-AWS endpoint)") from None
    except bx.ClientError as error:
        code = _code(error)
        if code in ("NoSuchBucket",) or (code in ("404", "NotFound")
                                         and "Bucket" in str(error)):
            raise MeshError(f"bucket {location.bucket} does not exist at {endpoint}: create it "
                            f"(aws s3 mb s3://{location.bucket}) or fix the URL; "
                            f"{state()}") from None
        if code in CREDENTIAL_CODES:
            raise MeshError(f"the store at {endpoint} refused the credentials for {location} "
                            f"({code}): check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
                            f"AWS_PROFILE, and the bucket's policy; {state()}") from None
        raise MeshError(f"{location}: the store answered {code or type(error).__name__} "
                        f"({error}); {state()}") from None


def check_bucket(s3: Any, location: Location) -> None:
    """Credentials and bucket, before anything is written (head_bucket says 404, not
    NoSuchBucket)."""
    ClientError = _bx().ClientError
    try:
        s3.head_bucket(Bucket=location.bucket)
    except ClientError as error:
        if _code(error) in ("404", "NoSuchBucket", "NotFound"):
            raise ClientError({"Error": {"Code": "NoSuchBucket", "Message": "Bucket"}},
                              "HeadBucket") from None
        raise


def read_json(s3: Any, location: Location, *parts: str) -> tuple[dict, str] | None:
    """A JSON object of the store and its SHA-256 (None: no such key)."""
    ClientError = _bx().ClientError
    try:
        body = s3.get_object(Bucket=location.bucket, Key=location.key(*parts))["Body"].read()
    except ClientError as error:
        if _code(error) in ("NoSuchKey", "404"):
            return None
        raise
    return json.loads(body), hashlib.sha256(body).hexdigest()


def _put_bytes(s3: Any, location: Location, key: str, body: bytes) -> None:
    s3.put_object(Bucket=location.bucket, Key=key, Body=body, ChecksumAlgorithm="SHA256",
                  ChecksumSHA256=b64(hashlib.sha256(body).hexdigest()))


def _remote_sha256(s3: Any, location: Location, key: str) -> tuple[str | None, int | None]:
    """The SHA-256 (S3's base64 form) and size the store holds for ``key``."""
    ClientError = _bx().ClientError
    try:
        head = s3.head_object(Bucket=location.bucket, Key=key, ChecksumMode="ENABLED")
    except ClientError as error:
        if _code(error) in ("404", "NoSuchKey", "NotFound"):
            return None, None
        raise
    return head.get("ChecksumSHA256"), head.get("ContentLength")


# -- upload --------------------------------------------------------------------------------

@dataclass
class Uploaded:
    snapshot: str
    location: Location
    uploaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    copied: list[str] = field(default_factory=list)  # from the previous snapshot, in the store
    bytes_uploaded: int = 0
    already_current: bool = False


def snapshot_files(mesh: Mesh, pub: Path, snapshot: str) -> dict[str, Path]:
    """Every file of a verified snapshot (relative path in the store -> local file): the
    snapshot folder (database, manifest, ports, consumer files, packages, publish.json)
    and the contracts and descriptors the catalog wrote for the build that published or
    last confirmed it (target/catalog/contracts, under ``contracts/``)."""
    root = pub / "snapshots" / snapshot
    found = {path.relative_to(root).as_posix(): path
             for path in sorted(root.rglob("*")) if path.is_file()}
    contracts = contracts_dir(mesh)
    verified = snapshots.read_verified(pub)
    built = _invocation(mesh.manifest_path)
    if contracts.is_dir() and verified.get("snapshot") == snapshot \
            and built is not None and verified.get("invocation_id") == built:
        found.update({f"contracts/{path.relative_to(contracts).as_posix()}": path
                      for path in sorted(contracts.rglob("*")) if path.is_file()})
    else:
        console().warn(f"      contracts not shared: {contracts} is not from the build that "
                       f"published or confirmed snapshot {snapshot} (run `duckmesh build`)",
                       err=False)
    return found


def _invocation(manifest: Path) -> str | None:
    try:
        with manifest.open() as handle:
            return json.load(handle)["metadata"]["invocation_id"]
    except (OSError, ValueError, KeyError):
        return None


def _upload_order(path: str) -> tuple[int, str]:
    """Ports and packages first, the database and the records last."""
    last = {"mesh.duckdb": 1, MANIFEST: 2, PUBLISH_RECORD: 3}
    return last.get(path, 0), path


def upload(mesh: Mesh, location: Location,
           after_file: Callable[[str], None] | None = None) -> Uploaded:
    """Upload the current snapshot of ``published/`` to ``location``; the pointer last.
    ``after_file`` is called after each file (the tests stop the store there)."""
    pub = snapshots.published_dir(mesh)
    snapshot = snapshots.current_snapshot(pub)
    if snapshot is None:
        raise MeshError("nothing published yet: run `duckmesh build`, then `duckmesh publish "
                        f"--to {location}`")
    root = pub / "snapshots" / snapshot
    record = snapshots.read_record(root)
    paths = snapshot_files(mesh, pub, snapshot)
    digests = {rel: verify.sha256(path) for rel, path in paths.items()}
    recorded = record.get("files") or {}
    damaged = sorted(rel for rel, digest in recorded.items() if digests.get(rel) != digest)
    if damaged:
        raise MeshError(f"snapshot {snapshot} is damaged ({', '.join(damaged)} not as published): "
                        "nothing uploaded; `duckmesh publish --verify` says more, "
                        "`duckmesh publish --force` writes a new snapshot")
    s3 = client()
    done = Uploaded(snapshot, location)
    previous: list[str | None] = []  # the store's current snapshot, once read

    def state() -> str:
        if not previous:
            return "nothing was uploaded, the store is as it was"
        kept = (f"snapshot {previous[0]} stays current in the store" if previous[0]
                else "the store has no current snapshot yet")
        there = len(done.uploaded) + len(done.skipped) + len(done.copied)
        return (f"{kept} ({there} of {len(paths)} files of "
                f"{snapshot} are there; the next upload skips them)")

    total = sum(path.stat().st_size for path in paths.values())
    with errors(s3, location, state), \
            console().progress(f"sharing {snapshot}", total) as bar:
        check_bucket(s3, location)
        found = read_json(s3, location, POINTER)
        previous.append(found[0].get("snapshot") if found else None)
        in_store = _previous_objects(s3, location, found[0] if found else None)
        for rel in sorted(paths, key=_upload_order):
            key = location.key("snapshots", snapshot, rel)
            size = paths[rel].stat().st_size
            wanted = (b64(digests[rel]), size)
            if _remote_sha256(s3, location, key) == wanted:
                done.skipped.append(rel)
                continue_with = "skipped"
            else:  # the same bytes in the store's current snapshot: copied there
                continue_with = "upload"
                source = in_store.get(digests[rel])
                if source is not None and source != key:
                    s3.copy_object(Bucket=location.bucket, Key=key, ChecksumAlgorithm="SHA256",
                                   CopySource={"Bucket": location.bucket, "Key": source})
                    if _remote_sha256(s3, location, key) == wanted:
                        done.copied.append(rel)
                        continue_with = "copied"
            if continue_with == "upload":  # sent (again: a damaged copy is replaced)
                with paths[rel].open("rb") as body:
                    s3.put_object(Bucket=location.bucket, Key=key, Body=body,
                                  ChecksumAlgorithm="SHA256", ChecksumSHA256=b64(digests[rel]))
                done.uploaded.append(rel)
                done.bytes_uploaded += size
            bar.advance(size)
            if after_file is not None:
                after_file(rel)
        index = {"snapshot": snapshot, "invocation_id": record.get("invocation_id"),
                 "published_at": record.get("published_at"),
                 "files": {rel: {"sha256": digests[rel], "size": paths[rel].stat().st_size}
                           for rel in sorted(paths)}}
        index_body = (json.dumps(index, indent=2, sort_keys=True) + "\n").encode()
        _put_bytes(s3, location, location.key("snapshots", snapshot, INDEX), index_body)
        _put_bytes(s3, location, location.key(MANIFEST), paths[MANIFEST].read_bytes())
        databases = databases_of(json.loads(paths[MANIFEST].read_text()))
        pointer = {"snapshot": snapshot, "index": f"snapshots/{snapshot}/{INDEX}",
                   "index_sha256": hashlib.sha256(index_body).hexdigest(),
                   "published_at": record.get("published_at"),
                   "uploaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
                   "products": [{"relation": relation, "port": verify.port_file(entry),
                                 "database": databases.get(relation, "mesh")}
                                for relation, entry in sorted(record["products"].items())]}
        done.already_current = previous == [snapshot]
        # the commit point: readers that follow the pointer switch here
        _put_bytes(s3, location, location.key(POINTER),
                   (json.dumps(pointer, indent=2, sort_keys=True) + "\n").encode())
    return done


def _previous_objects(s3: Any, location: Location, pointer: dict | None) -> dict[str, str]:
    """SHA-256 -> key of each object of the store's current snapshot, from its index: a
    file with the same bytes is copied inside the store instead of uploaded again."""
    if not pointer:
        return {}
    found = read_json(s3, location, pointer["index"])
    if found is None or found[1] != pointer.get("index_sha256"):
        return {}
    return {entry["sha256"]: location.key("snapshots", pointer["snapshot"], rel)
            for rel, entry in found[0]["files"].items()}


def databases_of(manifest: dict) -> dict[str, str]:
    """The database the manifest records for each public product version (relation
    ``schema.alias`` -> database): the aliases a consumer attaches the published database
    as. One name after a mesh build ("mesh"); a domain publish (`duckmesh ci --domain`)
    records its own products under its workspace's ("build")."""
    found = {f"{node['schema']}.{node['alias']}": node["database"]
             for node in manifest.get("nodes", {}).values()
             if node.get("resource_type") == "model" and node.get("access") == "public"}
    if not found:
        raise MeshError("the manifest has no public products: publish again with "
                        "`duckmesh build`")
    return found


# -- pull ------------------------------------------------------------------------------------

@dataclass
class Pulled:
    snapshot: str
    folder: Path
    downloaded: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    bytes_downloaded: int = 0
    bytes_reused: int = 0
    up_to_date: bool = False


def _local_index(folder: Path, snapshot: str | None) -> dict[str, dict]:
    if snapshot is None:
        return {}
    try:
        return json.loads((folder / "snapshots" / snapshot / INDEX).read_text())["files"]
    except (OSError, ValueError, KeyError):
        return {}


def pull(location: Location, folder: Path, keep: int = 2) -> Pulled:
    """Make ``folder`` a verified local copy of the store's current snapshot; download
    only the files whose SHA-256 no file of the local copy has."""
    if keep < 1:
        raise MeshError(f"--keep must be 1 or more, got {keep}")
    folder = folder.resolve()
    if (folder / snapshots.VERIFIED).exists():
        raise MeshError(f"{folder} is a mesh's own published/ folder (it has "
                        f"{snapshots.VERIFIED}): pull into another folder")
    s3 = client()
    folder.mkdir(parents=True, exist_ok=True)
    for name in snapshots.recover(folder):
        console().step(f"      removed {name}, left by an interrupted pull")
    local = snapshots.current_snapshot(folder)
    work: list[Path] = []

    def state() -> str:
        return (f"{folder} still holds snapshot {local}" if local
                else f"nothing was pulled into {folder}")

    try:
        return _pull(s3, location, folder, local, keep, work, state)
    except BaseException:
        for leftover in work:
            shutil.rmtree(leftover, ignore_errors=True)
        raise


def _pull(s3: Any, location: Location, folder: Path, local: str | None, keep: int,
          work: list[Path], state: Callable[[], str]) -> Pulled:
    with errors(s3, location, state):
        check_bucket(s3, location)
        found = read_json(s3, location, POINTER)
        if found is None:
            raise MeshError(f"nothing shared at {location}: no {POINTER}; publish there with "
                            f"`duckmesh publish --to {location}`; {state()}")
        pointer = found[0]
        snapshot = pointer["snapshot"]
        indexed = read_json(s3, location, pointer["index"])
        if indexed is None or indexed[1] != pointer.get("index_sha256"):
            problem = "is missing" if indexed is None else "is damaged (SHA-256 differs)"
            raise MeshError(f"{location.url(pointer['index'])} {problem}: the store's current "
                            f"snapshot {snapshot} is incomplete; publish again with "
                            f"`duckmesh publish --to {location}`; {state()}")
        index = indexed[0]["files"]
        done = Pulled(snapshot, folder)
        if local == snapshot:
            damage = _local_damage(folder / "snapshots" / snapshot, index)
            if not damage:
                done.up_to_date = True
                done.reused = sorted(index)
                return done
            console().warn(f"      the local copy of {snapshot} is damaged "
                           f"({'; '.join(damage[:3])}): pulled again", err=False)
        have = _local_files(folder, local)
        target = folder / "snapshots" / f".tmp-{snapshot}"
        work.append(target)
        target.mkdir(parents=True)
        with console().progress(f"pulling {snapshot}",
                                sum(entry["size"] for entry in index.values())) as bar:
            for rel, entry in sorted(index.items()):
                path = target / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                source = have.get(entry["sha256"])
                if source is not None and verify.sha256(source) == entry["sha256"]:
                    files.link_file(source, path)
                    done.reused.append(rel)
                    done.bytes_reused += entry["size"]
                    bar.advance(entry["size"])
                    continue
                _download(s3, location, f"snapshots/{snapshot}/{rel}", path, entry, state)
                done.downloaded.append(rel)
                done.bytes_downloaded += entry["size"]
                bar.advance(entry["size"])
        (target / INDEX).write_bytes(json.dumps(indexed[0], indent=2, sort_keys=True).encode()
                                     + b"\n")
    record = snapshots.read_record(target)
    final = folder / "snapshots" / snapshot
    damaged = folder / "snapshots" / f".tmp-damaged-{snapshot}"
    if final.exists():  # a damaged local copy of the same snapshot: replaced
        os.rename(final, damaged)
    os.rename(target, final)
    shutil.rmtree(damaged, ignore_errors=True)
    snapshots.stable_links(folder, {e["domain"] for e in record["products"].values()})
    snapshots.link(f"snapshots/{snapshot}", folder / "current")  # the commit point
    snapshots.prune(folder, keep)
    return done


def _local_files(folder: Path, snapshot: str | None) -> dict[str, Path]:
    """SHA-256 -> a file of the local copy's current snapshot with it (from its index)."""
    root = folder / "snapshots" / snapshot if snapshot else None
    return {entry["sha256"]: root / rel for rel, entry in _local_index(folder, snapshot).items()
            if root is not None and (root / rel).is_file()}


def _local_damage(root: Path, index: dict[str, dict]) -> list[str]:
    problems = []
    for rel, entry in sorted(index.items()):
        if not (root / rel).is_file():
            problems.append(f"{rel} is missing")
        elif verify.sha256(root / rel) != entry["sha256"]:
            problems.append(f"{rel} changed")
    return problems


def _download(s3: Any, location: Location, rel: str, path: Path, entry: dict,
              state: Callable[[], str]) -> None:
    """One object into ``path``, its SHA-256 checked against the snapshot's index."""
    ClientError, FlexibleChecksumError = _bx().ClientError, _bx().FlexibleChecksumError
    url = location.url(rel)
    damaged = (f"{url} is damaged: its SHA-256 is not the one the snapshot's index records; "
               f"publish again with `duckmesh publish --to {location}` (it uploads the object "
               "again)")
    try:
        response = s3.get_object(Bucket=location.bucket, Key=location.key(rel),
                                 ChecksumMode="ENABLED")
    except ClientError as error:
        if _code(error) in ("NoSuchKey", "404"):
            raise MeshError(f"{url} is missing: the store's current snapshot is incomplete (its "
                            f"pointer names objects that are not there); publish again with "
                            f"`duckmesh publish --to {location}`; {state()}") from None
        raise
    digest = hashlib.sha256()
    try:
        with path.open("wb") as out:
            for chunk in response["Body"].iter_chunks(CHUNK):
                digest.update(chunk)
                out.write(chunk)
    except FlexibleChecksumError:
        raise MeshError(f"{damaged}; {state()}") from None
    if digest.hexdigest() != entry["sha256"]:
        raise MeshError(f"{damaged}; {state()}")
