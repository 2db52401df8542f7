"""Bad numbers and names on the command line stop the command before any work, with a
message naming the option and what it accepts."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import BuiltMesh, duckmesh

pytestmark = pytest.mark.integration

SCALE = "give a number between 0.001 and 100 (1 = 100k customers, 1M orders)"


@pytest.mark.parametrize(("args", "message"), [
    (["build", "--scale", "-1"], f"Invalid value for '--scale': '-1': {SCALE}"),
    (["build", "--scale", "0"], f"Invalid value for '--scale': '0': {SCALE}"),
    (["build", "--scale", "nan"], f"Invalid value for '--scale': 'nan': {SCALE}"),
    (["build", "--scale", "inf"], f"Invalid value for '--scale': 'inf': {SCALE}"),
    (["build", "--scale", "1e-12"], f"Invalid value for '--scale': '1e-12': {SCALE}"),
    (["generate", "--scale", "inf"], f"Invalid value for '--scale': 'inf': {SCALE}"),
    (["ci", "--domain", "sales", "--scale", "nan"],
     f"Invalid value for '--scale': 'nan': {SCALE}"),
    (["ledger", "--days", "nan"], "Invalid value for '--days': 'nan': give a number between "
                                  "0.0416667 and 3650 (days before the newest run)"),
    (["history", "sales.orders", "--limit", "-1"],
     "Invalid value for '--limit': -1 is not in the range x>=1."),
    (["publish", "--rollback", ""], "Invalid value for '--rollback': an empty snapshot name: "
                                    "give one of `duckmesh publish --list`, or no value for "
                                    "the previous snapshot"),
])
def test_bad_values_are_usage_errors(built_mesh: BuiltMesh, args: list[str],
                                     message: str) -> None:
    result = duckmesh(built_mesh.root, *args, check=False)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_product_fails_the_alerts_gate(built_mesh: BuiltMesh) -> None:
    result = duckmesh(built_mesh.root, "alerts", "--product", "sales.ordrs", check=False)
    assert result.returncode == 1
    assert result.stderr.startswith(
        "duckmesh alerts: error: unknown product 'sales.ordrs': use DOMAIN.PRODUCT, one of "
        "analytics.customer_360, analytics.executive_kpis,")
    assert duckmesh(built_mesh.root, "alerts", "--product", "sales.orders").returncode == 0


def test_a_report_path_that_cannot_be_written_is_a_message(built_mesh: BuiltMesh) -> None:
    result = duckmesh(built_mesh.root, "status", "--html", "/proc/x", check=False)
    assert result.returncode == 1
    assert result.stderr == ("duckmesh status: error: cannot write the report to /proc/x (No "
                             "such file or directory): give --html a file in a folder you can "
                             "write\n")


FIX = ("Fix: give a manifest.json that dbt wrote (target/manifest.json after a build, "
       "published/manifest.json after a publish)")


@pytest.mark.parametrize(("content", "why"), [
    (None, "/etc/passwd is not a dbt manifest (not JSON: Expecting value: line 1 column 1 "
           "(char 0))"),
    (b"", "{path} is not a dbt manifest (the file is empty)"),
    (b"\xff\xfe\x00garbage", "{path} is not a dbt manifest (not UTF-8 text)"),
    (b"[1, 2]", "{path} is not a dbt manifest (JSON without the \"nodes\" of one)"),
    (b'{"nodes": {"model.x.y": 1}}', "{path} is not a dbt manifest (JSON without the "
                                    "\"nodes\" of one)"),
    ("folder", "{path} is not a file"),
])
def test_governance_diff_refuses_what_is_not_a_manifest(built_mesh: BuiltMesh, tmp_path: Path,
                                                        content: bytes | str | None,
                                                        why: str) -> None:
    """`governance diff --before /etc/passwd` (or an empty file) ended
    in a traceback."""
    if content is None:
        path = Path("/etc/passwd")
    elif content == "folder":
        path = tmp_path
    else:
        path = tmp_path / "manifest.json"
        path.write_bytes(content)  # type: ignore[arg-type]
    result = duckmesh(built_mesh.root, "governance", "diff", "--before", str(path), check=False)
    assert result.returncode == 1
    assert result.stderr == (f"duckmesh governance: error: --before {why.format(path=path)}. "
                             f"{FIX}\n")


def test_governance_diff_names_a_missing_default_manifest(built_mesh: BuiltMesh,
                                                          tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.json"
    result = duckmesh(built_mesh.root, "governance", "diff", "--after", str(missing),
                      check=False)
    assert result.returncode == 1
    assert result.stderr == (f"duckmesh governance: error: --after {missing} not found: "
                             "publish the mesh first (duckmesh publish) or pass "
                             "--before/--after\n")
    same = duckmesh(built_mesh.root, "governance", "diff")
    assert same.stdout == "no product changes\n"


def test_compare_names_two_builds_of_other_data_sets(tmp_path: Path) -> None:
    """The README's SCALE=0.01 build against a --scale 0.1 Spark build: "12 of 12 products
    differ" said nothing of why; the note names both data sets and the fix."""
    import json

    from duckmesh.core.project import Mesh, Settings
    from duckmesh.scaleout.spark import data_set_mismatch

    mesh = Mesh(tmp_path, Settings())
    (tmp_path / "target" / "last_build").mkdir(parents=True)
    (tmp_path / "target" / "spark").mkdir(parents=True)
    duck, spark = tmp_path / "data" / "scale_0.01", tmp_path / "data" / "scale_0.1"
    (tmp_path / "target" / "spark" / "data_set.json").write_text(
        json.dumps({"data_dir": str(spark)}))
    record = tmp_path / "target" / "last_build" / "build.json"
    record.write_text(json.dumps({"data_dir": str(duck)}))
    assert data_set_mismatch(mesh) == (
        "the DuckDB build read data/scale_0.01 and the Spark build data/scale_0.1: other "
        "data sets, so their products differ whatever the engines do. Fix: build both from "
        "the same data (the same --scale and --seed for `duckmesh build` and `duckmesh "
        "scale-out build`), then compare")
    record.write_text(json.dumps({"data_dir": str(spark)}))
    assert data_set_mismatch(mesh) is None
