"""Legacy database sources: a table of a running database, landed as a file drop.

A source whose ``validation`` block has an ``extract`` entry is a table of a legacy
database (an ERP, a CRM's own database)::

    validation:
      format: parquet
      path: erp/invoices.parquet          # where the extract lands in the data folder
      key: [invoice_id]
      extract: {plugin: postgres, table: public.invoices, dsn_env: ERP_DSN}

Before the source checks, the table is read in one query (one consistent snapshot of it)
through ``Plugin``, a dbt-duckdb plugin over ADBC's PostgreSQL driver, which keeps the
database's integer, date and timestamp types and its numeric(p, s) as decimal(p, s).
It lands as one Parquet file at ``path`` with a producer manifest beside it (rows, bytes,
SHA-256), written to a temporary file and renamed only once the whole table was read:
a dropped connection or a refused login lands nothing and stops the build before dbt,
and the last good extract stays where it was. From there it is a file drop like any
other: the same source contract, quarantine of bad rows with their reasons, and schema
drift (a column the database dropped or retyped) as the other sources.

The connection string comes from the environment variable the source names
(``dsn_env``), never from the project. The same plugin can be loaded by a dbt-duckdb
profile (``plugins: [{module: duckmesh.sources.legacy, alias: legacy}]``) for a source
with ``meta: {plugin: legacy, table: ..., dsn_env: ...}``; docs/sources.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import duckdb
from dbt.adapters.duckdb.plugins import BasePlugin
from dbt.adapters.duckdb.utils import SourceConfig

from duckmesh.core import files
from duckmesh.core.sql import quote_ident, quote_literal
from duckmesh.sources.validation import MANIFEST, SourceSpec, SourceSpecError

if TYPE_CHECKING:
    import pyarrow

INSTALL = "make legacy (or pip install -e '.[legacy]')"


class LegacyReadError(SourceSpecError):
    """A legacy table that could not be read whole: nothing was landed."""


def where(dsn: str) -> str:
    """host:port/database of a connection string, without its user or password."""
    parts = urlsplit(dsn)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{host}{port}{parts.path or '/'}"


def _first_line(error: Exception) -> str:
    """The server's own words (FATAL: ..., ERROR: ...) or the driver's first line."""
    text = " ".join(str(error).split())
    found = re.search(r"\b(FATAL|ERROR):\s.*?(?=\s*\. SQLSTATE|$)", text)
    return (found.group(0) if found else text or type(error).__name__)[:300]


def read_table(dsn: str, table: str) -> pyarrow.Table:
    """The whole of ``table`` in one query, as Arrow (the database's types kept)."""
    try:
        import adbc_driver_manager  # noqa: PLC0415 (the optional `legacy` extra)
        import adbc_driver_postgresql.dbapi as postgres  # noqa: PLC0415
    except ImportError as error:
        raise LegacyReadError(f"reading a legacy PostgreSQL table needs the `legacy` extra: "
                              f"{INSTALL}") from error
    schema, _, name = table.rpartition(".")
    relation = ".".join(quote_ident(part) for part in (schema, name) if part)
    try:
        with postgres.connect(dsn) as connection, connection.cursor() as cursor:
            cursor.execute(f"select * from {relation}")  # noqa: S608 (quoted identifiers)
            return cursor.fetch_arrow_table()
    except adbc_driver_manager.Error as error:
        raise LegacyReadError(_first_line(error)) from error


class Plugin(BasePlugin):
    """dbt-duckdb plugin: ``load`` returns a source's legacy table as Arrow. Settings
    (profile ``config:`` or the source's meta): ``table``, and ``dsn_env`` naming the
    environment variable with the connection string."""

    def initialize(self, plugin_config: dict[str, Any]) -> None:
        self.dsn_env = str(plugin_config.get("dsn_env") or "")
        self.dsn = str(plugin_config.get("dsn") or "")  # given by the platform's landing

    def load(self, source_config: Any) -> pyarrow.Table:
        table = str(source_config.get("table") or source_config.table_name())
        dsn_env = source_config.get("dsn_env") or self.dsn_env
        return read_table(self.dsn or connection_string(dsn_env, table), table)


def connection_string(dsn_env: str, what: str) -> str:
    dsn = os.environ.get(dsn_env, "")
    if not dsn:
        raise LegacyReadError(
            f"{what}: set {dsn_env} to the legacy database's connection string "
            f"(postgresql://USER:PASSWORD@HOST:PORT/DATABASE); it is read from the "
            "environment, never from the project")
    return dsn


def _numeric_casts(table: pyarrow.Table) -> list[str]:
    """The select list that gives each numeric(p, s) column its decimal type (ADBC hands
    numerics over as their text); other columns as Arrow has them."""
    items = []
    for field in table.schema:
        meta = {k.decode(): v.decode() for k, v in (field.metadata or {}).items()}
        name = quote_ident(field.name)
        typmod = int(meta.get("POSTGRESQL:typmod", "-1") or -1)
        if meta.get("POSTGRESQL:type") == "numeric" and typmod >= 4:
            precision, scale = (typmod - 4) >> 16, (typmod - 4) & 0xFFFF
            if precision <= 38:
                items.append(f"cast({name} as decimal({precision}, {scale})) as {name}")
                continue
        items.append(name)
    return items


def land(spec: SourceSpec, data_dir: Path, dsn: str | None = None) -> tuple[int, float]:
    """Read ``spec``'s legacy table and land it at ``data_dir / spec.path`` with its
    producer manifest: (rows, seconds). ``dsn``: the connection string, else the one in
    the source's ``dsn_env``. Raises LegacyReadError, landing nothing."""
    assert spec.extract is not None
    extract = spec.extract
    what = f"source {spec.name} (legacy table {extract.table}, domains/{spec.domain})"
    dsn = dsn or connection_string(extract.dsn_env, what)
    started = time.perf_counter()
    plugin = BasePlugin.create("duckmesh.sources.legacy", alias=extract.plugin,
                               config={"dsn_env": extract.dsn_env, "dsn": dsn})
    try:
        schema, _, name = extract.table.rpartition(".")
        arrow = plugin.load(SourceConfig(
            name=spec.source, identifier=name, schema=schema or "public", database=None,
            meta={"table": extract.table}, tags=[]))
    except LegacyReadError as error:
        raise LegacyReadError(
            f"{what}: reading it from {where(dsn)} failed: {error}: nothing was landed "
            f"(the last extract, if any, is kept); check {extract.dsn_env} and the database, "
            "then build again") from error
    target = data_dir / spec.path
    files.private_dir(target.parent, log=None)  # a legacy table may hold personal data
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".landing",
                                         dir=target.parent)
    os.close(handle)
    try:
        connection = duckdb.connect()
        try:
            connection.register("legacy_table", arrow)
            connection.execute(
                f"copy (select {', '.join(_numeric_casts(arrow))} from legacy_table) "
                f"to {quote_literal(temporary)} (format parquet, compression zstd)")
        finally:
            connection.close()
        os.replace(temporary, target)
    finally:
        Path(temporary).unlink(missing_ok=True)
    _record(target, arrow.num_rows)
    files.private_tree(target.parent, log=None)
    return arrow.num_rows, time.perf_counter() - started


