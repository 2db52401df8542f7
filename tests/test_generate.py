"""The source-data generator: deterministic, right counts, right formats."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import pytest

from duckmesh.sources.generate import generate, generate_batch, row_counts

SCALE = 0.002  # 200 customers, 2,000 orders


def digest(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*")) if path.is_file()
    }


def quiet(*_args: object) -> None:
    pass


def test_same_scale_and_seed_give_the_same_bytes(tmp_path: Path) -> None:
    first = generate(tmp_path / "a", scale=SCALE, seed=7, log=quiet)
    second = generate(tmp_path / "b", scale=SCALE, seed=7, log=quiet)
    assert not first.reused and not second.reused
    assert digest(first.out_dir) == digest(second.out_dir)
    # six source files, the generator's record and the producer manifest of the drop
    assert len(digest(first.out_dir)) == 8


def test_the_producer_manifest_records_every_file_and_batch(tmp_path: Path) -> None:
    """Bytes, rows and SHA-256 of every source file, batches added: validation checks the
    drop against it."""
    out = generate(tmp_path / "a", scale=SCALE, seed=7, log=quiet).out_dir
    generate_batch(out, 2, log=quiet)
    files = json.loads((out / "_manifest.json").read_text())["files"]
    hashes = digest(out)
    assert sorted(files) == sorted(set(hashes) - {"_generated.json", "_manifest.json"})
    for relative, entry in files.items():
        assert entry["sha256"] == hashes[relative]
        assert entry["bytes"] == (out / relative).stat().st_size
    assert files["sales/orders/orders_0001.parquet"]["rows"] == 2_000
    assert files["crm/customers.csv"]["rows"] == 200
    assert files["support/tickets.jsonl"]["rows"] == 400


def test_another_seed_gives_other_data(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", scale=SCALE, seed=1, log=quiet)
    b = generate(tmp_path / "b", scale=SCALE, seed=2, log=quiet)
    assert digest(a.out_dir)["crm/customers.csv"] != digest(b.out_dir)["crm/customers.csv"]


def test_counts_formats_and_reuse(tmp_path: Path) -> None:
    result = generate(tmp_path / "d", scale=SCALE, seed=42, log=quiet)
    out = result.out_dir
    assert row_counts(SCALE) == {"customers": 200, "orders": 2000, "tickets": 400,
                                 "touches": 4000}
    con = duckdb.connect()
    # The CRM export is the legacy format: ';'-delimited, DD/MM/YYYY dates, Y/N flags.
    header = (out / "crm/customers.csv").read_text().splitlines()[0]
    assert header == ("CUST_ID;FIRST_NAME;LAST_NAME;EMAIL;PHONE;COUNTRY;SEGMENT;"
                      "SIGNUP_DT;OPT_IN;LAST_MODIFIED")
    con.execute(f"create table crm as select * from read_csv('{out}/crm/customers.csv', "
                "delim=';', header=true, all_varchar=true)")
    assert con.execute("select count(*) from crm").fetchone()[0] == 200
    assert con.execute("select count(*) from crm where not regexp_matches(signup_dt, "
                   "'^\\d{2}/\\d{2}/\\d{4}$') or opt_in not in ('Y', 'N')").fetchone()[0] == 0
    orders = con.execute(f"select count(*), count(distinct order_id) from "
                     f"read_parquet('{out}/sales/orders/*.parquet')").fetchone()
    assert orders == (2000, 2000)
    lines = con.execute(f"select count(*) from read_parquet('{out}/sales/order_lines/*.parquet')"
                    ).fetchone()[0]
    assert lines == result.counts["order_lines"]
    assert 2000 <= lines <= 10000  # 1 to 5 lines per order
    tickets = [json.loads(line) for line in (out / "support/tickets.jsonl").read_text().splitlines()]
    assert len(tickets) == 400
    assert set(tickets[0]) == {"ticket_id", "customer_id", "order_id", "channel", "category",
                               "priority", "opened_at", "closed_at", "csat_score"}
    touches = con.execute(f"select count(*), min(campaign_id), max(campaign_id) from "
                      f"read_parquet('{out}/marketing/touches/*.parquet')").fetchone()
    assert touches == (4000, 1, 40)

    again = generate(out, scale=SCALE, seed=42, log=quiet)
    assert again.reused and again.counts == result.counts


def test_a_bad_scale_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--scale must be positive, got 0"):
        generate(tmp_path / "x", scale=0, log=quiet)
    assert not (tmp_path / "x").exists()
