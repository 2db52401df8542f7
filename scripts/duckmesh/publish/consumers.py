"""Per-consumer databases: ``published/consumers/<consumer>/mesh.duckdb`` holds only the
products that consumer may read (publish.access), with restricted columns masked.

A product the consumer sees exactly as its public Parquet port holds it (the same
select list, so the same masking) is a view over that port, by the port's absolute path
in the snapshot (``snapshots/<id>/ports/...``, which never changes once committed): no
copy of its rows. Only a product the consumer sees more of than the port (a column
restricted to readers it belongs to) is a table of its own. The ports each file reads
are listed in its ``_duckmesh.ports`` table (`duckmesh query --db` allows exactly those)."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from duckmesh.core.sql import qualified_name, quote_ident, sql_path
from duckmesh.publish import access, files, verify
from duckmesh.publish.ports import Guard


def write_consumer(work: Path, consumer: str, snapshot: str, entries: dict, guard: Guard,
                   previous_root: Path | None = None,
                   previous_tables: dict | None = None) -> dict:
    """<consumer>/mesh.duckdb: the products ``consumer`` may read, masked (by column
    rule and by lineage: publish.derived); return relation -> {select, rows, checksum}
    for a table, {select, rows, port} for a view over the product's port. A table whose
    product checksum and select list equal the previous snapshot's is kept from a copy
    of that snapshot's file."""
    # <consumer>/mesh.duckdb: a file named after a domain would make its catalog name
    # clash with that domain's schema
    folder = work / "consumers" / consumer
    folder.mkdir(parents=True)
    path = folder / "mesh.duckdb"
    wanted = {}
    for relation, entry in sorted(entries.items()):
        policy = guard.policies.get(entry["unique_id"])
        if policy is None or not access.may_read(policy, consumer, guard.groups):
            continue
        columns = [(str(c), str(t)) for c, t in entry["columns"]]
        wanted[relation] = (policy, guard.select(entry["unique_id"], consumer, columns),
                            columns)
    # where the ports are once the snapshot is committed (work is its .tmp- folder)
    final = work.parent / snapshot
    views = {r: final / verify.port_file(entries[r]) for r, (_, select, _) in wanted.items()
             if select == entries[r].get("port_select")
             and (work / verify.port_file(entries[r])).is_file()}
    previous_tables = previous_tables or {}
    keep = {r for r, (_, select, _) in wanted.items()
            if r not in views and "checksum" in previous_tables.get(r, {})
            and previous_tables[r].get("select") == select
            and previous_tables[r].get("source_checksum") == entries[r]["checksum"]
            and previous_tables[r].get("source_rows") == entries[r]["rows"]}
    # A dropped table's pages stay in the file as free blocks: start from the previous file
    # only when this consumer may still read everything it held, with the same masking, so
    # a copy never carries data the consumer may no longer read.
    same_access = all(r in wanted and wanted[r][1] == t.get("select")
                      for r, t in previous_tables.items() if "checksum" in t)
    base = files.reusable_base(previous_root, Path("consumers") / consumer / "mesh.duckdb") \
        if keep and same_access else None
    if base is not None:
        shutil.copyfile(base, path)
    else:
        keep = set()
    con = duckdb.connect(str(path))
    tables = {}
    try:
        if base is not None:
            files.clear(con, con.execute("select current_database()").fetchall()[0][0], keep)
        con.execute(f"attach {sql_path(work / 'mesh.duckdb')} as src (read_only)")
        rows = []
        for relation, (_, select, columns) in wanted.items():
            entry = entries[relation]
            schema, name = relation.split(".", 1)
            if relation in views:
                con.execute(f"create schema if not exists {quote_ident(schema)}")
                con.execute(f"create view {qualified_name(schema, name)} as select * "
                            f"from read_parquet({sql_path(views[relation])})")
                tables[relation] = {"select": select, "rows": entry["rows"],
                                    "port": views[relation].as_posix(),
                                    "source_rows": entry["rows"],
                                    "source_checksum": entry["checksum"]}
                if entry["latest"]:
                    con.execute(f"create view {qualified_name(schema, entry['product'])} as "
                                f"select * from {qualified_name(schema, name)}")
                rows.append([relation, entry["domain"], entry["product"], entry["version"],
                             entry["rows"], None, f"for {consumer}: view of its port"])
                continue
            if relation in keep:
                count, checksum = (previous_tables[relation]["rows"],
                                   previous_tables[relation]["checksum"])
            else:
                con.execute(f"create schema if not exists {quote_ident(schema)}")
                con.execute(f"create table {qualified_name(schema, name)} as select {select} "
                            f"from src.{quote_ident(schema)}.{quote_ident(name)}")
                if select == ", ".join(quote_ident(c) for c, _ in columns):
                    count, checksum = entry["rows"], entry["checksum"]  # the same rows
                else:
                    count, checksum = files.checksum(con, schema, name)
            if entry["latest"]:
                con.execute(f"create view {quote_ident(schema)}.{quote_ident(entry['product'])} as "
                            f"select * from {quote_ident(schema)}.{quote_ident(name)}")
            tables[relation] = {"select": select, "rows": count, "checksum": checksum,
                                "source_rows": entry["rows"],
                                "source_checksum": entry["checksum"]}
            rows.append([relation, entry["domain"], entry["product"], entry["version"],
                         count, checksum, f"for {consumer}"])
        con.execute("detach src")
        files.metadata(con, snapshot, rows)
        con.execute("create table _duckmesh.ports (relation varchar, path varchar)")
        if views:
            con.executemany("insert into _duckmesh.ports values (?, ?)",
                            [[r, p.as_posix()] for r, p in sorted(views.items())])
        con.execute("checkpoint")
    finally:
        con.close()
    return tables
