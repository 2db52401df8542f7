"""Sharing through an object store (docs/sharing.md): upload (`duckmesh publish --to`) and
pull (`duckmesh pull`) of one verified snapshot to and from moto's S3 server on this
machine, each against copying the same files locally (side by side, as a ratio; medians
of --repeat runs, each to a fresh prefix or folder); then one domain changes
(customer_service's tickets lose their last 1% of lines, `duckmesh ci --domain
customer_service` publishes its products alone) and the next upload and pull move only
the files whose SHA-256 changed: bytes moved against a full pull.

Needs moto and boto3 (the test and s3 extras: make test installs them)."""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path

from benchmarks.bench_common import (
    Figure,
    add_standard_arguments,
    median,
    run_standard,
    timed,
    work_copy,
)
from duckmesh.core.project import Mesh, MeshError, Settings

CHANGED_DOMAIN = "customer_service"
CHANGED_FILE = Path("support") / "tickets.jsonl"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_standard_arguments(parser, 3, "uploads, pulls and copies")


def run(args: argparse.Namespace) -> int:
    return run_standard(args, "share", measure)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _duckmesh(root: Path, env: dict[str, str], *args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "duckmesh.cli", "--project-dir", str(root),
                             *args], cwd=root, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise MeshError(f"duckmesh {' '.join(args)} failed for the share benchmark:\n"
                        f"{result.stdout[-3000:]}\n{result.stderr[-2000:]}")
    return result.stdout


def measure(mesh: Mesh, scale: float, repeat: int, work: Path | None = None
            ) -> tuple[list[Figure], dict]:
    try:
        import boto3
        from moto.server import ThreadedMotoServer
    except ImportError:
        raise MeshError("bench share needs moto and boto3: pip install -c constraints.txt "
                        "-e '.[test,s3]' (make test installs them)") from None
    from duckmesh.sharing import store

    with work_copy(mesh, scale, work) as (copy, data_dir), \
            tempfile.TemporaryDirectory(prefix="duckmesh-share-") as scratch:
        tmp = Path(scratch)
        data = tmp / "data"  # the benchmark changes one source file: its own copy
        shutil.copytree(data_dir, data)
        port = _free_port()
        endpoint = f"http://127.0.0.1:{port}"
        # the commands run as a user runs them: fresh processes with the AWS variables
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
               "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint,
               "AWS_EC2_METADATA_DISABLED": "true",
               "DUCKMESH_DB": str(copy.root / "mesh.duckdb"), "DUCKMESH_DATA": str(data)}
        _duckmesh(copy.root, env, "build", "--scale", f"{scale:g}")
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
        server.start()
        try:
            boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                         aws_access_key_id="bench", aws_secret_access_key="bench",
                         ).create_bucket(Bucket="bench")
            built = Mesh(copy.root, Settings(db=copy.root / "mesh.duckdb", data=data))
            snapshot_dir = copy.root / "published" / "current"
            files = store.snapshot_files(built, copy.root / "published",
                                         os.readlink(snapshot_dir).rsplit("/", 1)[-1])
            size = sum(path.stat().st_size for path in files.values())

            def copy_locally(target: Path) -> None:
                for rel, path in files.items():
                    (target / rel).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(path, target / rel)

            def command(*args: str) -> str:
                return _duckmesh(copy.root, env, *args)

            uploads, pulls, copies = [], [], []
            for index in range(repeat):
                url = f"s3://bench/full-{index}"
                uploads.append(timed(partial(command, "publish", "--to", url))[1])
                pulls.append(timed(partial(command, "pull", url, str(tmp / f"pull-{index}")))[1])
                copies.append(timed(partial(copy_locally, tmp / f"local-{index}"))[1])
            upload, pull, local = median(uploads), median(pulls), median(copies)

            # one domain changes; the consumer's copy (pull-0) follows it
            source = data / CHANGED_FILE
            lines = source.read_text().splitlines(keepends=True)
            source.write_text("".join(lines[:len(lines) - max(1, len(lines) // 100)]))
            command("ci", "--domain", CHANGED_DOMAIN, "--scale", f"{scale:g}")
            shared, upload_changed = timed(partial(command, "publish", "--to", "s3://bench/full-0"))
            _, pull_changed = timed(partial(command, "pull", "s3://bench/full-0",
                                            str(tmp / "pull-0")))
            # downloaded: the files of the new snapshot that are not links to the old one's
            current = (tmp / "pull-0" / "current").resolve()
            sizes = {p.relative_to(current).as_posix(): p.stat().st_size
                     for p in current.rglob("*") if p.is_file() and p.stat().st_nlink == 1}
            moved = sum(sizes.values())
            whole = sum(p.stat().st_size for p in current.rglob("*") if p.is_file())
            ports = sum(p.stat().st_size for p in (current / "ports").rglob("*.parquet"))
        finally:
            server.stop()
    sent = re.search(r"(\d+) files uploaded \(([\d.,]+) MB\)(?:, (\d+) copied)?", str(shared))
    sent_files, sent_mb, copied = (sent.group(1), sent.group(2), sent.group(3) or "0") \
        if sent else ("?", "?", "?")
    ports_changed = sum(size for rel, size in sizes.items() if rel.startswith("ports/"))
    tag = f"scale {scale:g}"
    full_mb = size / 1e6
    moved_mb = moved / 1e6
    figures = [
        Figure("share", f"{tag}: upload to moto S3 ({len(files)} files, {full_mb:,.0f} MB)",
               upload, samples=uploads),
        Figure("share", f"{tag}: pull from moto S3 into a new folder", pull, samples=pulls),
        Figure("share", f"{tag}: copy the same files locally", local, samples=copies),
        Figure("share", f"{tag}: upload / local copy", upload / local, unit="x"),
        Figure("share", f"{tag}: pull / local copy", pull / local, unit="x"),
        Figure("share", f"{tag}: after a {CHANGED_DOMAIN} change, upload",
               upload_changed, note=f"{sent_files} files ({sent_mb} MB) sent, {copied} "
               "copied in the store"),
        Figure("share", f"{tag}: after a {CHANGED_DOMAIN} change, pull", pull_changed,
               note=f"{moved_mb:,.1f} of {full_mb:,.0f} MB downloaded"),
        Figure("share", f"{tag}: bytes pulled after the change / a full pull",
               100 * moved / max(1, whole), unit="%",
               note=f"mesh.duckdb {sizes.get('mesh.duckdb', 0) / 1e6:,.1f} MB of it"),
        Figure("share", f"{tag}: changed ports / all ports (a reader of the ports)",
               100 * ports_changed / max(1, ports), unit="%",
               note=f"{ports_changed / 1e6:,.1f} of {ports / 1e6:,.1f} MB"),
    ]
    details = {"scale": scale, "files": len(files), "bytes": size, "upload_s": uploads,
               "pull_s": pulls, "local_copy_s": copies,
               "changed": {"upload_s": upload_changed, "upload_output": str(shared).strip(),
                           "pull_s": pull_changed, "bytes_downloaded": moved,
                           "bytes_snapshot": whole, "downloaded": sizes,
                           "ports_bytes": ports}}
    return figures, details