def _record(target: Path, rows: int) -> None:
    """The producer manifest beside the landed file: what the read returned, so a file
    cut short or changed later is caught by the source checks like any drop's."""
    with target.open("rb") as landed:
        digest = hashlib.file_digest(landed, "sha256").hexdigest()
    manifest = target.parent / MANIFEST
    try:
        recorded = json.loads(manifest.read_text()) if manifest.is_file() else {}
    except ValueError:
        recorded = {}
    entries = recorded.get("files") if isinstance(recorded, dict) else None
    entries = entries if isinstance(entries, dict) else {}
    entries[target.name] = {"rows": rows, "bytes": target.stat().st_size, "sha256": digest}
    handle, temporary = tempfile.mkstemp(prefix=".manifest.", dir=target.parent)
    with os.fdopen(handle, "w") as out:
        out.write(json.dumps({"files": entries}, indent=2) + "\n")
    os.replace(temporary, manifest)


def land_all(specs: list[SourceSpec], data_dir: Path) -> list[str]:
    """Land every legacy source of ``specs``: one line each for the build's log."""
    lines = []
    for spec in specs:
        if spec.extract is None:
            continue
        rows, seconds = land(spec, data_dir)
        lines.append(f"landed {spec.name} from legacy table {spec.extract.table}: "
                     f"{rows:,} rows in {seconds:.2f}s -> {spec.path}")
    return lines
