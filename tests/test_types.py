"""One table of type names, read by the governance macros and by
Python alike (macros/portability/mesh_type_table.sql)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
import pytest

from conftest import REPO
from duckmesh.core import types
from duckmesh.governance.semver import compare_version

pytestmark = pytest.mark.unit

MACROS = REPO / "macros"
SPELLINGS = ["decimal(18,2)", "DECIMAL(18, 2)", "numeric(18,2)", "money", "varchar", "TEXT",
             "string", "bpchar", "int", "INTEGER", "int8", "long", "bool", "logical",
             "timestamp with time zone", "TIMESTAMPTZ", "timestamp_tz", "timestamp",
             "double precision", "date", "decimal(4,2)", "struct(a integer)", "varchar[]"]


class _Return(Exception):  # noqa: N818 - dbt's own control flow for {{ return() }}
    def __init__(self, value: Any) -> None:
        self.value = value


def _raise_return(value: Any) -> None:
    raise _Return(value)


class _Platform:
    """The duckmesh_platform namespace as dbt gives it: a macro call returns what the
    macro passed to return()."""

    module: Any = None  # the rendered macro files, set once they are compiled

    def __getattr__(self, name: str) -> Callable[..., Any]:
        macro = getattr(self.module, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                macro(*args, **kwargs)
            except _Return as done:
                return done.value
            return None

        return call


@pytest.fixture(scope="module")
def platform() -> _Platform:
    """The platform's own type macros (and governance_normalise_type), run by Jinja2
    with dbt's return() and modules.re."""
    files = [MACROS / "portability" / name for name in (
        "mesh_type_table.sql", "mesh_type_aliases.sql", "mesh_type_spelling.sql",
        "mesh_logical_type.sql")] + [MACROS / "governance" / "governance_context.sql"]
    environment = jinja2.Environment(extensions=["jinja2.ext.do"])
    environment.globals.update({"return": _raise_return,
                                "modules": type("modules", (), {"re": re})})
    namespace = _Platform()
    environment.globals["duckmesh_platform"] = namespace
    namespace.module = environment.from_string("\n".join(f.read_text() for f in files)).module
    return namespace


def test_the_macros_and_python_fold_every_spelling_alike(platform: _Platform) -> None:
    for spelling in SPELLINGS:
        assert platform.governance_normalise_type(spelling) == types.canonical_type(spelling), \
            spelling
        assert platform.mesh_logical_type(spelling) == types.logical_type(spelling), spelling
    assert [types.canonical_type(s) for s in ("money", "DECIMAL(18, 2)", "numeric(18,2)")] \
        == ["decimal(18,2)"] * 3
    assert types.canonical_type("timestamp_tz") == "timestamp with time zone"
    assert types.logical_type("decimal(18,2)") == "money"


def test_governance_diff_folds_money_and_timestamp_tz_as_p09_does() -> None:
    def node(**columns: str) -> dict:
        return {"columns": {name: {"name": name, "data_type": data_type}
                            for name, data_type in columns.items()},
                "access": "public", "contract": {"enforced": True}}

    before = node(amount="decimal(18,2)", ordered_at="timestamp with time zone")
    assert compare_version(before, node(amount="money", ordered_at="timestamp_tz")) == []
    assert compare_version(before, node(amount="double", ordered_at="timestamptz")) == [
        ("major", "column amount retyped decimal(18,2) -> double")]


def test_the_table_is_the_only_place_type_aliases_are_written() -> None:
    """No other macro or Python module keeps an alias table of its own."""
    table = MACROS / "portability" / "mesh_type_table.sql"
    pattern = re.compile(r"""['"](timestamptz|bpchar|int4|int8|float8)['"]""")
    places = [path for path in [*MACROS.rglob("*.sql"), *(REPO / "scripts").rglob("*.py")]
              if path != table and pattern.search(path.read_text())]
    assert places == []
    assert "timestamptz" in table.read_text()


def test_a_missing_table_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(types.MeshError, match="cannot read the mesh's type table"):
        types.read_table(tmp_path / "nope.sql")
