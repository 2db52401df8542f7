"""The bad-input probe: every kind of broken source file, one build each.

A mesh is built once at scale 0.01 and published; each probe then works on a clone of
it: it breaks one source file (CSV: crm/customers.csv, JSON lines: support/tickets.jsonl,
Parquet: sales/orders/orders_0001.parquet) in one way, runs `duckmesh build` and
reports:

    probe      format and damage
    outcome    quarantined (rows set aside, the rest published), stopped (the run
               ended before dbt), held back (failed tests or quality gates kept the
               previous versions), drift reported (an added column, allowed by the
               contract), published (nothing to set aside), TRACEBACK
    published  the product versions published by the probe's build
    intact     the published data: `same` (every recorded checksum as before the
               probe), `verified` (a new snapshot that reads back as recorded) or DAMAGED
    violations published rows against a declared expectation (quality gates re-run on
               published/mesh.duckdb): must be 0
    message    the line of the build's output that says what happened

The goal: every probe quarantined or stopped with a clear message, 0 tracebacks, 0
violations. Then the trust cases (benchmarks/probe_trust.py: the salt, file
modes, the query sandbox, bad command-line input), each "handled well" or its bad class,
with their counts. Run it with `duckmesh bench probe` or `python -m benchmarks.probe`
(`--set data` or `--set trust` for one part).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from benchmarks import probe_trust
from duckmesh.core.output import format_table
from duckmesh.core.products import public_products
from duckmesh.core.project import find_mesh
from duckmesh.publish import gates, snapshots, verify

SCALE = "0.01"
CSV = "crm/customers.csv"
JSONL = "support/tickets.jsonl"
PARQUET = "sales/orders/orders_0001.parquet"
SPEND = "marketing/campaign_spend.csv"
LINES = "sales/order_lines/order_lines_0001.parquet"
TEN_MB = 10 * 1024 * 1024


# -- damage, one function per kind ----------------------------------------------------

def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def _every(lines: list[bytes], step: int, change: Callable[[bytes], bytes]) -> list[bytes]:
    """``change`` applied to every ``step``-th data line (the first line kept)."""
    return [change(line) if i and i % step == 0 else line for i, line in enumerate(lines)]


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.45)])


def corrupt_text(path: Path) -> None:
    data = path.read_bytes()
    middle = len(data) // 2
    path.write_bytes(data[:middle] + random.Random(18).randbytes(300) + data[middle:])


def cut_at(fraction: float, at_line_end: bool = False) -> Callable[[Path], None]:
    """The first ``fraction`` of the file's bytes (up to the line end before, if asked)."""
    def cut(path: Path) -> None:
        data = path.read_bytes()
        end = int(len(data) * fraction)
        path.write_bytes(data[: data.rfind(b"\n", 0, end) + 1 if at_line_end else end])
    return cut


def random_bytes(fraction: float, size: int, seed: int) -> Callable[[Path], None]:
    """``size`` random bytes written over the file at ``fraction`` of its length."""
    def change(path: Path) -> None:
        data = bytearray(path.read_bytes())
        start = int(len(data) * fraction)
        data[start:start + size] = random.Random(seed).randbytes(size)
        path.write_bytes(bytes(data))
    return change


def corrupt_parquet(path: Path) -> None:
    data = path.read_bytes()
    middle = len(data) // 2
    path.write_bytes(data[:middle] + random.Random(18).randbytes(300) + data[middle + 300:])


def empty(path: Path) -> None:
    path.write_bytes(b"")


def header_only(path: Path) -> None:
    path.write_bytes(_lines(path)[0])


def wrong_encoding(path: Path) -> None:
    path.write_bytes(path.read_text(encoding="utf-8").encode("utf-16"))


