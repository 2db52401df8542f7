"""Broken source files: every one is quarantined with a reason, or stops the build before
dbt with a message naming the file; none raises.

The contracts are the real ones of domains/*/models/staging/__sources.yml."""

from __future__ import annotations

import json
import random
import re
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from conftest import REPO
from duckmesh.core import builddb
from duckmesh.core.project import Mesh
from duckmesh.sources import quarantine
from duckmesh.sources.validation import MAX_LINE_BYTES, check, load_specs

pytestmark = pytest.mark.unit

HEADER = "CUST_ID;FIRST_NAME;LAST_NAME;EMAIL;PHONE;COUNTRY;SEGMENT;SIGNUP_DT;OPT_IN;LAST_MODIFIED"
GOOD = ("C00000001;Chloe;Moreau;chloe.1@example.com;+49 387103429;PL;consumer;05/07/2023;Y;"
        "2025-11-18 00:09:39")
TICKET = ('{"ticket_id":"T1","customer_id":"C1","order_id":4416,"channel":"email",'
          '"category":"delivery","priority":"low","opened_at":"2024-07-13T16:48:57Z",'
          '"closed_at":null,"csat_score":null}')
HIGH = date.today() + timedelta(days=366)


@pytest.fixture(scope="module")
def specs() -> dict:
    return {s.name: s for s in load_specs(Mesh(REPO).domain_dirs())}


def write_bytes(folder: Path, relative: str, data: bytes) -> Path:
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_a_10_mb_field_is_quarantined_not_a_traceback(specs: dict, tmp_path: Path) -> None:
    good = [GOOD.replace("C00000001", f"C{n:08d}") for n in range(1, 41)]
    big = f"C00000099;{'x' * 10_000_000};Lee;a@b.c;+1;DE;consumer;01/01/2024;Y;2025-01-01 00:00:00"
    write_bytes(tmp_path, "crm/customers.csv", "\n".join([HEADER, *good, big, ""]).encode())
    result = check(specs["crm.customers"], tmp_path)
    assert result.rows == 41
    [row] = result.bad_rows
    assert (row.line_number, row.reason) == (
        42, f"line of {len(big):,} bytes, over the {MAX_LINE_BYTES:,}-byte limit")
    assert row.raw_line == f"{big[:1000]}... ({len(big):,} bytes)"
    assert result.threshold_error() is None  # 1 of 41 rows: under crm.customers' 5%


def test_random_bytes_in_csv_and_jsonl_are_quarantined_and_storable(
        specs: dict, tmp_path: Path) -> None:
    noise = random.Random(18).randbytes(300).replace(b"\n", b"") + b"\x00\xff"
    write_bytes(tmp_path, "crm/customers.csv", f"{HEADER}\n{GOOD}\n".encode() + noise + b"\n")
    write_bytes(tmp_path, "support/tickets.jsonl", TICKET.encode() + b"\n" + noise + b"\n")
    customers = check(specs["crm.customers"], tmp_path)
    tickets = check(specs["ticketing.tickets"], tmp_path)
    first_bad = next(i for i in range(len(noise)) if noise[i] >= 0x80)
    reason = f"not UTF-8 text (byte 0x{noise[first_bad]:02x} at byte {first_bad + 1})"
    assert [(r.line_number, r.reason) for r in customers.bad_rows] == [(3, reason)]
    assert [(r.line_number, r.reason) for r in tickets.bad_rows] == [(2, reason)]
    assert tickets.bad_rows[0].raw_line == noise.decode("utf-8", "backslashreplace")
    # the quarantine table takes the undecodable line (the old traceback: "surrogates")
    db = tmp_path / "mesh.duckdb"
    quarantine.store(db, [customers, tickets])
    con = builddb.connect(db, read_only=True)
    stored = con.execute("select raw_line from quarantine.crm__customers").fetchone()[0]
    con.close()
    assert stored.endswith("\\x00\\xff")


