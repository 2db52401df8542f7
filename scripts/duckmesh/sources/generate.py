"""Deterministic source data for the fictional online retailer.

Every value is a pure function of (row number, column tag, seed) through DuckDB's
``hash()``, and every file is written in key order, so the same scale and seed give
the same bytes. Each domain's operational system drops its own format:

    crm/customers.csv             legacy CRM export (';' delimited, DD/MM/YYYY dates, Y/N flags)
    sales/orders/*.parquet        order headers
    sales/order_lines/*.parquet   order lines
    support/tickets.jsonl         support tickets, one JSON object per line
    marketing/touches/*.parquet   campaign touches (impressions, clicks, e-mails)
    marketing/campaign_spend.csv  daily spend per campaign

A later drop of the order system is a batch (``generate_batch``, ``duckmesh generate
--batch N``): orders_000N.parquet and order_lines_000N.parquet with new orders,
late-arriving orders (new order numbers, old timestamps) and updated versions of
existing orders (same order_id, an order status further along its lifecycle).
Batch 1 is the initial load written by ``generate``.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb

from duckmesh.core import files
from duckmesh.core.fingerprint import file_sha256, source_fingerprint
from duckmesh.core.output import console, step

# Row counts at scale 1; every count scales linearly.
BASE_COUNTS = {
    "customers": 100_000,
    "orders": 1_000_000,
    "tickets": 200_000,
    "touches": 2_000_000,
}
CAMPAIGNS = 40  # fixed: matches domains/marketing/seeds/campaigns.csv
PRODUCTS = 200  # fixed: matches domains/sales/seeds/products.csv
PERIOD_START = "2024-01-01 00:00:00+00"
PERIOD_DAYS = 730
MANIFEST = "_generated.json"
# what the producer of a drop records beside it (sources/validation.py verifies it):
# bytes, rows and SHA-256 of every file, so damage between export and build is caught
PRODUCER_MANIFEST = "_manifest.json"


@dataclass(frozen=True)
class GenerationResult:
    out_dir: Path
    scale: float
    seed: int
    counts: dict[str, int]
    seconds: float
    reused: bool


def row_counts(scale: float) -> dict[str, int]:
    if scale <= 0:
        raise ValueError(f"--scale must be positive, got {scale}")
    return {name: max(1, round(base * scale)) for name, base in BASE_COUNTS.items()}


def _u(tag: str, seed: int, key: str = "i") -> str:
    """A uniform number in [0, 1) drawn from the row key, a column tag and the seed."""
    return f"((hash({key}, '{tag}', {seed}) % 1000000) / 1000000.0)"


def _pick(values: list[str], tag: str, seed: int, key: str = "i") -> str:
    items = ", ".join(f"'{v}'" for v in values)
    return f"([{items}])[1 + (hash({key}, '{tag}', {seed}) % {len(values)})::int]"


def _customers_sql(n: int, seed: int) -> str:
    first = ["Anna", "Ben", "Chloe", "David", "Emma", "Farid", "Grace", "Hugo", "Ines",
             "Jonas", "Kira", "Liam", "Maya", "Noah", "Olga", "Pablo", "Quinn", "Rosa",
             "Sami", "Tara", "Umar", "Vera", "Wim", "Yara", "Zoe"]
    last = ["Smith", "Garcia", "Muller", "Rossi", "Dubois", "Jansen", "Nowak", "Silva",
            "Kowalski", "Berg", "Novak", "Costa", "Fischer", "Moreau", "Lopez", "Meyer"]
    countries = ["DE", "FR", "NL", "ES", "IT", "BE", "PL", "SE", "AT", "PT"]
    segments = ["consumer", "consumer", "consumer", "small_business", "enterprise"]
    # Legacy quirks the staging layer must clean: mixed-case e-mails with stray
    # spaces, DD/MM/YYYY dates, Y/N flags.
    return f"""
    select
        printf('C%08d', i) as "CUST_ID",
        {_pick(first, 'first', seed)} as "FIRST_NAME",
        {_pick(last, 'last', seed)} as "LAST_NAME",
        case when hash(i, 'emailcase', {seed}) % 10 = 0
            then ' ' || upper({_pick(first, 'first', seed)}) || '.' || i || '@Example.COM'
            else lower({_pick(first, 'first', seed)}) || '.' || i || '@example.com'
        end as "EMAIL",
        '+49 ' || lpad(((hash(i, 'phone', {seed}) % 1000000000))::varchar, 9, '0') as "PHONE",
        {_pick(countries, 'country', seed)} as "COUNTRY",
        {_pick(segments, 'segment', seed)} as "SEGMENT",
        strftime(date '2021-01-01' + (hash(i, 'signup', {seed}) % 1460)::int, '%d/%m/%Y')
            as "SIGNUP_DT",
        case when hash(i, 'optin', {seed}) % 3 = 0 then 'N' else 'Y' end as "OPT_IN",
        strftime(timestamp '2025-06-01' + to_seconds((hash(i, 'mod', {seed}) % 15552000)::bigint),
            '%Y-%m-%d %H:%M:%S') as "LAST_MODIFIED"
    from range(1, {n} + 1) as t(i)
    order by i
    """


def _orders_sql(n_orders: int, n_customers: int, seed: int) -> str:
    return f"""
    select
        i as order_id,
        printf('C%08d', 1 + least({n_customers} - 1,
            floor({n_customers} * pow({_u('cust', seed)}, 1.6))::bigint)) as customer_id,
        timestamptz '{PERIOD_START}'
            + to_seconds((hash(i, 'ts', {seed}) % ({PERIOD_DAYS} * 86400))::bigint) as ordered_at,
        case
            when hash(i, 'status', {seed}) % 100 < 80 then 'delivered'
            when hash(i, 'status', {seed}) % 100 < 88 then 'shipped'
            when hash(i, 'status', {seed}) % 100 < 93 then 'placed'
            when hash(i, 'status', {seed}) % 100 < 97 then 'returned'
            else 'cancelled'
        end as status,
        {_pick(['web', 'web', 'app', 'store'], 'channel', seed)} as channel,
        case when hash(i, 'ship', {seed}) % 4 = 0 then 0
            else 4.95 end::decimal(10, 2) as shipping_cost,
        (1 + hash(i, 'nlines', {seed}) % 5)::int as line_count
    from range(1, {n_orders} + 1) as t(i)
    order by i
    """


def _order_lines_sql(seed: int) -> str:
    # One row per (order, line number); line_count averages 3.
    return f"""
    with lines as (
        select order_id, unnest(range(1, line_count + 1)) as line_number
        from orders
    )
    select
        order_id * 10 + line_number as order_line_id,
        order_id,
        line_number::int as line_number,
        (1 + hash(order_id, line_number, 'product', {seed}) % {PRODUCTS})::int as product_id,
        (1 + hash(order_id, line_number, 'qty', {seed}) % 3)::int as quantity,
        (5 + (hash(order_id, line_number, 'price', {seed}) % 19500) / 100.0)::decimal(10, 2)
            as unit_price,
        (case when hash(order_id, line_number, 'disc', {seed}) % 5 = 0
            then (hash(order_id, line_number, 'discamt', {seed}) % 500) / 100.0
            else 0 end)::decimal(10, 2) as discount
    from lines
    order by order_id, line_number
    """


def _tickets_sql(n_tickets: int, n_orders: int, n_customers: int, seed: int) -> str:
    return f"""
    with base as (
        select
            i,
            hash(i, 'linked', {seed}) % 10 < 7 as is_linked,
            1 + hash(i, 'order', {seed}) % {n_orders} as linked_order_id
        from range(1, {n_tickets} + 1) as t(i)
    ),
    tickets as (
        select
            b.i,
            case when b.is_linked then o.order_id end as order_id,
            case when b.is_linked then o.customer_id
                else printf('C%08d', 1 + hash(b.i, 'cust', {seed}) % {n_customers})
            end as customer_id,
            case when b.is_linked
                then o.ordered_at + to_seconds((3600 + hash(b.i, 'lag', {seed}) % 1209600)::bigint)
                else timestamptz '{PERIOD_START}'
                    + to_seconds((hash(b.i, 'ts', {seed}) % ({PERIOD_DAYS} * 86400))::bigint)
            end as opened_at
        from base as b
        left join orders as o on b.linked_order_id = o.order_id
    )
    select
        'T' || lpad(i::varchar, 9, '0') as ticket_id,
        customer_id,
        order_id,
        {_pick(['email', 'chat', 'phone'], 'channel', seed)} as channel,
        {_pick(['delivery', 'returns', 'payment', 'product', 'account'], 'cat', seed)}
            as category,
        {_pick(['low', 'normal', 'normal', 'high', 'urgent'], 'prio', seed)} as priority,
        strftime(opened_at at time zone 'UTC', '%Y-%m-%dT%H:%M:%SZ') as opened_at,
        case when hash(i, 'closed', {seed}) % 10 < 9
            then strftime((opened_at + to_seconds((600 + hash(i, 'res', {seed}) % 432000)::bigint))
                at time zone 'UTC', '%Y-%m-%dT%H:%M:%SZ')
        end as closed_at,
        case when hash(i, 'surveyed', {seed}) % 10 < 6
            then ([1, 2, 3, 3, 4, 4, 4, 5, 5, 5])[1 + (hash(i, 'csat', {seed}) % 10)::int]
        end as csat_score
    from tickets
    order by i
    """


def _touches_sql(n_touches: int, n_customers: int, seed: int) -> str:
    return f"""
    select
        i as touch_id,
        printf('C%08d', 1 + least({n_customers} - 1,
            floor({n_customers} * pow({_u('cust', seed)}, 1.3))::bigint)) as customer_id,
        (1 + hash(i, 'campaign', {seed}) % {CAMPAIGNS})::int as campaign_id,
        {_pick(['impression', 'impression', 'click', 'email_open'], 'kind', seed)} as touch_type,
        timestamptz '{PERIOD_START}'
            + to_seconds((hash(i, 'ts', {seed}) % ({PERIOD_DAYS} * 86400))::bigint) as touched_at
    from range(1, {n_touches} + 1) as t(i)
    order by i
    """


def _spend_sql(scale: float, seed: int) -> str:
    # Each campaign runs for 60-180 days; spend scales with the customer base.
    return f"""
    with campaigns as (
        select
            c as campaign_id,
            (hash(c, 'start', {seed}) % ({PERIOD_DAYS} - 180))::int as start_day,
            (60 + hash(c, 'length', {seed}) % 121)::int as length_days
        from range(1, {CAMPAIGNS} + 1) as t(c)
    ),
    days as (
        select campaign_id, unnest(range(start_day, start_day + length_days)) as day_number
        from campaigns
    )
    select
        campaign_id,
        strftime(date '2024-01-01' + day_number::int, '%Y-%m-%d') as spend_date,
        round((4000 + (hash(campaign_id, day_number, 'spend', {seed}) % 1600000) / 100.0)
            * {scale}, 2)::decimal(12, 2) as spend_eur
    from days
    order by campaign_id, day_number
    """


# An order only moves forward: placed -> shipped -> delivered -> returned, or
# placed -> cancelled. An update re-sends the header with the next status.
NEXT_STATUS = {"placed": "shipped", "shipped": "delivered", "delivered": "returned"}


def batch_counts(scale: float, batch: int) -> dict[str, int]:
    """Orders in batch N >= 2: new, late-arriving and updated (each about 1%, 0.5%, 1%)."""
    orders = row_counts(scale)["orders"]
    return {"new_orders": max(2, orders // 100), "late_orders": max(1, orders // 200),
            "updated_orders": max(1, orders // 100)}


def _batch_orders_sql(scale: float, seed: int, batch: int) -> str:
    counts = row_counts(scale)
    extra = batch_counts(scale, batch)
    per_batch = extra["new_orders"] + extra["late_orders"]
    first_id = counts["orders"] + (batch - 2) * per_batch + 1
    last_id = first_id + per_batch - 1
    day = PERIOD_DAYS + batch - 2  # new orders: the day after the previous drop
    nexts = " ".join(f"when '{a}' then '{b}'" for a, b in NEXT_STATUS.items())
    return f"""
    with base as ({_orders_sql(counts['orders'], counts['customers'], seed)}),
    arrived as (
        select * replace (
            case when order_id - {first_id} < {extra['late_orders']}
                then timestamptz '{PERIOD_START}'
                    + to_seconds((hash(order_id, 'late', {seed}) % ({PERIOD_DAYS} * 86400))::bigint)
                else timestamptz '{PERIOD_START}' + to_days({day})
                    + to_seconds((hash(order_id, 'ts', {seed}) % 86400)::bigint)
            end as ordered_at)
        from ({_orders_sql(last_id, counts['customers'], seed)}) as numbered
        where order_id >= {first_id}
    ),
    updated as (
        select * replace (case status {nexts} end as status)
        from base
        where status in ({", ".join(f"'{s}'" for s in NEXT_STATUS)})
        order by hash(order_id, 'update', {seed}, {batch})
        limit {extra['updated_orders']}
    )
    select * from arrived
    union all
    select * from updated
    order by order_id
    """


def generate_batch(out_dir: Path, batch: int, log=step) -> dict[str, int]:
    """Write batch N (>= 2) of the order system next to the initial load in out_dir."""
    out_dir = Path(out_dir)
    marker = out_dir / MANIFEST
    if batch < 2:
        raise ValueError("--batch must be 2 or more (batch 1 is the initial load)")
    if not marker.exists():
        raise ValueError(f"no generated data in {out_dir}: run generate first")
    generated = json.loads(marker.read_text())
    scale, seed = generated["scale"], generated["seed"]
    started = time.perf_counter()
    con = duckdb.connect()
    con.execute("set preserve_insertion_order = true")
    con.execute("set timezone = 'UTC'")
    con.execute(f"create table batch as {_batch_orders_sql(scale, seed, batch)}")
    # Lines arrive with their (new or late) order; an update re-sends only the header.
    con.execute(f"create table orders as select * from batch "
                f"where order_id > {row_counts(scale)['orders']}")
    _copy(con, "select * exclude (line_count) from batch order by order_id",
          out_dir / f"sales/orders/orders_{batch:04d}.parquet", "format parquet, compression zstd")
    _copy(con, _order_lines_sql(seed),
          out_dir / f"sales/order_lines/order_lines_{batch:04d}.parquet",
          "format parquet, compression zstd")
    counts = {**batch_counts(scale, batch),
              "order_lines": con.execute("select coalesce(sum(line_count), 0) from orders")
              .fetchall()[0][0]}
    record_files(con, out_dir, [f"sales/orders/orders_{batch:04d}.parquet",
                                f"sales/order_lines/order_lines_{batch:04d}.parquet"])
    con.close()
    files.private_tree(out_dir, log=None)  # the new files 0640, like the rest
    log(f"  batch {batch}: {counts} in {time.perf_counter() - started:.2f}s")
    return counts


def generate(out_dir: Path, scale: float = 0.1, seed: int = 42, force: bool = False,
             log=step) -> GenerationResult:
    """Write every source file under ``out_dir``; reuse them when already generated."""
    counts = row_counts(scale)
    out_dir = Path(out_dir)
    marker = out_dir / MANIFEST
    fingerprint = source_fingerprint(Path(__file__), scale, seed)
    if not force and marker.exists():
        previous = json.loads(marker.read_text())
        if previous.get("fingerprint") == fingerprint:
            log(f"source data for scale {scale} already in {out_dir} (reusing)")
            files.private_tree(out_dir, log=log)  # personal data: 0640 files, 0750 folders
            return GenerationResult(out_dir, scale, seed, previous["counts"], 0.0, True)

    started = time.perf_counter()
    # Write into a sibling folder, then swap it in: a crash never leaves half a data set.
    staging = out_dir.with_name(out_dir.name + ".tmp")
    if staging.exists():
        _rmtree(staging)
    # private before anything is written: customers.csv holds names, e-mails, phones
    files.private_dir(staging, log=None)
    for sub in ("crm", "sales/orders", "sales/order_lines", "support", "marketing/touches"):
        (staging / sub).mkdir(parents=True, exist_ok=True)

    con = duckdb.connect()
    con.execute("set preserve_insertion_order = true")
    con.execute("set timezone = 'UTC'")
    steps = [
        ("customers", lambda: _copy(con, _customers_sql(counts["customers"], seed),
                                    staging / "crm/customers.csv", "format csv, delimiter ';', header true")),
        ("orders", lambda: _orders(con, counts, seed, staging)),
        ("order lines", lambda: _copy(con, _order_lines_sql(seed),
                                      staging / "sales/order_lines/order_lines_0001.parquet",
                                      "format parquet, compression zstd")),
        ("tickets", lambda: _copy(con, _tickets_sql(counts["tickets"], counts["orders"],
                                                    counts["customers"], seed),
                                  staging / "support/tickets.jsonl", "format json")),
        ("touches", lambda: _copy(con, _touches_sql(counts["touches"], counts["customers"], seed),
                                  staging / "marketing/touches/touches_0001.parquet",
                                  "format parquet, compression zstd")),
        ("campaign spend", lambda: _copy(con, _spend_sql(scale, seed),
                                         staging / "marketing/campaign_spend.csv",
                                         "format csv, header true")),
    ]
    with console().progress(f"source data, scale {scale:g}", len(steps)) as bar:
        for number, (label, write) in enumerate(steps, start=1):
            t0 = time.perf_counter()
            write()
            log(f"  [{number}/{len(steps)}] {label:<15} {time.perf_counter() - t0:6.2f}s")
            bar.advance()
    counts["order_lines"] = con.execute("select sum(line_count) from orders").fetchall()[0][0]
    record_files(con, staging, [p.relative_to(staging).as_posix()
                                for p in sorted(staging.rglob("*")) if p.is_file()])
    con.close()

    seconds = time.perf_counter() - started
    (staging / MANIFEST).write_text(json.dumps(
        {"scale": scale, "seed": seed, "fingerprint": fingerprint, "counts": counts}, indent=2,
        sort_keys=True) + "\n")
    files.private_tree(staging, log=None)  # DuckDB's COPY writes with the umask's modes
    if out_dir.exists():
        _rmtree(out_dir)
    staging.rename(out_dir)
    return GenerationResult(out_dir, scale, seed, counts, seconds, False)


def _orders(con: duckdb.DuckDBPyConnection, counts: dict[str, int], seed: int,
            staging: Path) -> None:
    con.execute(f"create table orders as {_orders_sql(counts['orders'], counts['customers'], seed)}")
    _copy(con, "select * exclude (line_count) from orders order by order_id",
          staging / "sales/orders/orders_0001.parquet", "format parquet, compression zstd")


def record_files(con: duckdb.DuckDBPyConnection, out_dir: Path, relatives: list[str]) -> None:
    """Add the files (paths relative to ``out_dir``) to its producer manifest: bytes,
    rows (Parquet: from the footer; CSV: lines after the header; JSON lines: lines) and
    SHA-256."""
    manifest = out_dir / PRODUCER_MANIFEST
    recorded = json.loads(manifest.read_text()) if manifest.exists() else {"files": {}}
    for relative in relatives:
        path = out_dir / relative
        if path.suffix == ".parquet":
            rows = con.execute("select sum(row_group_num_rows) from (select distinct "
                               "row_group_id, row_group_num_rows from parquet_metadata(?))",
                               [str(path)]).fetchall()[0][0]
        else:
            with path.open("rb") as handle:
                rows = sum(1 for line in handle if line.strip()) - (path.suffix == ".csv")
        digest = file_sha256(path)
        recorded["files"][relative] = {"bytes": path.stat().st_size, "rows": int(rows),
                                       "sha256": digest}
    manifest.write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n")


def _copy(con: duckdb.DuckDBPyConnection, query: str, path: Path, options: str) -> None:
    con.execute(f"copy ({query}) to '{path.as_posix()}' ({options})")


def _rmtree(path: Path) -> None:
    shutil.rmtree(path)


def describe(result: GenerationResult) -> str:
    rows = ", ".join(f"{k}={v:,}" for k, v in sorted(result.counts.items()))
    how = "reused" if result.reused else f"generated in {result.seconds:.1f}s"
    return f"source data (scale {result.scale}, seed {result.seed}) {how}: {rows}"


def as_dict(result: GenerationResult) -> dict:
    data = asdict(result)
    data["out_dir"] = str(result.out_dir)
    return data
