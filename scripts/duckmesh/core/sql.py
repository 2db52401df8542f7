"""SQL text the platform writes itself: identifiers and literals quoted by sqlglot for
DuckDB, so no name or path from a project or a user is spliced in unquoted."""

from __future__ import annotations

from pathlib import Path

from sqlglot import exp


def quote_ident(name: str) -> str:
    """``name`` as a quoted DuckDB identifier: ``a"b`` -> ``"a""b"``."""
    return exp.to_identifier(name, quoted=True).sql("duckdb")


def quote_literal(text: str) -> str:
    """``text`` as a DuckDB string literal: ``it's`` -> ``'it''s'``."""
    return exp.Literal.string(text).sql("duckdb")


def sql_path(path: Path) -> str:
    """A file path as a DuckDB string literal (POSIX separators)."""
    return quote_literal(path.as_posix())


def qualified_name(*parts: str) -> str:
    """``schema.table`` (or ``db.schema.table``) with every part quoted."""
    return ".".join(quote_ident(part) for part in parts)
