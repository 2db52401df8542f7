"""The governance check without dbt: when a saved manifest is current (core/fingerprint.py)
and how the macros run over it (governance/offline.py). dbt's own answer is compared
with this one on the fixture mesh in test_governance.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from duckmesh.core import fingerprint
from duckmesh.core.project import Mesh
from duckmesh.governance import offline, report


def tiny_mesh(root: Path) -> Mesh:
    (root / "models").mkdir(parents=True)
    (root / "models" / "orders.sql").write_text("select 1 as order_id\n")
    (root / "dbt_project.yml").write_text(
        "name: tiny\nmodel-paths: [models]\nvars:\n  where: \"{{ env_var('TINY_WHERE', 'here') }}\"\n")
    (root / "profiles").mkdir()
    (root / "profiles" / "profiles.yml").write_text("tiny: {}\n")
    package = root / "dbt_packages" / "library"
    (package / "macros").mkdir(parents=True)
    (package / "dbt_project.yml").write_text("name: library\n")
    (package / "macros" / "helper.sql").write_text("{% macro helper() %}{% endmacro %}\n")
    (root / "target").mkdir()
    return Mesh(root)


def test_the_fingerprint_follows_the_files_dbt_reads_and_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mesh = tiny_mesh(tmp_path)
    before = fingerprint.dbt_inputs(mesh)
    (tmp_path / "target" / "manifest.json").write_text("{}")
    (tmp_path / "README.md").write_text("not read by dbt")
    assert fingerprint.dbt_inputs(mesh) == before
    (tmp_path / "models" / "orders.sql").write_text("select 2 as order_id\n")
    edited = fingerprint.dbt_inputs(mesh)
    assert edited != before
    (tmp_path / "dbt_packages" / "library" / "macros" / "helper.sql").write_text("{# new #}\n")
    assert fingerprint.dbt_inputs(mesh) != edited
    edited = fingerprint.dbt_inputs(mesh)
    monkeypatch.setenv("DUCKMESH_PUBLISHED", "elsewhere")
    assert fingerprint.dbt_inputs(mesh) != edited


def test_a_link_back_up_does_not_loop(tmp_path: Path) -> None:
    mesh = tiny_mesh(tmp_path)
    before = fingerprint.dbt_inputs(mesh)
    (tmp_path / "models" / "again").symlink_to(tmp_path / "models")
    assert fingerprint._files(tmp_path / "models") == [str(tmp_path / "models" / "orders.sql")]
    assert fingerprint.dbt_inputs(mesh) == before


def test_a_stamp_holds_for_its_manifest_only(tmp_path: Path) -> None:
    mesh = tiny_mesh(tmp_path)
    manifest = tmp_path / "target" / "manifest.json"
    manifest.write_text('{"nodes": {}}')
    taken = fingerprint.dbt_inputs(mesh)
    assert not fingerprint.manifest_is_current(mesh, manifest)  # no stamp yet
    fingerprint.ManifestStamp(taken).record(manifest)
    assert fingerprint.manifest_is_current(mesh, manifest)
    manifest.write_text('{"nodes": {"x": {}}}')  # another dbt command wrote it
    assert not fingerprint.manifest_is_current(mesh, manifest)
    fingerprint.ManifestStamp(taken).record(manifest)
    (tmp_path / "models" / "orders.sql").touch()
    os.utime(tmp_path / "models" / "orders.sql", ns=(1, 1))
    assert not fingerprint.manifest_is_current(mesh, manifest)


def test_a_manifest_older_than_the_dbt_run_gets_no_stamp(tmp_path: Path) -> None:
    """A build whose dbt stopped before it parsed leaves an earlier run's manifest: the
    build must not stamp it as parsed from today's files, and an older stamp goes."""
    mesh = tiny_mesh(tmp_path)
    manifest = tmp_path / "target" / "manifest.json"
    manifest.write_text('{"nodes": {}}')
    taken = fingerprint.dbt_inputs(mesh)
    fingerprint.ManifestStamp(taken).record(manifest)
    assert fingerprint.manifest_is_current(mesh, manifest)
    fingerprint.ManifestStamp(taken, manifest.stat().st_mtime_ns + 1).record(manifest)
    assert not (tmp_path / "target" / fingerprint.STAMP).exists()
    assert not fingerprint.manifest_is_current(mesh, manifest)
    fingerprint.ManifestStamp(taken, manifest.stat().st_mtime_ns).record(manifest)  # written since
    assert fingerprint.manifest_is_current(mesh, manifest)


def manifest_of(**macros: str) -> dict:
    return {"metadata": {"adapter_type": "duckdb", "project_name": "tiny"},
            "nodes": {"model.tiny.orders": {"resource_type": "model", "name": "orders"}},
            "macros": {f"macro.duckmesh_platform.{name}": {
                "name": name, "package_name": "duckmesh_platform",
                "macro_sql": f"{{% macro {name}(partial=false) %}}{body}{{% endmacro %}}"}
                for name, body in macros.items()}}


