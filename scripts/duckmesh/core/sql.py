"""SQL text the platform writes itself: identifiers and literals quoted for DuckDB, so
no name or path from a project or a user is spliced in unquoted.

DuckDB's rule, written out: an identifier in double quotes and a string literal in
single quotes, the quote character doubled inside; nothing else is escaped. It is what
sqlglot's DuckDB dialect generates (tests/test_sql_quoting.py holds the two equal over
awkward names), without loading that dialect, 0.13 s, in every process that quotes a
name.
"""

from __future__ import annotations

from pathlib import Path


def quote_ident(name: str) -> str:
    """``name`` as a quoted DuckDB identifier: ``a"b`` -> ``"a""b"``."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """``text`` as a DuckDB string literal: ``it's`` -> ``'it''s'``."""
    return "'" + text.replace("'", "''") + "'"


def sql_path(path: Path) -> str:
    """A file path as a DuckDB string literal (POSIX separators)."""
    return quote_literal(path.as_posix())


def qualified_name(*parts: str) -> str:
    """``schema.table`` (or ``db.schema.table``) with every part quoted."""
    return ".".join(quote_ident(part) for part in parts)
