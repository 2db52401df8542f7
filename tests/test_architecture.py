"""The platform's shape, checked: packaging metadata that tells the truth, an import
graph without circles, no path or environment tricks, and a CLI that starts without
importing dbt."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from conftest import REPO

pytestmark = pytest.mark.unit

PACKAGE = REPO / "scripts" / "duckmesh"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def modules() -> dict[str, ast.Module]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = ast.parse(path.read_text(), str(path))
    return found


def imported(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_requires_python_is_the_interpreter_the_tools_check() -> None:
    """requires-python >= 3.11 (hashlib.file_digest is 3.11+): this interpreter meets it,
    and ruff and mypy check the code as 3.11."""
    required = SpecifierSet(PYPROJECT["project"]["requires-python"])
    assert required == SpecifierSet(">=3.11")
    assert ".".join(map(str, sys.version_info[:3])) in required
    assert PYPROJECT["tool"]["ruff"]["target-version"] == "py311"
    assert PYPROJECT["tool"]["mypy"]["python_version"] == "3.11"


def test_every_third_party_import_is_a_declared_dependency() -> None:
    runtime = {Requirement(r).name.lower().replace("_", "-")
               for r in PYPROJECT["project"]["dependencies"]}
    # the s3 extra (boto3, botocore): imported only by duckmesh.sharing.store, when a
    # command reads or writes s3:// (docs/sharing.md); never a runtime dependency
    s3_only = {Requirement(r).name.lower() for r in
               PYPROJECT["project"]["optional-dependencies"]["s3"]}
    declared = runtime | s3_only
    test_only = {Requirement(r).name.lower() for r in
                 PYPROJECT["project"]["optional-dependencies"]["test"]}
    distributions = metadata.packages_distributions()
    stdlib = sys.stdlib_module_names
    missing, warehouse_libraries = {}, set()
    for name, tree in modules().items():
        for module in imported(tree):
            top = module.split(".")[0]
            if top in stdlib or top in ("duckmesh", "benchmarks", "__future__"):
                continue
            # the warehouses' client libraries: only the module that runs in their own
            # venvs imports them (make warehouses, constraints-<warehouse>.txt)
            if top in ("snowflake", "google"):
                warehouse_libraries.add(name)
                continue
            # a namespace package (dbt) is shipped by several distributions: one declared
            # dependency provides it
            provided_by = {d.lower().replace("_", "-") for d in distributions.get(top, [top])}
            if not provided_by & declared:
                missing.setdefault(top, set()).add(name)
    assert missing == {}, f"imported but not declared in pyproject.toml: {missing}"
    assert warehouse_libraries == {"duckmesh.scaleout.warehouse_client"}
    assert not {"pytest", "websocket-client", "playwright"} & declared
    assert not {"boto3", "botocore", "dbt-loom", "s3fs", "moto"} & runtime
    assert {name for name, users in imported_by_s3(s3_only).items() if users - {
        "duckmesh.sharing.store"}} == set()
    assert {"pytest", "ruff", "mypy", "playwright"} <= test_only


def imported_by_s3(s3_only: set[str]) -> dict[str, set[str]]:
    """Modules that import a distribution of the s3 extra."""
    found: dict[str, set[str]] = {}
    for name, tree in modules().items():
        for module in imported(tree):
            if module.split(".")[0] in s3_only:
                found.setdefault(module.split(".")[0], set()).add(name)
    return found


def test_the_import_graph_has_no_circles() -> None:
    trees = modules()
    graph = {name: {m for m in imported(tree) if m in trees and m != name}
             for name, tree in trees.items()}
    # a package's __init__ may re-export its modules; everything else points one way
    circles = []
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                circles.append(trail[trail.index(target):] + [target])
            elif target not in state:
                visit(target, [*trail, target])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert circles == []


def test_no_sys_path_edits_no_environment_rewrites_no_step_strings() -> None:
    for path in sorted((REPO / "scripts").rglob("*.py")):
        text = path.read_text()
        assert "sys.path.insert" not in text and "sys.path.append" not in text, path
        if path != PACKAGE / "core" / "dbt.py":  # the one runner scopes the profile's env_var()
            assert "os.environ[" not in text and "os.environ.update" not in text, path
        assert "importlib.import_module" not in text, path


@pytest.mark.parametrize("args", [["--help"], ["query", "--db", "other.duckdb", "select 1"]])
def test_the_cli_starts_without_importing_dbt(args: list[str], tmp_path: Path) -> None:
    import duckdb

    # not the build database (DUCKMESH_DB), which `query` refuses to open
    duckdb.connect(str(tmp_path / "other.duckdb")).close()
    probe = ("import sys\nfrom duckmesh.cli import main\n"
             "try:\n    code = main(sys.argv[1:])\nexcept SystemExit as done:\n"
             "    code = done.code\n"
             "print(code, sorted(m for m in sys.modules if m.split('.')[0] == 'dbt'))\n")
    done = subprocess.run([sys.executable, "-c", probe, "--project-dir", str(REPO), *args],
                          capture_output=True, text=True, check=True, cwd=tmp_path,
                          env={"DUCKMESH_DB": str(tmp_path / "mesh.duckdb")})
    assert done.stdout.splitlines()[-1] == "0 []"


def test_the_cli_tables_match_the_capabilities() -> None:
    """The CLI keeps a few values of its own so that --help imports nothing heavy."""
    from duckmesh.cli import publish, selfserve
    from duckmesh.publish.publisher import DEFAULT_KEEP
    from duckmesh.selfserve.domain import KINDS
    from duckmesh.selfserve.version import DEPRECATION_NOTICE_DAYS

    assert selfserve.KIND_CHOICES == sorted(KINDS)
    assert selfserve.NOTICE_DAYS == DEPRECATION_NOTICE_DAYS
    assert publish.DEFAULT_KEEP == DEFAULT_KEEP


def test_the_alert_severities_match() -> None:
    from duckmesh.cli import observability
    from duckmesh.observability import alerts

    assert observability.SEVERITIES == alerts.SEVERITIES


def test_the_layers_point_one_way() -> None:
    """core/ imports nothing else of the platform; nothing outside cli/ imports cli/; cli/
    imports capabilities only inside the command functions (module level: core only)."""
    wrong = []
    for name, tree in modules().items():
        layer = name.split(".")[1] if "." in name else ""
        for module in imported(tree):
            parts = module.split(".")
            if parts[0] != "duckmesh" or len(parts) < 2:
                continue
            if layer == "core" and parts[1] != "core":
                wrong.append((name, module))
            if layer != "cli" and parts[1] == "cli":
                wrong.append((name, module))
        if layer == "cli" and name != "duckmesh.cli.root":
            top_level = ast.Module(body=[n for n in tree.body
                                         if isinstance(n, (ast.Import, ast.ImportFrom))],
                                   type_ignores=[])
            wrong += [(name, m) for m in imported(top_level)
                      if m.startswith("duckmesh.") and m.split(".")[1] not in ("core", "cli")]
    assert wrong == []
