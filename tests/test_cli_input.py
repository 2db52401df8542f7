"""Bad numbers and names on the command line stop the command before any work, with a
message naming the option and what it accepts (issue 18, items 14 and 15)."""

from __future__ import annotations

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