def csv_columns(rename: dict[str, str] | None = None, add: bool = False,
                remove: str | None = None) -> Callable[[Path], None]:
    def change(path: Path) -> None:
        rows = [line.decode().rstrip("\n").split(";") for line in _lines(path)]
        header = rows[0]
        if remove:
            index = header.index(remove)
            rows = [r[:index] + r[index + 1:] for r in rows]
        if add:
            rows = [r + (["CHANNEL"] if i == 0 else ["web"]) for i, r in enumerate(rows)]
        rows[0] = [(rename or {}).get(h, h) for h in rows[0]]
        path.write_text("".join(";".join(r) + "\n" for r in rows))
    return change


def csv_retype(path: Path) -> None:
    lines = _lines(path)
    path.write_bytes(lines[0] + b"".join(
        line.replace(b";Y;", b";yes;").replace(b";N;", b";no;").replace(b"/20", b"/") for line in lines[1:]))


def csv_null_keys(path: Path) -> None:  # 1% blank keys: under crm.customers' 5% limit
    path.write_bytes(b"".join(_every(_lines(path), 100, lambda line: line[line.index(b";"):])))


def csv_duplicates(path: Path) -> None:
    lines = _lines(path)
    path.write_bytes(b"".join(lines + lines[1: 1 + len(lines) // 100]))


def csv_big_field(path: Path) -> None:
    path.write_bytes(path.read_bytes() + b"C09999999;" + b"x" * TEN_MB
                     + b";Lee;ann@example.com;+49 1;DE;consumer;01/01/2024;Y;2025-01-01 00:00:00\n")


def csv_far_future(path: Path) -> None:
    path.write_bytes(b"".join(_every(_lines(path), 100, lambda line: line.replace(
        line.split(b";")[7], b"31/12/9999"))))


def jsonl_map(change: Callable[[dict], dict]) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        documents = [json.loads(line) for line in _lines(path)]
        path.write_text("".join(json.dumps(change(d)) + "\n" for d in documents))
    return apply


def jsonl_every(step: int, change: Callable[[dict], dict]) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        documents = [json.loads(line) for line in _lines(path)]
        path.write_text("".join(json.dumps(change(d) if i % step == 0 else d) + "\n"
                                for i, d in enumerate(documents)))
    return apply


def _renamed(document: dict, old: str, new: str) -> dict:
    return {new if k == old else k: v for k, v in document.items()}


def jsonl_duplicates(path: Path) -> None:
    lines = _lines(path)
    path.write_bytes(b"".join(lines + lines[: len(lines) // 100]))


def jsonl_big_field(path: Path) -> None:
    document = json.loads(_lines(path)[0])
    document.update(ticket_id="T999999999", category="x" * TEN_MB)
    path.write_bytes(path.read_bytes() + json.dumps(document).encode() + b"\n")


def parquet_sql(select: str) -> Callable[[Path], None]:
    """Rewrite the file as ``select`` over its rows (``t``)."""
    def change(path: Path) -> None:
        temporary = path.with_name(".probe.parquet")
        con = duckdb.connect()
        try:
            con.execute(f"copy ({select.format(t=f'read_parquet({str(path)!r})')}) "
                        f"to '{temporary}' (format parquet)")
        finally:
            con.close()
        os.replace(temporary, path)
    return change


def not_parquet(path: Path) -> None:
    path.write_text("order_id,customer_id\n1,C00000001\n")


@dataclass(frozen=True)
class Probe:
    name: str
    file: str
    damage: Callable[[Path], object]  # what it returns (bytes written) is not used
    # keep the producer manifest the generator writes (bytes, rows, SHA-256 of each file):
    # by default a probe removes it, so the checks of the content itself are probed
    manifest: bool = False


PROBES: tuple[Probe, ...] = (
    Probe("csv truncated", CSV, truncate),
    Probe("csv corrupt (300 random bytes)", CSV, corrupt_text),
    Probe("csv empty", CSV, empty),
    Probe("csv header only", CSV, header_only),
    Probe("csv renamed column", CSV, csv_columns(rename={"SEGMENT": "SEGMENT_CODE"})),
    Probe("csv added column", CSV, csv_columns(add=True)),
    Probe("csv removed column", CSV, csv_columns(remove="OPT_IN")),
    Probe("csv retyped columns", CSV, csv_retype),
    Probe("csv null keys (1%)", CSV, csv_null_keys),
    Probe("csv duplicate keys (1%)", CSV, csv_duplicates),
    Probe("csv 10 MB field", CSV, csv_big_field),
    Probe("csv far-future dates (1%)", CSV, csv_far_future),
    Probe("csv wrong encoding (UTF-16)", CSV, wrong_encoding),
    Probe("jsonl truncated", JSONL, truncate),
    Probe("jsonl corrupt (300 random bytes)", JSONL, corrupt_text),
    Probe("jsonl empty", JSONL, empty),
    Probe("jsonl renamed column", JSONL, jsonl_map(lambda d: _renamed(d, "opened_at", "opened"))),
    Probe("jsonl added column", JSONL, jsonl_map(lambda d: {**d, "agent": "a1"})),
    Probe("jsonl removed column", JSONL, jsonl_map(
        lambda d: {k: v for k, v in d.items() if k != "priority"})),
    Probe("jsonl retyped column", JSONL, jsonl_map(lambda d: {**d, "order_id": "n/a"})),
    Probe("jsonl null keys (1%)", JSONL, jsonl_every(100, lambda d: {**d, "ticket_id": None})),
    Probe("jsonl duplicate keys (1%)", JSONL, jsonl_duplicates),
    Probe("jsonl 10 MB field", JSONL, jsonl_big_field),
    Probe("jsonl far-future dates (1%)", JSONL, jsonl_every(
        100, lambda d: {**d, "opened_at": "9999-12-31T00:00:00Z"})),
    Probe("jsonl wrong encoding (UTF-16)", JSONL, wrong_encoding),
    Probe("parquet truncated", PARQUET, truncate),
    Probe("parquet corrupt (300 bytes mid-file)", PARQUET, corrupt_parquet),
    Probe("parquet empty file", PARQUET, empty),
    Probe("parquet header only (0 rows)", PARQUET, parquet_sql("select * from {t} limit 0")),
    Probe("parquet renamed column", PARQUET, parquet_sql(
        "select * rename (ordered_at as order_time) from {t}")),
    Probe("parquet added column", PARQUET, parquet_sql("select *, 'x' as note from {t}")),
    Probe("parquet removed column", PARQUET, parquet_sql("select * exclude (status) from {t}")),
    Probe("parquet retyped column", PARQUET, parquet_sql(
        "select * replace (order_id::varchar as order_id) from {t}")),
    Probe("parquet null keys (1%)", PARQUET, parquet_sql(
        "select * replace (case when order_id % 100 = 0 then null else order_id end "
        "as order_id) from {t}")),
    Probe("parquet duplicate rows (1%)", PARQUET, parquet_sql(
        "select * from {t} union all select * from {t} where order_id % 100 = 0")),
    Probe("parquet 10 MB field", PARQUET, parquet_sql(
        f"select * replace (case when order_id = 1 then repeat('x', {TEN_MB}) "
        "else channel end as channel) from {t}")),
    Probe("parquet far-future dates (1%)", PARQUET, parquet_sql(
        "select * replace (case when order_id % 100 = 0 then timestamptz '9999-12-31 "
        "00:00:00+00' else ordered_at end as ordered_at) from {t}")),
    Probe("parquet wrong format (CSV)", PARQUET, not_parquet),
    # damage that used to reach products
    Probe("parquet 64 random bytes at 10%", PARQUET, random_bytes(0.10, 64, 27)),
    Probe("parquet 64 random bytes at 10%, with its manifest", PARQUET,
          random_bytes(0.10, 64, 27), manifest=True),
    Probe("csv spend cut to 60%", SPEND, cut_at(0.60)),
    Probe("csv spend cut to 60% at a line end", SPEND, cut_at(0.60, at_line_end=True)),
    Probe("jsonl cut at 97%", JSONL, cut_at(0.97)),
    Probe("jsonl csat 99 and closed before opened (1%)", JSONL, jsonl_every(
        100, lambda d: {**d, "csat_score": 99, "closed_at": "2014-01-01T00:00:00Z"})),
    Probe("jsonl order_id as a string (1%)", JSONL, jsonl_every(
        100, lambda d: {**d, "order_id": str(d["order_id"])} if d.get("order_id") else d)),
    Probe("csv NUL in a segment (1%)", CSV, lambda path: path.write_bytes(b"".join(_every(
        _lines(path), 100, lambda line: line.replace(b";consumer;", b";cons\x00umer;"))))),
    Probe("csv byte order mark", CSV, lambda path: path.write_bytes(
        b"\xef\xbb\xbf" + path.read_bytes())),
    # the first two lines of every 200th order: about 0.3% of the lines
    Probe("parquet orphan order lines and negative quantities (0.3%)", LINES, parquet_sql(
        "select * replace (case when order_line_id % 2000 = 1 then order_id + 1000000 "
        "else order_id end as order_id, case when order_line_id % 2000 = 2 then -1 "
        "else quantity end as quantity) from {t}")),
    Probe("parquet blank customer ids (0.5%)", PARQUET, parquet_sql(
        "select * replace (case when order_id % 200 = 0 then '' else customer_id end "
        "as customer_id) from {t}")),
)


# -- running ------------------------------------------------------------------------------

def _duckmesh(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DUCKMESH_DB": str(root / "mesh.duckdb")}
    env.pop("DUCKMESH_DATA", None)
    return subprocess.run([sys.executable, "-m", "duckmesh.cli", "--project-dir", str(root),
                           *args], cwd=root, env=env, capture_output=True, text=True,
                          timeout=1800)


def clone(src: Path, dest: Path) -> Path:
    """A copy of a built mesh, dbt_packages' absolute links pointed at the copy."""
    shutil.copytree(src, dest, symlinks=True,
                    ignore=shutil.ignore_patterns("logs", "target"))
    shutil.copytree(src / "target", dest / "target", symlinks=True,
                    ignore=shutil.ignore_patterns("validated", "run"))
    packages = dest / "dbt_packages"
    for link in packages.iterdir() if packages.is_dir() else []:
        target = Path(os.readlink(link)) if link.is_symlink() else None
        if target is not None and target.is_absolute() and target.is_relative_to(src):
            link.unlink()
            link.symlink_to(dest / target.relative_to(src))
    return dest


def published_state(root: Path) -> tuple[str | None, dict[str, tuple[int, str]]]:
    pub = root / "published"
    current = snapshots.current_snapshot(pub)
    if current is None:
        return None, {}
    record = snapshots.read_record(pub / "snapshots" / current)
    return current, {r: (e["rows"], e["checksum"]) for r, e in record["products"].items()}


def violations(root: Path) -> int:
    """Published rows against a declared expectation: the quality gates' checks (min
    rows, null or blank keys, dates outside the window) on published/mesh.duckdb."""
    pub = root / "published"
    manifest = json.loads((pub / "manifest.json").read_text())
    today = datetime.now(UTC).date()
    found = 0
    con = duckdb.connect(str(pub / "mesh.duckdb"), read_only=True)
    try:
        for product in public_products(manifest):
            expected = gates.expectations(manifest["nodes"][product.unique_id], today)
            try:
                _, problems, *_ = gates.measure(con, product, expected)
            except duckdb.CatalogException:
                continue  # never published
            found += len(problems)
    finally:
        con.close()
    return found


def _message(result: subprocess.CompletedProcess) -> str:
    """The line that says what happened: a traceback, the source check or gate that
    stopped the run, the first product held back, else the last line."""
    lines = [line.strip() for line in (result.stderr + "\n" + result.stdout).splitlines()]
    keys = ("Traceback", "error: source ", "failed the quality gates",
            "not published (quality gate", "not published (tests failed",
            "not published (model", "error:", "quarantined ->", "schema drift")
    for key in keys:
        for line in lines:
            if key in line:
                return line
    return next((line for line in reversed(lines) if line), "")


def run_probe(base: Path, work: Path, probe: Probe) -> list[str]:
    root = clone(base, work / "probe")
    try:
        data = root / "data" / f"scale_{SCALE}"
        before_id, before = published_state(root)
        if not probe.manifest:
            (data / "_manifest.json").unlink(missing_ok=True)
        probe.damage(data / probe.file)
        result = _duckmesh(root, "build", "--scale", SCALE)
        after_id, after = published_state(root)
        text = result.stdout + result.stderr
        pub = root / "published"
        if after == before:
            intact = "same"
        elif after_id and not verify.snapshot_damage(
                pub / "snapshots" / after_id,
                snapshots.read_record(pub / "snapshots" / after_id)):
            intact = "verified"
        else:
            intact = "DAMAGED"
        new = {r for r, (rows, checksum) in after.items() if before.get(r) != (rows, checksum)}
        if "Traceback" in text:
            outcome = "TRACEBACK"
        elif "[3/4] dbt build" not in result.stdout:
            outcome = "stopped"
        else:
            found = [("quarantined", "quarantined ->"), ("held back", "not published ("),
                     ("drift reported", "schema drift in ")]
            outcome = ", ".join(name for name, key in found if key in text) or "published"
        return [probe.name, outcome, str(result.returncode), f"{len(new)} new", intact,
                str(violations(root)), _message(result)[:160]]
    finally:
        shutil.rmtree(root, ignore_errors=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--only", default="", help="run the probes whose name contains this "
                        "(several: separated by '|')")
    parser.add_argument("--work", type=Path, help="work folder (default: a temporary one)")
    parser.add_argument("--json", type=Path, help="also write the table as JSON here")
    parser.add_argument("--set", choices=("all", "data", "trust"), default="all",
                        help="the broken source files (data), the trust cases "
                             "(trust), or both (default)")


def run(args: argparse.Namespace) -> int:
    mesh = find_mesh(args.project_dir)
    probes = [p for p in PROBES if any(part in p.name for part in args.only.split("|"))]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="duckmesh-probe-") as tmp:
        work = Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        base = work / "base"
        if not (base / "published" / "current").exists():
            from benchmarks.bench_common import copy_project

            copy_project(mesh.root, base)
            built = _duckmesh(base, "build", "--scale", SCALE)
            if built.returncode != 0:
                print(built.stdout[-3000:], built.stderr[-3000:])
                return 1
        rows = []
        for probe in probes if args.set in ("all", "data") else []:
            rows.append(run_probe(base, work, probe))
            print(" | ".join(rows[-1]), flush=True)
        trust = probe_trust.run_cases(base, work, args.only) \
            if args.set in ("all", "trust") else []
    headers = ["probe", "outcome", "exit", "published", "intact", "violations", "message"]
    trust_headers = ["case", "area", "result", "exit", "message"]
    print()
    tracebacks = sum(r[1] == "TRACEBACK" for r in rows)
    damaged = sum(r[4] == "DAMAGED" for r in rows)
    wrong = sum(int(r[5]) for r in rows)
    if rows:
        print(format_table(headers, rows))
        print(f"\n{len(rows)} probes: {tracebacks} tracebacks, {damaged} damaged publishes, "
              f"{wrong} published expectation violations")
    if trust:
        print(("\n" if rows else "") + format_table(trust_headers, trust))
        print(f"\ntrust: {probe_trust.counts(trust)}")
    print(f"in {time.perf_counter() - started:.0f}s")
    if args.json:
        args.json.write_text(json.dumps(
            {"data": [dict(zip(headers, r)) for r in rows],
             "trust": [dict(zip(trust_headers, r)) for r in trust]}, indent=2))
    bad_trust = sum(r[2] != probe_trust.GOOD for r in trust)
    return 1 if tracebacks or damaged or wrong or bad_trust else 0


if __name__ == "__main__":
    cli = argparse.ArgumentParser(prog="python -m benchmarks.probe", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(cli)
    cli.add_argument("--project-dir", default=None)
    sys.exit(run(cli.parse_args()))
