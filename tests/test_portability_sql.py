"""P10 over compiled SQL (governance/portability.py): SQL that only DuckDB accepts is
caught by the governance gate before any other engine runs it, and the gate applies the
mesh's severities and exemptions with the same macro as for the macro policies."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import REPO, BuiltMesh
from duckmesh.core.project import Mesh, MeshError
from duckmesh.governance import gate, offline, portability

ENGINES = ["spark", "snowflake", "bigquery"]
# what adopt makes of a mart whose SQL starts with its own `with`
NESTED = """with source as (
    with orders as (
        select * from {{ ref('stg_order_system__orders') }}
    )
    select order_id from orders
)
select cast(order_id as varchar) as order_id from source
"""
SPINE = ("select cast(range as date) as date_day\n"
         "from range(date '2025-01-01', date '2026-01-01', interval 1 day)\n")


STAGING = "model.sales.stg_order_system__orders"


def _model(name: str, raw: str, compiled: str | None = None, package: str = "sales",
           reads: str = '"mesh"."sales"."stg_order_system__orders"') -> dict:
    return {"unique_id": f"model.{package}.{name}", "resource_type": "model",
            "package_name": package, "name": name, "group": package, "access": "private",
            "original_file_path": f"models/marts/{name}.sql", "raw_code": raw,
            "compiled_code": compiled if compiled is not None else raw.replace(
                "{{ ref('stg_order_system__orders') }}", reads),
            "depends_on": {"nodes": [STAGING]}, "columns": {}, "config": {}, "meta": {}}


def _manifest(*models: dict) -> dict:
    return {"metadata": {"project_name": "duckmesh"},
            "nodes": {m["unique_id"]: m for m in models}}


def _lines(manifest: dict, engines: list[str] = ENGINES) -> list[str]:
    return [v.line() for v in portability.violations(manifest, engines)]


NESTED_LINE = (
    "[P10 error] domain sales, model.sales.legacy_orders: domains/sales/models/marts/"
    "legacy_orders.sql uses a `with` nested inside CTE source, which Spark cannot run: the "
    "model is not portable. Fix: move the inner query's CTEs up into the model's own `with` "
    "list, before the CTE that used them (one level of CTEs runs everywhere), in "
    "domains/sales/models/marts/legacy_orders.sql.")


def test_a_with_nested_inside_a_cte_is_not_portable() -> None:
    assert _lines(_manifest(_model("legacy_orders", NESTED))) == [NESTED_LINE]


def test_range_over_dates_is_not_portable() -> None:
    assert _lines(_manifest(_model("time_spine", SPINE, package="duckmesh"))) == [
        "[P10 error] domain duckmesh, model.duckmesh.time_spine: models/marts/time_spine.sql "
        "uses range() over dates, which Spark, Snowflake and BigQuery cannot run: the model "
        "is not portable. Fix: build the dates with {{ dbt.date_spine('day', "
        "\"cast('<first>' as date)\", \"cast('<after the last>' as date)\") }}, which dbt "
        "renders for each engine (range() counts bigints only on Spark; Snowflake and "
        "BigQuery have no range table function), in models/marts/time_spine.sql."]


def test_other_duckdb_only_constructs_name_their_engines() -> None:
    sql = ("with ranked as (select order_id::varchar as order_id, * exclude (order_id) "
           "from t qualify row_number() over (order by order_id) = 1) select * from ranked")
    found = [v.message.split(" uses ")[1] for v in
             portability.violations(_manifest(_model("ranked", sql)), ENGINES)]
    assert found == [
        "a `::` cast, which Spark and BigQuery cannot run: the model is not portable",
        "`qualify`, which Spark cannot run: the model is not portable",
        "`select * exclude (...)`, which Spark and BigQuery cannot run: the model is not "
        "portable"]


def test_what_a_macro_renders_is_the_macros_business() -> None:
    """Dispatched macros render each engine's own SQL: a construct only the compiled SQL
    has (a macro wrote it for DuckDB) is not the model's; the same written by the model
    is."""
    rendered = _model("typed", "select {{ duckmesh_platform.as_text('order_id') }} from t",
                      "select order_id::varchar from t")
    assert _lines(_manifest(rendered)) == []
    written = _model("typed", "select order_id::varchar from t")
    assert [v.message.split(" uses ")[1].split(",")[0] for v in
            portability.violations(_manifest(written), ENGINES)] == ["a `::` cast"]


def test_only_the_configured_engines_are_checked() -> None:
    nested = _manifest(_model("legacy_orders", NESTED))
    assert _lines(nested, ["snowflake", "bigquery"]) == []
    # a manifest compiled for Spark holds Spark's SQL (the macros rendered it)
    nested["metadata"]["adapter_type"] = "spark"
    assert _lines(nested) == []
    with pytest.raises(MeshError) as raised:
        portability.violations(nested, ["spark", "oracle"])
    assert str(raised.value) == (
        "vars.duckmesh_governance.portability_engines names ['oracle'], which the "
        "portability check does not know: use ['bigquery', 'snowflake', 'spark']")


def test_sql_sqlglot_cannot_write_for_an_engine_is_reported() -> None:
    mapped = _model("mapped", "select map {'a': 1} as attributes")
    assert _lines(_manifest(mapped), ["spark"]) == [
        "[P10 error] domain sales, model.sales.mapped: domains/sales/models/marts/mapped.sql "
        "uses SQL that sqlglot cannot write for Spark (Invalid expression / Unexpected token "
        "at '('), which Spark cannot run: the model is not portable. Fix: rewrite it with "
        "the portability macros of macros/portability/ (docs/scale-out.md), or exempt the "
        "model, in domains/sales/models/marts/mapped.sql."]


@pytest.fixture(scope="module")
def built_manifest(built_mesh: BuiltMesh) -> dict:
    return json.loads((built_mesh.root / "target" / "manifest.json").read_text())


def test_every_compiled_model_of_the_mesh_is_portable(built_manifest: dict) -> None:
    models = [n for n in built_manifest["nodes"].values() if n["resource_type"] == "model"]
    assert len(models) >= 20 and all(n.get("compiled_code") for n in models)
    assert _lines(built_manifest) == []


def _mesh_with(tmp_path: Path, governance: dict) -> Mesh:
    """The root project with ``governance`` as its vars.duckmesh_governance."""
    tmp_path.mkdir()
    project = yaml.safe_load((REPO / "dbt_project.yml").read_text())
    project["vars"]["duckmesh_governance"] = governance
    (tmp_path / "dbt_project.yml").write_text(yaml.safe_dump(project, sort_keys=False))
    shutil.copytree(REPO / "profiles", tmp_path / "profiles")
    return Mesh(tmp_path)


def test_the_gate_judges_with_the_macros_defaults_severities_and_exemptions(
        built_manifest: dict, tmp_path: Path) -> None:
    """The root dbt_project.yml restates no default: the engines and severities come
    from governance_defaults(), and the gate applies severities and exemptions to P10
    over SQL with governance_apply(), as to the macro policies."""
    assert set(yaml.safe_load((REPO / "dbt_project.yml").read_text())["vars"][
        "duckmesh_governance"]) == {"exemptions"}
    nested = _model("legacy_orders", NESTED,
                    reads=built_manifest["nodes"][STAGING]["relation_name"])
    manifest = {**built_manifest, "nodes": {**built_manifest["nodes"],
                                            nested["unique_id"]: nested}}

    def judged(governance: dict) -> tuple[list[str], int]:
        mesh = _mesh_with(tmp_path / str(len(list(tmp_path.iterdir()))), governance)
        engines = offline.config(mesh, manifest)["portability_engines"]
        kept, exempted = gate.settled(mesh, manifest,
                                      portability.violations(manifest, engines))
        return [v.line() for v in kept], exempted

    assert offline.config(Mesh(REPO), built_manifest)["portability_engines"] == ENGINES
    # the gate's policies over compiled SQL include it, with the mesh's engines
    mesh = _mesh_with(tmp_path / "gate", {"exemptions": []})
    assert [v.line() for v in gate.compiled_violations(mesh, manifest)] == [NESTED_LINE]
    assert judged({"exemptions": []}) == ([NESTED_LINE], 0)
    assert judged({"severity": {"P10": "warn"}}) == (
        [NESTED_LINE.replace("[P10 error]", "[P10 warn]")], 0)
    assert judged({"portability_engines": ["snowflake", "bigquery"]}) == ([], 0)
    assert judged({"exemptions": [
        {"policy": "P10", "node": "model.sales.legacy_orders",
         "reason": "rewritten before the Spark move", "expires": "2999-12-31"}]}) == ([], 1)
