"""The mesh's one table of harmonised field types, shared with the dbt macros.

The table is the platform macro ``mesh_type_table`` (macros/portability/
mesh_type_table.sql), which the governance macros call in dbt; here the same file is
rendered with Jinja2 (``return`` as dbt provides it), so Python
(``governance diff``, the contracts, the catalog) folds type names exactly as P05 and
P09 do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from duckmesh.core.project import MeshError

TABLE_MACRO = Path(__file__).resolve().parents[3] / "macros" / "portability" / "mesh_type_table.sql"


_NOT_ENGINES = {"duckdb", "odcs", "odcs_physical", "aliases"}


@dataclass(frozen=True)
class HarmonisedType:
    logical: str  # text, integer, money, timestamp_tz, ...
    duckdb: str  # the canonical DuckDB spelling contracts write
    odcs: str  # the ODCS logicalType
    aliases: tuple[str, ...]
    odcs_physical: str | None = None  # ODCS physicalType, when not the DuckDB spelling
    # the type's name on other engines that read it from the table (snowflake, bigquery)
    engines: tuple[tuple[str, str], ...] = ()

    def on(self, engine: str) -> str:
        """Its name on ``engine`` (the DuckDB spelling for duckdb or an engine not listed)."""
        return dict(self.engines).get(engine, self.duckdb)


def read_table(path: Path = TABLE_MACRO) -> dict[str, HarmonisedType]:
    """The table as the macro returns it, logical name -> entry."""
    try:
        text = path.read_text()
    except OSError as error:
        raise MeshError(f"cannot read the mesh's type table {path}: {error} (the platform "
                        "package macros/ must sit beside scripts/, as in the repository)") from error
    returned: list[Any] = []

    def give_back(value: Any) -> str:
        returned.append(value)
        return ""

    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    environment.globals["return"] = give_back
    environment.from_string(text + "{{ mesh_type_table() }}").render()
    table = returned[-1] if returned else None
    if not isinstance(table, dict):
        raise MeshError(f"{path}: mesh_type_table() returned no table")
    return {str(logical): HarmonisedType(
        str(logical), str(entry["duckdb"]), str(entry["odcs"]),
        tuple(str(a) for a in entry.get("aliases") or ()),
        str(entry["odcs_physical"]) if entry.get("odcs_physical") else None,
        tuple((str(key), str(value)) for key, value in entry.items() if key not in _NOT_ENGINES))
        for logical, entry in table.items()}


@lru_cache(maxsize=1)
def table() -> dict[str, HarmonisedType]:
    return read_table()


@lru_cache(maxsize=1)
def aliases() -> dict[str, str]:
    """Every spelling -> its logical type (the macro mesh_type_aliases)."""
    found: dict[str, str] = {}
    for entry in table().values():
        found.update({entry.logical: entry.logical, entry.duckdb: entry.logical})
        found.update({alias: entry.logical for alias in entry.aliases})
    return found


def spelling(data_type: str | None) -> str:
    """The macro mesh_type_spelling: lower case, single spaces, none around ( , ),
    numeric read as decimal."""
    text = re.sub(r"\s+", " ", (data_type or "").lower().strip())
    text = re.sub(r"\s*([(),])\s*", r"\1", text)
    return re.sub(r"^numeric", "decimal", text)


def logical_type(data_type: str | None) -> str:
    """The macro mesh_logical_type: 'varchar' -> 'text'; unknown types as spelled."""
    spelled = spelling(data_type)
    return aliases().get(spelled, spelled)


def canonical_type(data_type: str | None) -> str:
    """The macro governance_normalise_type: the canonical DuckDB spelling."""
    logical = logical_type(data_type)
    entry = table().get(logical)
    return entry.duckdb if entry else logical


def odcs_logical_type(data_type: str | None) -> str | None:
    """The ODCS logicalType of a harmonised type (None: not in the table)."""
    entry = table().get(logical_type(data_type))
    return entry.odcs if entry else None


def odcs_physical_type(data_type: str) -> str:
    """The ODCS physicalType of a contract data_type: as written, unless the table names
    a spelling outside tools read (timestamp with time zone -> timestamp_tz)."""
    entry = table().get(logical_type(data_type))
    return entry.odcs_physical if entry and entry.odcs_physical else data_type
