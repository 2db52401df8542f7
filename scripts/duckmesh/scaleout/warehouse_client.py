"""The warehouse side of `duckmesh warehouse`: runs in the warehouse's own virtual
environment (.venv-snowflake, .venv-bigquery: make warehouses), never in the platform's,
so it imports only the standard library, Jinja2 and PyYAML (which dbt brings) and the
warehouse's client library (snowflake-connector-python, google-cloud-bigquery).

    python -m duckmesh.scaleout.warehouse_client check|load|export PLAN.json

The connection is the dbt profile's target (profiles/profiles.yml rendered with the
process environment, as dbt renders it), so the credentials live in one place.

- ``check``: connect and run one query.
- ``load``: the mesh's metadata schema (the PII salt, the project files governance
  reads) and every file source, from the files the platform wrote (Snowflake: a stage,
  PUT and COPY INTO; BigQuery: a CSV load job per table).
- ``export``: every product's rows as JSON lines of normalised values (``normalised``),
  which the platform compares with the DuckDB build.

Any failure is one line on stderr naming the target, exit status 2, or 3 when the
warehouse cannot be reached or refuses the credentials (the platform adds the fix).
"""

from __future__ import annotations

import datetime
import decimal
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import jinja2
import yaml

# doubles are compared rounded: engines may differ in the last bits
DOUBLE_DIGITS = 6
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def normalised(value: Any) -> str | None:
    """One value as text that is equal on every engine: instants as epoch microseconds,
    decimals without trailing zeros, doubles rounded; null stays null."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{round(value, DOUBLE_DIGITS) + 0.0:.{DOUBLE_DIGITS}f}"
    if isinstance(value, decimal.Decimal):
        return format(value.normalize(), "f") if value else "0"
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            return value.isoformat()
        delta = value - EPOCH
        return str((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds)
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


class WarehouseError(Exception):
    """A failure with its one-line message."""


class ConnectError(WarehouseError):
    """The warehouse cannot be reached or refuses the credentials (exit status 3)."""


def profile(root: Path, target: str) -> dict[str, Any]:
    """The target's outputs entry of profiles/profiles.yml, rendered as dbt renders it
    (env_var with its default; a value that renders to None, empty or 'None' is unset)."""

    def env_var(name: str, default: str | None = None) -> str:
        value = os.environ.get(name, default)
        if value is None:
            raise WarehouseError(f"profiles/profiles.yml target {target}: environment "
                                 f"variable {name} is not set")
        return value

    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    document = yaml.safe_load((root / "profiles" / "profiles.yml").read_text())
    raw = document["duckmesh"]["outputs"].get(target)
    if raw is None:
        raise WarehouseError(f"profiles/profiles.yml has no target {target}")
    rendered: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, str):
            value = environment.from_string(value).render(env_var=env_var, none=None).strip()
            if value in ("", "None"):
                continue
        rendered[key] = value
    return rendered


# --- Snowflake -----------------------------------------------------------------------

class Snowflake:
    def __init__(self, settings: dict[str, Any], emulated: bool) -> None:
        import snowflake.connector

        keys = ("account", "user", "password", "role", "warehouse", "host", "port",
                "protocol", "authenticator", "private_key_path")
        options = {key: settings[key] for key in keys if key in settings}
        self.database = str(settings["database"])
        self.emulated = emulated
        try:
            self.connection = snowflake.connector.connect(
                **options, login_timeout=int(settings.get("connect_timeout", 30)),
                network_timeout=int(settings.get("connect_timeout", 30)))
        except Exception as error:  # the connector raises many kinds
            raise ConnectError(f"cannot connect ({_first_line(error)})") from error
        self.cursor = self.connection.cursor()

    def run(self, sql: str) -> list[tuple]:
        try:
            self.cursor.execute(sql)
            return list(self.cursor.fetchall())
        except Exception as error:
            raise WarehouseError(f"{_first_line(error)} (in: {sql[:120]})") from error

    def load(self, plan: dict[str, Any]) -> None:
        if self.emulated:  # a real account has the database already (and the role may not create one)
            self.run(f"create database if not exists {self.database}")
        for table in plan["tables"]:
            where = f"{self.database}.{table['schema']}"
            self.run(f"create schema if not exists {where}")
            self.run(f"create stage if not exists {where}.duckmesh_load")
            columns = ", ".join(f"{name} {kind}" for name, kind in table["columns"])
            self.run(f"create or replace table {where}.{table['table']} ({columns})")
            folder = f"@{where}.duckmesh_load/{table['table']}"
            self.run(f"put 'file://{table['file']}' {folder}/ auto_compress = false overwrite = true")
            self.run(f"copy into {where}.{table['table']} from {folder}/{Path(table['file']).name} "
                     "file_format = (type = csv skip_header = 1 field_optionally_enclosed_by = '\"' "
                     "empty_field_as_null = true) force = true")

    def rows(self, relation: str, columns: Sequence[Sequence[str]]) -> Iterator[tuple]:
        select = ", ".join(f"date_part(epoch_microsecond, {name})" if _instant(kind) else name
                           for name, kind in columns)
        self.cursor.execute(f"select {select} from {self.database}.{relation}")
        while batch := self.cursor.fetchmany(10_000):
            yield from batch


# --- BigQuery ------------------------------------------------------------------------

class BigQuery:
    def __init__(self, settings: dict[str, Any], emulated: bool) -> None:
        from google.api_core.client_options import ClientOptions
        from google.cloud import bigquery

        self.bigquery = bigquery
        self.database = str(settings["project"])
        method = settings.get("method", "oauth")
        if method == "oauth-secrets":
            from google.oauth2.credentials import Credentials
            credentials: Any = Credentials(token=settings.get("token"))
        elif method == "service-account":
            from google.oauth2 import service_account
            credentials = service_account.Credentials.from_service_account_file(
                settings["keyfile"])
        else:
            import google.auth
            credentials, _ = google.auth.default()
        endpoint = settings.get("api_endpoint")
        self.client = bigquery.Client(
            project=self.database, credentials=credentials, location=settings.get("location"),
            client_options=ClientOptions(api_endpoint=endpoint) if endpoint else None)
        self.emulated = emulated

    def run(self, sql: str) -> list[tuple]:
        try:
            return [tuple(row.values()) for row in self.client.query(sql).result(timeout=60)]
        except Exception as error:
            kind = ConnectError if _refused(error) else WarehouseError
            raise kind(f"{_first_line(error)} (in: {sql[:120]})") from error

    def load(self, plan: dict[str, Any]) -> None:
        bigquery = self.bigquery
        for table in plan["tables"]:
            try:
                self.client.create_dataset(f"{self.database}.{table['schema']}", exists_ok=True)
                config = bigquery.LoadJobConfig(
                    source_format="CSV", skip_leading_rows=1,
                    write_disposition="WRITE_TRUNCATE",
                    schema=[self.field(name, kind) for name, kind in table["columns"]])
                with open(table["file"], "rb") as data:
                    job = self.client.load_table_from_file(
                        data, f"{self.database}.{table['schema']}.{table['table']}",
                        job_config=config)
                job.result(timeout=300)
            except Exception as error:
                raise WarehouseError(f"loading {table['schema']}.{table['table']} from "
                                     f"{table['file']}: {_first_line(error)}") from error

    def field(self, name: str, kind: str) -> Any:
        """A load job's column: numeric(p,s) as NUMERIC with its precision and scale."""
        base, _, arguments = kind.upper().partition("(")
        if not arguments:
            return self.bigquery.SchemaField(name, base)
        precision, scale = (int(part) for part in arguments.rstrip(")").split(","))
        return self.bigquery.SchemaField(name, base, precision=precision, scale=scale)

    def rows(self, relation: str, columns: Sequence[Sequence[str]]) -> Iterator[tuple]:
        select = ", ".join(f"unix_micros({name})" if _instant(kind) else name
                           for name, kind in columns)
        sql = f"select {select} from `{self.database}`.{relation}"
        for row in self.client.query(sql).result(timeout=300):
            yield tuple(row.values())


