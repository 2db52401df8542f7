"""Outside tools accept the contracts: every exported ODCS contract passes
`datacontract lint`, and `datacontract test` against the product's Parquet port (the
contract's `parquet` server) passes.

datacontract-cli pins an older duckdb than the mesh, so it runs from its own venv,
``.venv-contracts`` (`make contracts`, which `make test` depends on; pinned by
constraints-contracts.txt)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO, BuiltMesh

pytestmark = pytest.mark.integration

DATACONTRACT = REPO / ".venv-contracts" / "bin" / "datacontract"
BATCH = Path(__file__).parent / "datacontract_batch.py"
# parquet files carry no contract types datacontract-cli checks: it says so per column
TYPES_UNCHECKED = ("field_type", "Checking types in parquet files is not supported yet.")


def _datacontract(root: Path, commands: list[list[str]]) -> list[dict]:
    """``datacontract <args>`` for each of ``commands``, in one process of the contracts
    venv (tests/datacontract_batch.py): [{"code", "stdout"}] in the same order."""
    done = subprocess.run([str(DATACONTRACT.parent / "python"), str(BATCH)], cwd=root,
                          input=json.dumps(commands), capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return list(json.loads(done.stdout))


def _test_args(contract: Path, out: Path) -> list[str]:
    return ["test", "--server", "parquet", "--output-format", "json", "--output", str(out),
            str(contract)]


@pytest.fixture(scope="module")
def contracts(built_mesh: BuiltMesh) -> list[Path]:
    if not DATACONTRACT.is_file():
        pytest.skip(f"{DATACONTRACT} missing: run `make contracts` (make test does)")
    found = sorted((built_mesh.root / "target" / "catalog" / "contracts").rglob("*.odcs.yaml"))
    assert len(found) == 10
    return found


def test_every_contract_passes_datacontract_lint(built_mesh: BuiltMesh,
                                                 contracts: list[Path]) -> None:
    results = _datacontract(built_mesh.root, [["lint", str(c)] for c in contracts])
    for contract, done in zip(contracts, results, strict=True):
        assert done["code"] == 0, f"{contract.name}: {done['stdout'][-2000:]}"
        assert "Data contract is valid against ODCS v3.1.0" in done["stdout"], contract.name


def test_every_contract_passes_datacontract_test_on_its_parquet_port(
        built_mesh: BuiltMesh, contracts: list[Path], tmp_path: Path) -> None:
    outputs = [tmp_path / f"{contract.stem}.json" for contract in contracts]
    done = _datacontract(built_mesh.root, [_test_args(c, o) for c, o in zip(contracts, outputs,
                                                                             strict=True)])
    results = [(d["code"], json.loads(o.read_text())) for d, o in zip(done, outputs, strict=True)]
    for contract, (code, report) in zip(contracts, results, strict=True):
        document = yaml.safe_load(contract.read_text())
        port = next(s for s in document["servers"] if s["server"] == "parquet")
        assert (built_mesh.root / port["path"]).is_file()
        assert report["server"] == "parquet" and code == 0, (contract.name, report["result"])
        others = [(c["name"], c["result"], c["reason"]) for c in report["checks"]
                  if c["result"] != "passed" and (c["type"], c["reason"]) != TYPES_UNCHECKED]
        assert others == [], contract.name
        # every column is found in the file, the timestamp ones included
        present = {c["field"] for c in report["checks"] if c["type"] == "field_is_present"
                   and c["result"] == "passed"}
        assert present == {p["name"] for p in document["schema"][0]["properties"]}


def test_datacontract_test_fails_a_contract_the_data_breaks(
        built_mesh: BuiltMesh, contracts: list[Path], tmp_path: Path) -> None:
    """The check above can fail: orders v2 promising one row more than its port holds."""
    source = next(c for c in contracts if c.name == "orders_v2.odcs.yaml")
    document = yaml.safe_load(source.read_text())
    [row_count] = [q for q in document["schema"][0]["quality"] if q["id"] == "slo_min_rows"]
    row_count["mustBeGreaterOrEqualTo"] = 10_001  # the port has 10,000 rows at scale 0.01
    broken = tmp_path / "orders_v2.odcs.yaml"
    broken.write_text(yaml.safe_dump(document, sort_keys=False))
    [done] = _datacontract(built_mesh.root, [_test_args(broken, tmp_path / "broken.json")])
    code, report = done["code"], json.loads((tmp_path / "broken.json").read_text())
    assert code == 1 and report["result"] == "failed"
    assert [c["name"] for c in report["checks"] if c["result"] == "failed"] == [
        "Check that model orders_v2 has row_count >= 10001"]
