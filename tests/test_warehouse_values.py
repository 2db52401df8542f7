"""The parts of `duckmesh warehouse` that need no warehouse: how values are compared
across engines, how source column types are named on each warehouse (through the one
type table), and the error that names a type no warehouse rendering exists for."""

from __future__ import annotations

import datetime
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from duckmesh.core.project import MeshError
from duckmesh.scaleout.warehouse import (
    WAREHOUSES,
    connection_fix,
    dbt_failure,
    engine_type,
    require_venv,
)
from duckmesh.scaleout.warehouse_client import normalised

UTC = datetime.UTC


@pytest.mark.parametrize(("value", "expected"), [
    (None, None),
    (True, "true"),
    (Decimal("12.50"), "12.5"),  # NUMBER(18,2) on Snowflake
    (Decimal("12.5"), "12.5"),  # NUMERIC on BigQuery
    (Decimal("100"), "100"),  # not 1E+2
    (Decimal("0.00"), "0"),
    (4.2700000000000005, "4.270000"),  # doubles: the last bits may differ per engine
    (-0.0, "0.000000"),
    (datetime.datetime(2020, 1, 2, 3, 4, 5, 6, tzinfo=UTC), "1577934245000006"),
    # the same instant shown in another zone is the same value
    (datetime.datetime(2020, 1, 2, 4, 4, 5, 6,
                       tzinfo=datetime.timezone(datetime.timedelta(hours=1))), "1577934245000006"),
    (datetime.datetime(2020, 1, 2, 3, 4, 5), "2020-01-02T03:04:05"),
    (datetime.date(2020, 1, 2), "2020-01-02"),
    (7, "7"),
    ("C0001", "C0001"),
])
def test_values_are_normalised_alike_on_every_engine(value: object, expected: str | None) -> None:
    assert normalised(value) == expected


def test_an_instant_is_epoch_microseconds() -> None:
    moment = datetime.datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC)
    assert int(normalised(moment) or 0) == int(moment.timestamp()) * 1_000_000 + 999999


@pytest.mark.parametrize(("duckdb_type", "snowflake", "bigquery"), [
    ("VARCHAR", "varchar", "string"),
    ("BIGINT", "bigint", "int64"),
    ("INTEGER", "integer", "int64"),
    ("DOUBLE", "float", "float64"),
    ("BOOLEAN", "boolean", "bool"),
    ("DATE", "date", "date"),
    ("DECIMAL(18,2)", "number(18,2)", "numeric(18,2)"),
    ("DECIMAL(10, 2)", "number(10,2)", "numeric(10,2)"),
    ("TIMESTAMP WITH TIME ZONE", "timestamp_tz", "timestamp"),
    ("TIMESTAMP", "timestamp_ntz", "datetime"),
])
def test_source_columns_get_each_warehouses_type(duckdb_type: str, snowflake: str,
                                                 bigquery: str) -> None:
    assert (engine_type(duckdb_type, "snowflake"), engine_type(duckdb_type, "bigquery")) \
        == (snowflake, bigquery)


def test_a_type_without_a_warehouse_rendering_is_one_line_with_the_fix() -> None:
    with pytest.raises(MeshError) as raised:
        engine_type("HUGEINT", "bigquery")
    assert str(raised.value) == (
        "bigquery target: a source column of type HUGEINT has no bigquery type in "
        "macros/portability/mesh_type_table.sql: add it there, or cast it in the source's "
        "external_location")


def test_dbts_first_error_is_named_without_timestamps() -> None:
    output = ("05:26:12  Finished running  in 0 hours\n05:26:12  Encountered an error:\n"
              "Database Error\n  Not supported: function X\n05:26:12  Done.\n")
    assert dbt_failure(output) == "Encountered an error: Database Error Not supported: function X"
    assert dbt_failure("05:00:00  Done. PASS=3\n") == "see its output"


def test_the_emulator_is_told_from_a_real_warehouse_by_the_profiles_variables() -> None:
    snowflake, bigquery = WAREHOUSES["snowflake"], WAREHOUSES["bigquery"]
    assert snowflake.emulated({}) and bigquery.emulated({})  # the profile's defaults
    assert not snowflake.emulated({"SNOWFLAKE_ACCOUNT": "acme-eu1"})
    assert not bigquery.emulated({"BIGQUERY_API_ENDPOINT": "https://bigquery.googleapis.com"})
    assert bigquery.emulated({"BIGQUERY_API_ENDPOINT": "http://localhost:9999"})


def test_refused_credentials_name_the_variables_to_check() -> None:
    assert connection_fix(WAREHOUSES["snowflake"], {"SNOWFLAKE_ACCOUNT": "acme-eu1"}) == (
        "check SNOWFLAKE_ACCOUNT, SNOWFLAKE_USER, SNOWFLAKE_PASSWORD, SNOWFLAKE_ROLE, "
        "SNOWFLAKE_WAREHOUSE and SNOWFLAKE_DATABASE (docs/warehouses.md)")
    assert connection_fix(WAREHOUSES["bigquery"], {"BIGQUERY_API_ENDPOINT": "http://127.0.0.1:9123"}) \
        == ("start the emulator (.venv-bigquery/bin/crucible serve --dialect bigquery --host "
            "127.0.0.1 --port 9123) or point BIGQUERY_API_ENDPOINT at it (now 127.0.0.1:9123)")


def test_a_missing_venv_names_make_warehouses(tmp_path: Path) -> None:
    from duckmesh.core.project import Mesh, Settings

    warehouse = replace(WAREHOUSES["snowflake"], venv=".venv-nowhere")
    with pytest.raises(MeshError) as raised:
        require_venv(Mesh(tmp_path, Settings()), warehouse)
    assert str(raised.value) == ("the snowflake target needs .venv-nowhere/ (dbt-snowflake, "
                                 "snowflake-connector-python, fakesnow): run `make warehouses`")