CLIENTS: dict[str, Callable[[dict[str, Any], bool], Snowflake | BigQuery]] = {
    "snowflake": Snowflake, "bigquery": BigQuery}


def _instant(data_type: str) -> bool:
    """A contract type of an instant: exported as epoch microseconds by the warehouse
    (``normalised`` gives the same for DuckDB's), and so never through the client's
    own conversion (fakesnow's result format turns a null instant into 1970-01-01)."""
    return data_type.lower().replace(" ", "") in ("timestampwithtimezone", "timestamp_tz")


def _refused(error: BaseException) -> bool:
    """No answer, or the credentials refused (401/403)."""
    code = getattr(error, "code", None)
    return code in (401, 403) or "Connection refused" in str(error) \
        or "Max retries exceeded" in str(error)


def _first_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text[:300] or type(error).__name__


def connect(plan: dict[str, Any]) -> Snowflake | BigQuery:
    settings = profile(Path(plan["root"]), plan["target"])
    kind = settings.get("type")
    if kind not in CLIENTS:
        raise WarehouseError(f"profiles/profiles.yml target {plan['target']} is type {kind}, "
                             f"not one of {', '.join(CLIENTS)}")
    return CLIENTS[kind](settings, bool(plan.get("emulated")))


def command_check(plan: dict[str, Any]) -> None:
    client = connect(plan)
    client.run("select 1")


def command_load(plan: dict[str, Any]) -> None:
    client = connect(plan)
    client.load(plan)


def command_export(plan: dict[str, Any]) -> None:
    client = connect(plan)
    for product in plan["products"]:
        with open(product["file"], "w") as out:
            for row in client.rows(product["relation"], product["columns"]):
                out.write(json.dumps([normalised(value) for value in row]) + "\n")


COMMANDS = {"check": command_check, "load": command_load, "export": command_export}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in COMMANDS:
        sys.stderr.write(f"usage: warehouse_client {{{'|'.join(COMMANDS)}}} PLAN.json\n")
        return 2
    plan = json.loads(Path(argv[1]).read_text())
    try:
        COMMANDS[argv[0]](plan)
    except WarehouseError as error:
        sys.stderr.write(f"{plan['target']} target: {error}\n")
        return 3 if isinstance(error, ConnectError) else 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