def test_the_macros_run_with_dbts_return_dispatch_vars_and_graph(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINY_WHERE", "there")
    mesh = tiny_mesh(tmp_path)
    (tmp_path / "notes.txt").write_text("hello")
    manifest = manifest_of(
        governance_check="{{ return({'violations': [], 'models': graph.nodes | length, "
                         "'where': var('where'), 'engine': duckmesh_platform.engine(), "
                         "'files': duckmesh_platform.read_text_files(['notes.*']), "
                         "'project': project_name}) }}",
        engine="{{ return(adapter.dispatch('engine_name', 'duckmesh_platform')()) }}",
        duckdb__engine_name="{{ return('duckdb ' ~ target.type) }}",
        default__engine_name="{{ return('other') }}")
    assert offline.governance_check(mesh, manifest) == {
        "violations": [], "models": 1, "where": "there", "engine": "duckdb duckdb",
        "files": {"notes.txt": "hello"}, "project": "tiny"}


def test_json_files_the_macros_parse_are_handed_back_by_real_path(tmp_path: Path) -> None:
    """The published manifest P09 parses is the one the report's SemVer comparison
    needs: the caller gets it back instead of parsing the file a second time."""
    mesh = tiny_mesh(tmp_path)
    (tmp_path / "published").mkdir()
    (tmp_path / "published" / "manifest.json").write_text('{"nodes": {"model.a.b": {}}}')
    (tmp_path / "latest").symlink_to(tmp_path / "published")
    manifest = manifest_of(governance_check=(
        "{%- set text = duckmesh_platform.read_text_files([project_dir ~ '/latest/manifest.json'])"
        ".values() | list -%}"
        "{{ return({'violations': [], 'nodes': fromjson(text[0]).nodes | length, "
        "'inline': fromjson('{\"x\": 1}').x}) }}").replace(
            "project_dir", "invocation_args_dict.project_dir"))
    parsed: dict = {}
    assert offline.governance_check(mesh, manifest, parsed=parsed) == {
        "violations": [], "nodes": 1, "inline": 1}
    assert parsed == {str((tmp_path / "published" / "manifest.json").resolve()):
                      {"nodes": {"model.a.b": {}}}}


def test_a_check_over_the_builds_manifest_reports_changes_since_publish(tmp_path: Path) -> None:
    """The check's own manifest (target/governance/) was never written: the build's,
    stamped, is judged, and the product the published manifest has and it lacks is a
    change, read from P09's parse of that file."""
    mesh = tiny_mesh(tmp_path)
    body = ("{%- set found = duckmesh_platform.read_text_files([invocation_args_dict.project_dir"
            " ~ '/published/manifest.json']).values() | list -%}"
            "{{ return({'violations': [], 'exempted': 0, 'models': 1, 'public_models': "
            "(fromjson(found[0]).nodes | length), 'seconds': 0.0}) }}")
    built = tmp_path / "target" / "manifest.json"
    manifest = manifest_of(governance_check=body)
    manifest["nodes"]["model.tiny.orders"]["package_name"] = "tiny"
    built.write_text(json.dumps(manifest))
    fingerprint.ManifestStamp(fingerprint.dbt_inputs(mesh)).record(built)
    (tmp_path / "published").mkdir()
    (tmp_path / "published" / "manifest.json").write_text(json.dumps({"nodes": {
        "model.tiny.customers.v1": {"resource_type": "model", "access": "public",
                                    "name": "customers", "version": 1,
                                    "package_name": "tiny", "columns": {}}}}))
    found = report.check(mesh)
    assert (found.source, found.public_models) == (report.SAVED, 1)
    assert [(c.product, c.change_class, c.details) for c in found.changes] == [
        ("customers", "major", ["product removed"])]


def test_a_var_rendered_with_more_than_env_var_is_left_to_dbt(tmp_path: Path) -> None:
    mesh = tiny_mesh(tmp_path)
    (tmp_path / "dbt_project.yml").write_text(
        "name: tiny\nvars:\n  where: \"{{ var('elsewhere') }}\"\n")
    with pytest.raises(offline.Unsupported) as raised:
        offline.governance_check(mesh, manifest_of(governance_check="{{ return({}) }}"))
    assert str(raised.value) == "UndefinedError: 'var' is undefined"


@pytest.mark.parametrize("body, asked", [
    ("{{ return(run_query('select 1')) }}", "a query"),
    ("{{ exceptions.raise_compiler_error('malformed exemption') }}", "a compiler error"),
    ("{{ return(var('not_set')) }}", "var('not_set') has no value in the root dbt_project.yml"),
])
def test_what_only_dbt_can_answer_is_left_to_dbt(tmp_path: Path, body: str, asked: str) -> None:
    mesh = tiny_mesh(tmp_path)
    with pytest.raises(offline.Unsupported) as raised:
        offline.governance_check(mesh, manifest_of(governance_check=body))
    assert str(raised.value) == asked


def test_the_platform_macros_parse_and_the_root_vars_render(tmp_path: Path) -> None:
    """Every platform macro parses in dbt's Jinja environment as the runtime sets it up."""
    from dbt_common.clients.jinja import get_environment

    repo = Path(__file__).resolve().parents[1]
    environment = get_environment()
    for path in sorted((repo / "macros").rglob("*.sql")):
        environment.parse(path.read_text())
    variables = offline.root_vars(offline._root_project(Mesh(repo)))
    assert json.loads(json.dumps(variables))["duckmesh_consumers"] == {
        "bi_dashboards": ["reporting"], "data_science": []}
