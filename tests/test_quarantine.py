"""Bad input: every malformed row lands in quarantine with its line, reason and raw text.

The contracts are the real ones in domains/*/models/staging/__sources.yml; the bad files
are written here (tests/fixtures/bad_inputs holds the lines they are built from).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pytest

from conftest import REPO, duckmesh, without_producer_manifest
from duckmesh.core import builddb
from duckmesh.core.project import Mesh
from duckmesh.sources.validation import (
    BadRow,
    Drift,
    SourceSpecError,
    check,
    load_specs,
)

BAD = REPO / "tests" / "fixtures" / "bad_inputs"
SCALE = "0.002"
CSV_HEADER = "CUST_ID;FIRST_NAME;LAST_NAME;EMAIL;PHONE;COUNTRY;SEGMENT;SIGNUP_DT;OPT_IN;LAST_MODIFIED"
GOOD_1 = ("C00000001;Chloe;Moreau;chloe.1@example.com;+49 387103429;PL;consumer;05/07/2023;Y;"
          "2025-11-18 00:09:39")
GOOD_2 = ("C00000002;Liam;Garcia;liam.2@example.com;+49 988929785;IT;small_business;02/01/2023;N;"
          "2025-11-14 03:49:11")


@pytest.fixture(scope="module")
def specs() -> dict:
    return {s.name: s for s in load_specs(Mesh(REPO).domain_dirs())}


def write(folder: Path, relative: str, lines: list[str]) -> Path:
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_every_source_declares_a_contract(specs: dict) -> None:
    assert sorted(specs) == ["ad_platform.campaign_spend", "ad_platform.touches",
                             "crm.customers", "order_system.order_lines",
                             "order_system.orders", "ticketing.tickets"]


def test_csv_malformed_wrong_type_missing_and_duplicate(specs: dict, tmp_path: Path) -> None:
    lines = [CSV_HEADER, GOOD_1, *(BAD / "customers_bad_rows.csv").read_text().splitlines(), GOOD_2]
    write(tmp_path, "crm/customers.csv", lines)
    result = check(specs["crm.customers"], tmp_path)
    assert result.rows == 6
    assert result.drift == []
    assert result.bad_rows == [
        BadRow("crm/customers.csv", 3, "malformed row: expected 10 fields, found 9",
               "C00000003;Ben;Smith;ben.3@example.com;+49 1;DE;consumer;01/01/2023;Y"),
        BadRow("crm/customers.csv", 4,
               "wrong type in SIGNUP_DT: '31/02/2023' is not a date (%d/%m/%Y)",
               "C00000004;Emma;Rossi;emma.4@example.com;+49 2;FR;consumer;31/02/2023;N;"
               "2025-11-14 03:49:11"),
        BadRow("crm/customers.csv", 5, "missing required column CUST_ID",
               ";Hugo;Berg;hugo@example.com;+49 3;NL;consumer;01/02/2023;N;2025-11-14 03:49:11"),
        BadRow("crm/customers.csv", 6,
               "duplicate key CUST_ID=C00000001 (first seen on line 2)",
               "C00000001;Chloe;Moreau;chloe.1@example.com;+49 387103429;PL;consumer;"
               "05/07/2023;Y;2025-11-18 00:09:39"),
    ]


def test_json_malformed_wrong_type_and_missing(specs: dict, tmp_path: Path) -> None:
    write(tmp_path, "support/tickets.jsonl", (BAD / "tickets_bad_rows.jsonl").read_text().splitlines())
    result = check(specs["ticketing.tickets"], tmp_path)
    raw = (BAD / "tickets_bad_rows.jsonl").read_text().splitlines()
    assert result.rows == 5
    assert result.bad_rows == [
        BadRow("support/tickets.jsonl", 2,
               "malformed JSON: Expecting ',' delimiter: line 1 column 27 (char 26)", raw[1]),
        BadRow("support/tickets.jsonl", 3,
               "wrong type in order_id: 'four' is not a bigint", raw[2]),
        BadRow("support/tickets.jsonl", 4,
               "missing required column customer_id; wrong type in opened_at: "
               "'yesterday' is not a timestamp with time zone", raw[3]),
    ]
    assert result.drift == [Drift("added", "agent", "not in the source contract")]


def test_csv_schema_drift_is_named(specs: dict, tmp_path: Path) -> None:
    write(tmp_path, "marketing/campaign_spend.csv",
          ["campaign_id,spend_day,spend_eur,currency", "1,2024-01-17,44.04,EUR"])
    result = check(specs["ad_platform.campaign_spend"], tmp_path)
    assert result.drift == [Drift("added", "spend_day", "not in the source contract"),
                            Drift("added", "currency", "not in the source contract"),
                            Drift("removed", "spend_date", "missing from the file")]
    assert result.threshold_error() == (
        "source ad_platform.campaign_spend: schema drift column removed: spend_date "
        "(missing from the file): fix the export or update the columns of "
        "ad_platform.campaign_spend in domains/marketing/models/staging/__sources.yml")


def test_parquet_retyped_null_key_and_duplicates(specs: dict, tmp_path: Path) -> None:
    (tmp_path / "marketing/touches").mkdir(parents=True)
    duckdb.connect().execute(f"""copy (
        select * from (values
            (1, 'C1', 3, 'click', timestamptz '2024-01-01 00:00:00+00'),
            (2, 'C2', 3, 'click', timestamptz '2024-01-02 00:00:00+00'),
            (1, 'C3', 4, 'email_open', timestamptz '2024-01-03 00:00:00+00'),
            (3, null, 4, 'click', timestamptz '2024-01-04 00:00:00+00'))
            as t(touch_id, customer_id, campaign_id, touch_type, touched_at)
    ) to '{tmp_path}/marketing/touches/touches_0001.parquet' (format parquet)""")
    result = check(specs["ad_platform.touches"], tmp_path)
    assert result.rows == 4
    # integer literals are int32 in DuckDB: touch_id arrives as integer, not bigint
    assert result.drift == [Drift("retyped", "touch_id", "expected bigint, found integer")]
    assert result.bad_rows == [
        BadRow("marketing/touches/touches_0001.parquet", 3,
               "duplicate key touch_id=1 (first seen on line 1)",
               '{"touch_id":1,"customer_id":"C3","campaign_id":4,"touch_type":"email_open",'
               '"touched_at":"2024-01-03 00:00:00+00"}'),
        BadRow("marketing/touches/touches_0001.parquet", 4,
               "missing required column customer_id",
               '{"touch_id":3,"customer_id":null,"campaign_id":4,"touch_type":"click",'
               '"touched_at":"2024-01-04 00:00:00+00"}'),
    ]


def _corrupt(data_dir: Path, extra_customer_lines: list[str]) -> None:
    customers = data_dir / "crm" / "customers.csv"
    customers.write_text(customers.read_text() + "\n".join(extra_customer_lines) + "\n")
    tickets = data_dir / "support" / "tickets.jsonl"
    tickets.write_text(tickets.read_text() + '{"ticket_id": "T9", "customer_id": \n')


@pytest.mark.e2e
def test_build_quarantines_bad_rows_and_keeps_good_ones(built_copy: Path) -> None:
    duckmesh(built_copy, "generate", "--scale", SCALE)
    data_dir = without_producer_manifest(built_copy / "data" / f"scale_{SCALE}")
    customers_before = (data_dir / "crm/customers.csv").read_text().splitlines()
    bad = (BAD / "customers_bad_rows.csv").read_text().splitlines()
    _corrupt(data_dir, bad)
    result = duckmesh(built_copy, "build", "--scale", SCALE)
    assert "crm.customers                      204 rows       4 quarantined" in result.stdout
    con = builddb.connect(built_copy / "mesh.duckdb", read_only=True)
    rows = con.execute("select line_number, reason from quarantine.crm__customers "
                       "order by line_number").fetchall()
    first_bad = len(customers_before) + 1
    assert rows == [
        (first_bad, "malformed row: expected 10 fields, found 9"),
        (first_bad + 1, "wrong type in SIGNUP_DT: '31/02/2023' is not a date (%d/%m/%Y)"),
        (first_bad + 2, "missing required column CUST_ID"),
        (first_bad + 3, "duplicate key CUST_ID=C00000001 (first seen on line 2)"),
    ]
    tickets = con.execute("select line_number, reason from quarantine.ticketing__tickets").fetchall()
    assert tickets == [(401, "malformed JSON: Expecting value: line 1 column 36 (char 35)")]
    # good rows all arrive, none twice: the product has exactly the source's customers
    ids = con.execute("select customer_id from customers.customers_v1 order by 1").fetchall()
    expected = sorted(line.split(";")[0] for line in customers_before[1:])
    assert [i for (i,) in ids] == expected
    assert con.execute("select count(*) from customer_service.tickets_v1").fetchone()[0] == 400
    con.close()
    listing = duckmesh(built_copy, "quarantine", "--source", "crm.customers", "--json")
    assert [r["line"] for r in json.loads(listing.stdout)] == [first_bad + i for i in range(4)]


@pytest.mark.e2e
def test_threshold_fails_the_build_and_publishes_nothing(mesh_copy: Path) -> None:
    duckmesh(mesh_copy, "generate", "--scale", SCALE)
    tickets = without_producer_manifest(mesh_copy / "data" / f"scale_{SCALE}") / "support" / \
        "tickets.jsonl"
    # 5 bad lines of 405 is over ticketing.tickets' max_bad_fraction of 0.01
    tickets.write_text(tickets.read_text() + "not json\n" * 5)
    result = duckmesh(mesh_copy, "build", "--scale", SCALE, check=False)
    assert result.returncode == 1
    assert ("source ticketing.tickets: 5 of 405 rows quarantined (support/tickets.jsonl), over its "
            "max_bad_fraction "
            "0.01: see quarantine.ticketing__tickets, fix the file, or raise the threshold in "
            "domains/customer_service/models/staging/__sources.yml") in result.stderr
    assert "[3/4] dbt build" not in result.stdout
    assert not (mesh_copy / "published").exists()
    con = builddb.connect(mesh_copy / "mesh.duckdb", read_only=True)
    assert con.execute("select line_number, reason, raw_line from quarantine.ticketing__tickets "
                       "order by 1").fetchall() == [
        (line, "malformed JSON: Expecting value: line 1 column 1 (char 0)", "not json")
        for line in range(401, 406)]
    assert con.execute("select rows_read, rows_quarantined, threshold_error is not null from "
                       "quarantine.source_checks where source_name = 'ticketing.tickets'"
                       ).fetchone() == (405, 5, True)
    con.close()


def test_quarantine_of_a_clean_source_says_none(built_mesh) -> None:
    """The session build quarantines nothing from the CRM: one line says so (it printed
    nothing)."""
    result = duckmesh(built_mesh.root, "quarantine", "--source", "crm.customers")
    assert result.stdout == "crm.customers: 0 rows quarantined by the last build\n"


def test_quarantine_rejects_unknown_source_names(built_mesh) -> None:
    result = duckmesh(built_mesh.root, "quarantine", "--source", "crm.x; drop table y",
                      check=False)
    assert result.returncode == 1
    assert "unknown source 'crm.x; drop table y'" in result.stderr


@pytest.mark.parametrize("path", ["../../etc/passwd", "/etc/passwd", ""])
def test_source_paths_cannot_leave_the_data_folder(tmp_path: Path, path: str) -> None:
    domain = tmp_path / "shop"
    write(domain, "models/staging/__sources.yml", [
        "sources:", "  - name: crm", "    tables:", "      - name: customers",
        "        config:", "          meta:",
        f"            validation: {{format: csv, path: '{path}'}}",
        "        columns:", "          - name: id"])
    with pytest.raises(SourceSpecError, match="validation.path must be a path inside the data "
                       "folder"):
        load_specs([domain])


def test_cached_check_reuses_unchanged_files_and_rechecks_changed_ones(
        specs: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from duckmesh.sources import validation

    data, cache = tmp_path / "data", tmp_path / "cache"
    path = write(data, "crm/customers.csv", [CSV_HEADER, GOOD_1, GOOD_2])
    first = validation.check_cached(specs["crm.customers"], data, cache)
    assert (first.rows, first.bad_rows) == (2, [])
    assert (cache / "crm__customers.json").exists()
    calls = []
    real = validation.check
    monkeypatch.setattr(validation, "check", lambda *a: calls.append(a) or real(*a))
    again = validation.check_cached(specs["crm.customers"], data, cache)
    assert calls == [] and (again.rows, again.bad_rows, again.files) == (2, [], [path])
    # the same size and mtime, different bytes: the content hash sees it
    stat = path.stat()
    write(data, "crm/customers.csv", [CSV_HEADER, GOOD_1, GOOD_1.replace("Chloe;", "Chloeeeee;")])
    assert path.stat().st_size == stat.st_size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    changed = validation.check_cached(specs["crm.customers"], data, cache)
    assert len(calls) == 1
    assert [r.reason for r in changed.bad_rows] == [
        "duplicate key CUST_ID=C00000001 (first seen on line 2)"]
    cached = validation.check_cached(specs["crm.customers"], data, cache)
    assert len(calls) == 1 and cached.bad_rows == changed.bad_rows


def test_parquet_clean_files_by_aggregate_and_duplicates_across_files(
        specs: dict, tmp_path: Path) -> None:
    folder = tmp_path / "marketing/touches"
    folder.mkdir(parents=True)
    for number, rows in ((1, "(1::bigint, 'C1', 3, 'click', timestamptz '2024-01-01 00:00:00+00'),"
                             "(2::bigint, 'C2', 3, 'click', timestamptz '2024-01-02 00:00:00+00')"),
                         (2, "(5::bigint, 'C5', 4, 'click', timestamptz '2024-01-05 00:00:00+00')")):
        duckdb.connect().execute(f"""copy (select * from (values {rows})
            as t(touch_id, customer_id, campaign_id, touch_type, touched_at)
        ) to '{folder}/touches_000{number}.parquet' (format parquet)""")
    clean = check(specs["ad_platform.touches"], tmp_path)
    assert (clean.rows, clean.bad_rows, clean.drift) == (3, [], [])
    # a key repeated in another file is still found (the aggregate spans every file)
    duckdb.connect().execute(f"""copy (select * from (values
            (2::bigint, 'C9', 4, 'click', timestamptz '2024-01-09 00:00:00+00'))
            as t(touch_id, customer_id, campaign_id, touch_type, touched_at)
        ) to '{folder}/touches_0003.parquet' (format parquet)""")
    result = check(specs["ad_platform.touches"], tmp_path)
    assert result.rows == 4
    assert [(r.file, r.line_number, r.reason) for r in result.bad_rows] == [
        ("marketing/touches/touches_0003.parquet", 1,
         "duplicate key touch_id=2 (first seen on line 2)")]


@pytest.mark.parametrize(("meta", "message"), [
    ("{accepted_range: {min: low}}", "column id: accepted_range needs a number or date min, "
                                     "max or both ({min: 0}, {min: 1, max: 5}), got {'min': 'low'}"),
    ("{not_before: opened}", "column id: not_before names an unknown column 'opened'"),
    ("{references: {source: crm.nothing, column: id}}",
     "column id: references: crm.nothing.id is not a column of a CSV or Parquet source with a "
     "validation block (one of ['crm.customers'])"),
    ("{references: {seed: nothing, column: id}}", "column id: references: no seed "),
    ("{references: order_system.orders}", "column id: references needs a source or a seed, "
                                          "and a column"),
])
def test_a_declared_expectation_that_cannot_be_checked_is_named(
        tmp_path: Path, meta: str, message: str) -> None:
    """Expectations are data in the source contract; a wrong one is an error
    naming the file, source and column, before any file is read."""
    domain = tmp_path / "shop"
    write(domain, "models/staging/__sources.yml", [
        "sources:", "  - name: crm", "    tables:", "      - name: customers",
        "        config:", "          meta:",
        "            validation: {format: csv, path: crm/customers.csv}",
        "        columns:", "          - name: id", f"            config: {{meta: {meta}}}"])
    with pytest.raises(SourceSpecError) as raised:
        load_specs([domain])
    assert f"source crm.customers: {message}" in str(raised.value).replace(
        f"{domain}/models/staging/__sources.yml ", "")


def test_a_domain_alone_resolves_references_to_other_domains_sources() -> None:
    """`build --domain marketing` checks marketing's sources only; its touches reference
    crm.customers of the customers domain beside it."""
    [touches, spend] = load_specs([REPO / "domains" / "marketing"])
    reference = touches.column("customer_id").references
    assert (reference.label, reference.path, reference.delimiter) == (
        "crm.customers.CUST_ID", "crm/customers.csv", ";")
    assert spend.column("campaign_id").references.label == "seed campaigns.campaign_id"