@pytest.mark.parametrize(("relative", "data", "problem"), [
    ("crm/customers.csv", f"{HEADER}\n".encode(), "0 rows in customers.csv"),
    ("crm/customers.csv", b"", "0 rows in customers.csv"),
    ("support/tickets.jsonl", b"", "0 rows in tickets.jsonl"),
    ("support/tickets.jsonl", b"\n\n", "0 rows in tickets.jsonl"),
])
def test_an_empty_or_header_only_source_stops_the_build(
        specs: dict, tmp_path: Path, relative: str, data: bytes, problem: str) -> None:
    spec = next(s for s in specs.values() if s.path == relative)
    write_bytes(tmp_path, relative, data)
    assert check(spec, tmp_path).threshold_error() == (
        f"source {spec.name}: {problem} (empty, cut short or a header only), fewer than "
        f"its min_rows 1: check the export, or set validation.min_rows in "
        f"domains/{spec.domain}/models/staging/__sources.yml")


@pytest.mark.parametrize(("damage", "problem"), [
    (lambda data: data[: len(data) // 2], "No magic bytes found at end of file"),
    (lambda data: b"", "too small to be a Parquet file"),
    (lambda data: b"order_id,customer_id\n1,C1\n" * 10, "No magic bytes found at end of file"),
])
def test_a_parquet_file_duckdb_cannot_read_stops_the_build_naming_it(
        specs: dict, tmp_path: Path, damage, problem: str) -> None:  # noqa: ANN001
    path = tmp_path / "sales/orders/orders_0001.parquet"
    path.parent.mkdir(parents=True)
    duckdb.connect().execute(f"""copy (select range::bigint as order_id, 'C1' as customer_id,
        timestamptz '2024-01-01 00:00:00+00' as ordered_at, 'placed' as status,
        'web' as channel, 1.5::decimal(10,2) as shipping_cost from range(1000))
        to '{path}' (format parquet)""")
    assert check(specs["order_system.orders"], tmp_path).threshold_error() is None
    path.write_bytes(damage(path.read_bytes()))
    error = check(specs["order_system.orders"], tmp_path).threshold_error()
    assert error is not None
    assert error.startswith("source order_system.orders: sales/orders/orders_0001.parquet is "
                            "not readable Parquet (Invalid Input Error: ")
    assert problem in error
    assert error.endswith("): replace the file with a good export, or remove it")


def test_dates_outside_the_window_are_quarantined_in_every_format(
        specs: dict, tmp_path: Path) -> None:
    future = GOOD.replace("05/07/2023", "31/12/9999").replace("C00000001", "C00000002")
    write_bytes(tmp_path, "crm/customers.csv", f"{HEADER}\n{GOOD}\n{future}\n".encode())
    ticket = TICKET.replace("2024-07-13T16:48:57Z", "1899-12-31T23:00:00Z").replace("T1", "T2")
    write_bytes(tmp_path, "support/tickets.jsonl", f"{TICKET}\n{ticket}\n".encode())
    window = f"is outside the plausible dates 1900-01-01 to {HIGH} (validation.date_window)"
    tickets = check(specs["ticketing.tickets"], tmp_path)  # before its orders exist
    assert [(r.line_number, r.reason) for r in tickets.bad_rows] == [
        (2, f"implausible date in opened_at: '1899-12-31T23:00:00Z' {window}")]
    path = tmp_path / "sales/orders/orders_0001.parquet"
    path.parent.mkdir(parents=True)
    # what 300 random bytes did to a Parquet page in the issue: year 290253 BC
    duckdb.connect().execute(f"""copy (select * from (values
        (1::bigint, 'C00000001', timestamptz '2024-01-01 00:00:00+00', 'placed', 'web', 1.5::decimal(10,2)),
        (2::bigint, 'C00000001', timestamptz '290253-01-01 (BC) 00:00:00+00', 'placed', 'web',
         1.5::decimal(10,2)))
        as t(order_id, customer_id, ordered_at, status, channel, shipping_cost))
        to '{path}' (format parquet)""")
    customers = check(specs["crm.customers"], tmp_path)
    assert [(r.line_number, r.reason) for r in customers.bad_rows] == [
        (3, f"implausible date in SIGNUP_DT: '31/12/9999' {window}")]
    orders = check(specs["order_system.orders"], tmp_path)
    assert [(r.line_number, r.reason) for r in orders.bad_rows] == [
        (2, f"implausible date in ordered_at: 290253-01-01 (BC) 00:00:00+00 {window}")]
    assert orders.threshold_error() == (
        "source order_system.orders: 1 of 2 rows quarantined (sales/orders/orders_0001.parquet)"
        ", over its max_bad_fraction 0.01: see quarantine.order_system__orders, fix the file, "
        "or raise the threshold in domains/sales/models/staging/__sources.yml")


def test_the_duckdb_pass_is_never_looser_than_the_line_checks(specs: dict, tmp_path: Path) -> None:
    """fastcheck finds a file clean only when the line checks would find no bad row (they
    run the same value checks); a bad line hands the file to the line checks."""
    from duckmesh.sources import fastcheck

    spec = specs["crm.customers"]
    good = [GOOD.replace("C00000001", f"C{n:08d}") for n in range(1, 41)]
    header = HEADER.split(";")
    path = write_bytes(tmp_path, "crm/customers.csv", "\n".join([HEADER, *good, ""]).encode())
    clean = fastcheck.clean_csv(spec, path, header, MAX_LINE_BYTES)
    assert clean is not None and clean.rows == 40 and check(spec, tmp_path).bad_rows == []
    bad_rows = (REPO / "tests/fixtures/bad_inputs/customers_bad_rows.csv").read_text().splitlines()
    for line in [*bad_rows, good[0].replace("05/07/2023", "5/7/2023"),
                 good[0].replace("05/07/2023", "31/12/9999").replace("C00000001", "C00000077")]:
        path.write_text("\n".join([HEADER, *good, line, ""]))
        assert fastcheck.clean_csv(spec, path, header, MAX_LINE_BYTES) is None, line
    # '5/7/2023' is a date to DuckDB's strptime, on both paths (the line checks hand
    # their values to the same SQL checks): the file is clean
    path.write_text("\n".join([HEADER, *good[1:], good[0].replace("05/07/2023", "5/7/2023"), ""]))
    assert fastcheck.clean_csv(spec, path, header, MAX_LINE_BYTES) is not None
    assert check(spec, tmp_path).bad_rows == []
    tickets = specs["ticketing.tickets"]
    jsonl = write_bytes(tmp_path, "support/tickets.jsonl", (TICKET + "\n").encode())
    assert fastcheck.clean_jsonl(tickets, jsonl, MAX_LINE_BYTES) is not None
    for changed in (TICKET.replace('"T1"', "1"), TICKET.replace("4416", '"four"'),
                    TICKET.replace('"low"', '"low","agent":"a"'),
                    TICKET.replace("2024-07-13T16:48:57Z", "9999-07-13T16:48:57Z")):
        jsonl.write_text(TICKET + "\n" + changed.replace('"T1"', '"T2"') + "\n")
        assert fastcheck.clean_jsonl(tickets, jsonl, MAX_LINE_BYTES) is None, changed


def test_a_csv_in_another_encoding_is_named_as_such(specs: dict, tmp_path: Path) -> None:
    write_bytes(tmp_path, "crm/customers.csv", f"{HEADER}\n{GOOD}\n".encode("utf-16"))
    assert check(specs["crm.customers"], tmp_path).threshold_error() == (
        "source crm.customers: the header of crm/customers.csv is not UTF-8 text (byte 0xff at "
        "byte 1; export it as UTF-8): replace the file with a good export, or remove it")


def test_a_10_mb_parquet_value_is_quarantined(specs: dict, tmp_path: Path) -> None:
    path = tmp_path / "sales/orders/orders_0001.parquet"
    path.parent.mkdir(parents=True)
    duckdb.connect().execute(f"""copy (select range::bigint as order_id, 'C1' as customer_id,
        timestamptz '2024-01-01 00:00:00+00' as ordered_at, 'placed' as status,
        case when range = 7 then repeat('x', 10485760) else 'web' end as channel,
        1.5::decimal(10,2) as shipping_cost from range(1000))
        to '{path}' (format parquet)""")
    result = check(specs["order_system.orders"], tmp_path)
    assert [(r.line_number, r.reason) for r in result.bad_rows] == [
        (8, "value of 10485760 bytes in channel, over the 1,000,000-byte limit")]
    assert result.threshold_error() is None  # 1 of 1,000: the 1% limit holds
    [row] = result.bad_rows
    # quarantine keeps the first 1,000 characters of the row as JSON, and its size
    assert row.raw_line.startswith('{"order_id":7,"customer_id":"C1",')
    assert re.fullmatch(r".{1000}\.\.\. \(10,485,8\d\d bytes\)", row.raw_line)


# -- damaged or implausible data stops before publish --------------------------

def generated(folder: Path, *relatives: str) -> Path:
    """The generator's own drop at scale 0.01 (10,000 orders) in ``folder``, with its
    producer manifest; only ``relatives`` kept (and recorded)."""
    from duckmesh.sources.generate import PRODUCER_MANIFEST, generate

    generate(folder, scale=0.01, log=lambda *_: None)
    manifest = json.loads((folder / PRODUCER_MANIFEST).read_text())
    manifest["files"] = {k: v for k, v in manifest["files"].items() if k in relatives}
    (folder / PRODUCER_MANIFEST).write_text(json.dumps(manifest))
    return folder


@pytest.fixture(scope="module")
def drop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated(tmp_path_factory.mktemp("drop") / "data", "sales/orders/orders_0001.parquet",
                     "marketing/campaign_spend.csv", "support/tickets.jsonl")


def copy_of(drop: Path, tmp_path: Path, manifest: bool = True) -> Path:
    """A copy of the drop; without its producer manifest when ``manifest`` is False (a
    producer that records nothing: the content checks alone must catch the damage)."""
    import shutil

    data = Path(shutil.copytree(drop, tmp_path / "data"))
    if not manifest:
        (data / "_manifest.json").unlink()
    return data


def damage(path: Path, fraction: float, size: int = 64, seed: int = 27) -> None:
    data = bytearray(path.read_bytes())
    offset = int(len(data) * fraction)
    data[offset:offset + size] = random.Random(seed).randbytes(size)
    path.write_bytes(bytes(data))


def test_the_generated_drop_passes_every_check_with_its_manifest(specs: dict, drop: Path) -> None:
    recorded = json.loads((drop / "_manifest.json").read_text())["files"]
    assert recorded["sales/orders/orders_0001.parquet"]["rows"] == 10_000
    assert recorded["marketing/campaign_spend.csv"]["rows"] == 4_619
    for spec in specs.values():
        result = check(spec, drop)
        assert (result.bad_rows, result.drift, result.unreadable) == ([], [], []), spec.name


def test_random_bytes_in_a_parquet_page_hold_the_source_back(
        specs: dict, drop: Path, tmp_path: Path) -> None:
    """64 random bytes at 10% of orders_0001.parquet: 22 order ids above 10,000 were
    published. Without a manifest, the values read against the footer's statistics."""
    data = copy_of(drop, tmp_path, manifest=False)
    damage(data / "sales/orders/orders_0001.parquet", 0.10)
    result = check(specs["order_system.orders"], data)
    assert result.threshold_error() == (
        "source order_system.orders: sales/orders/orders_0001.parquet holds values its footer's "
        "statistics do not allow (row group 0, order_id: 1 to 65534 and 0 nulls read, 1 to "
        "10000 and 0 nulls in the footer): a damaged page; key order_id is not dense: 9,940 "
        "distinct values from 1 to 65,534 (validation: dense), a damaged page or a partial "
        "drop: replace the file with a good export, or remove it")


def test_a_damaged_dictionary_page_is_caught_by_the_producer_manifest(
        specs: dict, drop: Path, tmp_path: Path) -> None:
    """Bytes changed in the customer id dictionary moved 52 orders to other valid
    customers: every value stays inside the footer's range, so only the SHA-256 the
    producer recorded sees it."""
    data = copy_of(drop, tmp_path)
    path = data / "sales/orders/orders_0001.parquet"
    offset = duckdb.connect().execute(
        "select dictionary_page_offset from parquet_metadata(?) where path_in_schema = "
        "'customer_id'", [str(path)]).fetchone()[0]
    raw = bytearray(path.read_bytes())
    raw[offset + 400] = ord("7") if raw[offset + 400] != ord("7") else ord("8")
    path.write_bytes(bytes(raw))
    assert check(specs["order_system.orders"], data).threshold_error() == (
        "source order_system.orders: sales/orders/orders_0001.parquet does not match the "
        "SHA-256 its producer recorded (_manifest.json): damaged in transit or changed after "
        "the export: replace the file with a good export, or remove it")


@pytest.mark.parametrize(("relative", "cut", "source", "line"), [
    ("marketing/campaign_spend.csv", 0.60, "ad_platform.campaign_spend", 2_792),
    ("support/tickets.jsonl", 0.97, "ticketing.tickets", 1_941),
])
def test_a_text_file_cut_short_holds_the_source_back(
        specs: dict, drop: Path, tmp_path: Path, relative: str, cut: float, source: str,
        line: int) -> None:
    """campaign_spend.csv cut to 60% published spend 335,734.97 instead of 553,936.26;
    tickets.jsonl cut at 97% published 1,940 of 2,000 tickets."""
    with_manifest = copy_of(drop, tmp_path / "a")
    path = with_manifest / relative
    size = path.stat().st_size
    path.write_bytes(path.read_bytes()[: int(size * cut)])
    assert check(specs[source], with_manifest).threshold_error() == (
        f"source {source}: {relative} is {int(size * cut):,} bytes, its producer recorded "
        f"{size:,} (_manifest.json): cut short or replaced: replace the file with a good "
        "export, or remove it")
    # without a manifest: the last line has no end and is not a whole record
    bare = copy_of(drop, tmp_path / "b", manifest=False)
    (bare / relative).write_bytes(path.read_bytes())
    error = check(specs[source], bare).threshold_error()
    assert error is not None
    assert error.startswith(f"source {source}: {relative} ends in the middle of line {line:,} "
                            "(no line end, and the line is not a whole record: ")
    assert error.endswith("): the file was cut short: replace the file with a good export, "
                          "or remove it")


def test_a_partial_drop_cut_at_a_line_end_is_caught_by_the_rows_recorded(
        specs: dict, drop: Path, tmp_path: Path) -> None:
    data = copy_of(drop, tmp_path)
    manifest = json.loads((data / "_manifest.json").read_text())
    manifest["files"]["support/tickets.jsonl"] = {"rows": 2_000}  # a producer recording rows
    (data / "_manifest.json").write_text(json.dumps(manifest))
    tickets = data / "support/tickets.jsonl"
    tickets.write_text("".join(tickets.read_text().splitlines(keepends=True)[:1_940]))
    assert check(specs["ticketing.tickets"], data).threshold_error() == (
        "source ticketing.tickets: support/tickets.jsonl holds 1,940 rows, its producer "
        "recorded 2,000 (_manifest.json): a partial drop: replace the file with a good "
        "export, or remove it")
    # a sha256sum file beside the drop is read too
    (data / "_manifest.json").unlink()
    (data / "support/tickets.jsonl.sha256").write_text("0" * 64 + "  tickets.jsonl\n")
    assert "support/tickets.jsonl does not match the SHA-256 its producer recorded " \
        "(support/tickets.jsonl.sha256)" in check(specs["ticketing.tickets"], data).threshold_error()


def rewrite(path: Path, select: str) -> None:
    """Rewrite a Parquet file of the drop with ``select`` over its rows (as ``t``)."""
    con = duckdb.connect()
    con.execute(f"create table t as select * from read_parquet('{path}')")
    con.execute(f"copy ({select}) to '{path}' (format parquet)")
    con.close()


def reasons(result) -> list[tuple[int, str]]:  # noqa: ANN001
    return [(r.line_number, r.reason) for r in result.bad_rows]


def test_values_no_declared_expectation_allows_are_quarantined_in_text_files(
        specs: dict, drop: Path, tmp_path: Path) -> None:
    data = copy_of(drop, tmp_path, manifest=False)
    tickets = data / "support/tickets.jsonl"
    lines = tickets.read_text().splitlines()
    first = json.loads(lines[0])
    lines[0] = json.dumps({**first, "csat_score": 99})
    lines[1] = json.dumps({**json.loads(lines[1]), "closed_at": "2014-01-01T00:00:00Z"})
    lines[2] = json.dumps({**json.loads(lines[2]), "order_id": 99_999_999})
    lines[3] = lines[3].replace('"order_id":', '"order_id":"').replace(',"channel"', '","channel"')
    tickets.write_text("\n".join(lines) + "\n")
    result = check(specs["ticketing.tickets"], data)
    opened = json.loads(lines[1])["opened_at"]
    number = json.loads(lines[3])["order_id"]
    assert reasons(result) == [
        (1, "out of range in csat_score: 99 is not 1 to 5 (accepted_range)"),
        (2, f"closed_at before opened_at: 2014-01-01T00:00:00Z < {opened} (not_before)"),
        (3, "orphan order_id: 99999999 is not in order_system.orders.order_id (references)"),
        (4, f"wrong type in order_id: '{number}' is a JSON string, not a bigint: the producer "
            f"must write the number without quotes ({number})"),
    ]
    assert result.threshold_error() is None  # 4 of 2,000: under the 1% limit
    customers = data / "crm/customers.csv"
    rows = customers.read_text().splitlines()
    rows[0] = "\ufeff" + rows[0]  # a byte order mark: not "column removed: CUST_ID"
    rows[1] = rows[1].replace(";consumer;", ";cons\x00umer;").replace(
        ";small_business;", ";small\x00business;").replace(";enterprise;", ";enter\x00prise;")
    rows[2] = "C0000\x00002" + rows[2][9:]
    customers.write_text("\n".join(rows) + "\n")
    result = check(specs["crm.customers"], data)
    assert result.drift == []
    segment = rows[1].split(";")[6]
    assert [(r.line_number, r.reason, r.raw_line.split(";")[6]) for r in result.bad_rows] == [
        (2, "control character U+0000 in SEGMENT: a damaged file or a bad export", segment),
        (3, "control character U+0000 in CUST_ID: a damaged file or a bad export",
         rows[2].split(";")[6])]
    spend = data / "marketing/campaign_spend.csv"
    rows = spend.read_text().splitlines()
    rows[1] = rows[1].rsplit(",", 1)[0] + ",-12.50"
    rows[2] = "41" + rows[2][rows[2].index(","):]
    spend.write_text("\n".join(rows) + "\n")
    assert reasons(check(specs["ad_platform.campaign_spend"], data)) == [
        (2, "out of range in spend_eur: -12.50 is not at least 0 (accepted_range)"),
        (3, "orphan campaign_id: 41 is not in seed campaigns.campaign_id (references)")]


def test_values_no_declared_expectation_allows_are_quarantined_in_parquet(
        specs: dict, drop: Path, tmp_path: Path) -> None:
    data = copy_of(drop, tmp_path, manifest=False)
    rewrite(data / "sales/orders/orders_0001.parquet",
            "select * replace (case when order_id = 5 then '' when order_id = 6 then '  ' "
            "else customer_id end as customer_id, case when order_id = 7 then -4.95 "
            "else shipping_cost end as shipping_cost) from t order by order_id")
    orders = check(specs["order_system.orders"], data)
    assert reasons(orders) == [
        (5, "missing required column customer_id (blank)"),
        (6, "missing required column customer_id (blank)"),
        (7, "out of range in shipping_cost: -4.95 is not at least 0 (accepted_range)")]
    rewrite(data / "sales/order_lines/order_lines_0001.parquet",
            "select * replace (case when order_line_id = 11 then -2 else quantity end "
            "as quantity, case when order_line_id = 21 then 20002 else order_id end as "
            "order_id) from t order by order_line_id")
    lines = check(specs["order_system.order_lines"], data)
    assert reasons(lines) == [
        (1, "out of range in quantity: -2 is not at least 1 (accepted_range)"),
        (2, "orphan order_id: 20002 is not in order_system.orders.order_id (references)")]
    assert lines.threshold_error() is None


def test_a_new_parquet_file_that_retypes_a_column_is_drift(
        specs: dict, drop: Path, tmp_path: Path) -> None:
    data = copy_of(drop, tmp_path, manifest=False)
    duckdb.connect().execute(f"""copy (select order_id + 10000 as order_id, customer_id,
        ordered_at, status, channel, shipping_cost::double as shipping_cost
        from read_parquet('{data}/sales/orders/orders_0001.parquet') limit 10)
        to '{data}/sales/orders/orders_0002.parquet' (format parquet)""")
    assert check(specs["order_system.orders"], data).threshold_error() == (
        "source order_system.orders: schema drift column retyped: shipping_cost (expected "
        "decimal(10,2), found double in sales/orders/orders_0002.parquet): fix the export or "
        "update the columns of order_system.orders in "
        "domains/sales/models/staging/__sources.yml")


def test_a_dense_key_with_a_gap_holds_the_source_back(
        specs: dict, drop: Path, tmp_path: Path) -> None:
    data = copy_of(drop, tmp_path, manifest=False)
    rewrite(data / "sales/orders/orders_0001.parquet",
            "select * from t where order_id not between 100 and 199 order by order_id")
    assert check(specs["order_system.orders"], data).unreadable == [
        "key order_id is not dense: 9,900 distinct values from 1 to 10,000 (validation: "
        "dense), a damaged page or a partial drop"]


def test_a_directory_in_place_of_a_source_file_is_one_line(
        specs: dict, drop: Path, tmp_path: Path) -> None:
    from duckmesh.sources.validation import check_cached

    data = copy_of(drop, tmp_path, manifest=False)
    (data / "crm/customers.csv").unlink()
    (data / "crm/customers.csv").mkdir()
    result = check_cached(specs["crm.customers"], data, tmp_path / "cache")
    assert result.threshold_error() == (
        "source crm.customers: crm/customers.csv is a directory, not a file: put the exported "
        "file there: replace the file with a good export, or remove it")


def test_a_drop_with_a_manifest_is_checked_once_while_unchanged(
        specs: dict, drop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache key holds the producer's record of each file: unchanged, the check is
    reused; a damaged file under the same record is checked again."""
    from duckmesh.sources import validation

    data = copy_of(drop, tmp_path)
    cache = tmp_path / "cache"
    calls: list[str] = []
    real = validation.check
    monkeypatch.setattr(validation, "check",
                        lambda spec, *a: calls.append(spec.name) or real(spec, *a))
    spec = specs["order_system.orders"]
    for _ in range(2):
        assert validation.check_cached(spec, data, cache).threshold_error() is None
    assert calls == ["order_system.orders"]
    damage(data / "sales/orders/orders_0001.parquet", 0.10)
    assert "does not match the SHA-256 its producer recorded" in str(
        validation.check_cached(spec, data, cache).threshold_error())
    assert len(calls) == 2
