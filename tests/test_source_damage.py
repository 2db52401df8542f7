"""Broken source files: every one is quarantined with a reason, or stops the build before
dbt with a message naming the file; none raises (issue 18, items 1, 2, 4 and 14).

The contracts are the real ones of domains/*/models/staging/__sources.yml."""

from __future__ import annotations

import random
import re
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from conftest import REPO
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
    con = duckdb.connect(str(db), read_only=True)
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
    path = tmp_path / "sales/orders/orders_0001.parquet"
    path.parent.mkdir(parents=True)
    # what 300 random bytes did to a Parquet page in the issue: year 290253 BC
    duckdb.connect().execute(f"""copy (select * from (values
        (1::bigint, 'C1', timestamptz '2024-01-01 00:00:00+00', 'placed', 'web', 1.5::decimal(10,2)),
        (2::bigint, 'C1', timestamptz '290253-01-01 (BC) 00:00:00+00', 'placed', 'web', 1.5::decimal(10,2)))
        as t(order_id, customer_id, ordered_at, status, channel, shipping_cost))
        to '{path}' (format parquet)""")
    window = f"is outside the plausible dates 1900-01-01 to {HIGH} (validation.date_window)"
    customers = check(specs["crm.customers"], tmp_path)
    assert [(r.line_number, r.reason) for r in customers.bad_rows] == [
        (3, f"implausible date in SIGNUP_DT: '31/12/9999' {window}")]
    tickets = check(specs["ticketing.tickets"], tmp_path)
    assert [(r.line_number, r.reason) for r in tickets.bad_rows] == [
        (2, f"implausible date in opened_at: '1899-12-31T23:00:00Z' {window}")]
    orders = check(specs["order_system.orders"], tmp_path)
    assert [(r.line_number, r.reason) for r in orders.bad_rows] == [
        (2, f"implausible date in ordered_at: 290253-01-01 (BC) 00:00:00+00 {window}")]
    assert orders.threshold_error() == (
        "source order_system.orders: 1 of 2 rows quarantined (sales/orders/orders_0001.parquet)"
        ", over its max_bad_fraction 0.01: see quarantine.order_system__orders, fix the file, "
        "or raise the threshold in domains/sales/models/staging/__sources.yml")


def test_the_duckdb_pass_is_never_looser_than_the_line_checks(specs: dict, tmp_path: Path) -> None:
    """fastcheck finds a file clean only when the line checks would find no bad row; any
    doubt (a date written another way, a bad line) hands the file to the line checks."""
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
    # '5/7/2023' is a date to the line checks: the file is clean after all
    path.write_text("\n".join([HEADER, *good[1:], good[0].replace("05/07/2023", "5/7/2023"), ""]))
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
