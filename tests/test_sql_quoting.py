"""The platform's own quoting (core/sql.py) is DuckDB's: equal to what sqlglot's DuckDB
dialect generates, and every awkward name and text survives a round trip through
DuckDB unchanged."""

from __future__ import annotations

import duckdb
import pytest
from sqlglot import exp

from duckmesh.core.sql import qualified_name, quote_ident, quote_literal

AWKWARD = ["orders", 'a"b', '""', "it's", "x\\y", "new\nline", "tab\there", "ünïcödé",
           "SELECT", " spaced ", "semi;colon", "dash-ed", "1starts_with_digit", "a.b",
           "'; drop table t; --", '"; drop table t; --']


@pytest.mark.parametrize("name", AWKWARD)
def test_quoting_equals_sqlglots_duckdb_dialect(name: str) -> None:
    assert quote_ident(name) == exp.to_identifier(name, quoted=True).sql("duckdb")
    assert quote_literal(name) == exp.Literal.string(name).sql("duckdb")


def test_every_awkward_name_and_text_round_trips_through_duckdb() -> None:
    con = duckdb.connect()
    for index, name in enumerate(AWKWARD):
        con.execute(f"create schema {quote_ident(name)}")
        table = qualified_name(name, name)
        con.execute(f"create table {table} ({quote_ident(name)} varchar)")
        con.execute(f"insert into {table} values ({quote_literal(name)})")
        assert con.execute(f"select {quote_ident(name)} from {table}").fetchall() == [(name,)]
        assert con.execute(
            "select schema_name, table_name, column_name from duckdb_columns() "
            "where schema_name = ?", [name]).fetchall() == [(name, name, name)], index
