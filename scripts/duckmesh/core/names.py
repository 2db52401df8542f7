"""The one rule for names users give the mesh (domains, products, consumers)."""

from __future__ import annotations

import functools
import re

from duckmesh.core.project import MeshError

IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*")
MAX_NAME = 63
# Names the mesh itself uses: the root project, its group, DuckDB's own schemas.
TAKEN = {"duckmesh", "analytics", "dbt", "main", "information_schema", "pg_catalog",
         "temp", "memory", "system", "mesh_catalog"}


class InvalidInput(MeshError):
    """Invalid user input: a name, a path, an e-mail (exit code 2 in self-serve commands)."""

    exit_code = 2


@functools.cache
def reserved_words() -> frozenset[str]:
    import duckdb  # noqa: PLC0415 (only the self-serve checks need DuckDB's keyword list)

    rows = duckdb.connect().execute(
        "select keyword_name from duckdb_keywords() where keyword_category = 'reserved'"
    ).fetchall()
    return frozenset(row[0].lower() for row in rows)


def suggest_identifier(name: str) -> str:
    text = re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")
    if not text or not text[0].isalpha():
        text = f"x_{text}".rstrip("_")
    return text


def check_name(what: str, name: object, *, new: bool = False) -> str:
    """``name`` when it is a lower-case identifier of at most 63 characters, else
    InvalidInput saying why. ``new``: a name the mesh will create (a domain, a product),
    which must also not be a reserved SQL word or one of the mesh's own names."""
    if not isinstance(name, str) or not IDENTIFIER.fullmatch(name) or len(name) > MAX_NAME:
        raise InvalidInput(
            f"{what} name {name!r} is not a valid identifier: use lower-case letters, digits "
            f"and underscores, starting with a letter, at most {MAX_NAME} characters "
            f"(for example {suggest_identifier(str(name))!r})")
    if new and name in reserved_words():
        raise InvalidInput(f"{what} name {name!r} is a reserved SQL word: choose another "
                           f"(for example {name + '_data'!r})")
    if new and name in TAKEN:
        raise InvalidInput(f"{what} name {name!r} is used by the mesh itself: choose another")
    return name
