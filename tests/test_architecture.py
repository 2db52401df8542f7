"""The platform's shape, checked: packaging metadata that tells the truth, an import
graph without circles, no path or environment tricks, and a CLI that starts without
importing dbt."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Mapping
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
    # the optional extras, each imported only by the module that needs it: s3 (boto3,
    # botocore) by duckmesh.sharing.store, legacy (ADBC, pyarrow) by duckmesh.sources.legacy,
    # lineage (openlineage-python) by duckmesh.catalog.openlineage; never runtime ones
    extras = {Requirement(r).name.lower() for extra in ("s3", "legacy", "lineage")
              for r in PYPROJECT["project"]["optional-dependencies"][extra]}
    declared = runtime | extras
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
    for extra, home in (("s3", "duckmesh.sharing.store"), ("legacy", "duckmesh.sources.legacy"),
                        ("lineage", "duckmesh.catalog.openlineage")):
        wanted = {Requirement(r).name.lower()
                  for r in PYPROJECT["project"]["optional-dependencies"][extra]}
        assert {name for name, users in imported_from(wanted, distributions).items()
                if users - {home}} == set(), extra
    assert {"pytest", "ruff", "mypy", "playwright"} <= test_only


def imported_from(wanted: set[str], distributions: Mapping[str, list[str]]
                  ) -> dict[str, set[str]]:
    """Modules that import a package of the distributions ``wanted``."""
    found: dict[str, set[str]] = {}
    for name, tree in modules().items():
        for module in imported(tree):
            top = module.split(".")[0]
            if {d.lower().replace("_", "-") for d in distributions.get(top, [top])} & wanted:
                found.setdefault(top, set()).add(name)
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


def test_the_capability_packages_hold_values_and_import_nothing() -> None:
    """The CLI's options read their defaults and choices (DEFAULT_KEEP, SEVERITIES, KINDS)
    from the capability packages' __init__ modules, so those modules import nothing."""
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        if init.parent.name in ("cli", "core"):
            continue
        tree = ast.parse(init.read_text())
        assert imported(tree) == set(), init


def test_one_voice_no_print_outside_the_console() -> None:
    """Every line of the platform goes through core/output.py's console (plain off a
    terminal, quiet and --json modes): no print() and no `= print` default anywhere else."""
    printing = []
    for name, tree in modules().items():
        if name == "duckmesh.core.output":
            continue
        printing += [(name, node.lineno) for node in ast.walk(tree)
                     if isinstance(node, ast.Name) and node.id == "print"]
    assert printing == []


def test_the_layers_point_one_way() -> None:
    """core/ imports nothing else of the platform; nothing outside cli/ imports cli/; cli/
    imports capabilities only inside the command functions (module level: core, and the
    values of a capability package's __init__)."""
    wrong = []
    trees = modules()
    for name, tree in trees.items():
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
                      if m in trees and len(m.split(".")) > 2
                      and m.split(".")[1] not in ("core", "cli")]
    assert wrong == []


# ---------------------------------------------------------------- docs that cannot drift

ARCHITECTURE = REPO / "docs" / "architecture.md"
ENTRY = re.compile(r"^( {4,})(\S+)(?:\s|$)")


def documented_modules() -> set[str]:
    """The module tree of docs/architecture.md: in the indented block after "The platform",
    a line `<indent>name/` is a package and `<indent>name.py` a module, two more spaces of
    indent per level; continuation lines (deeper, not a name) are descriptions."""
    text = ARCHITECTURE.read_text().split("The platform, `scripts/duckmesh/`.", 1)[1]
    found, trail = set(), []  # trail: (indent, package) of the open packages
    for line in text.splitlines():
        match = ENTRY.match(line)
        if not match or not re.fullmatch(r"\w+(/|\.py)", match.group(2)):
            continue
        indent, name = len(match.group(1)), match.group(2)
        while trail and trail[-1][0] >= indent:
            trail.pop()
        path = "/".join([p for _, p in trail] + [name.rstrip("/")])
        if name.endswith("/"):
            trail.append((indent, name.rstrip("/")))
        else:
            found.add(path)
    return found


def test_the_architecture_doc_lists_every_module() -> None:
    on_disk = {path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*.py")
               if path.name != "__init__.py"}
    documented = documented_modules()
    problems = [f"scripts/duckmesh/{m} is not in docs/architecture.md: add a line for it "
                f"under {m.rsplit('/', 1)[0]}/" for m in sorted(on_disk - documented)]
    problems += [f"docs/architecture.md lists {m}, which is not in scripts/duckmesh/: "
                 "remove or move its line" for m in sorted(documented - on_disk)]
    assert problems == [], "\n".join(problems)


def test_the_doc_parser_sees_packages_nested_modules_and_descriptions() -> None:
    """The tree reader itself, on the doc: a nested package, a module after it, and a
    wrapped description that names a file are read as written."""
    documented = documented_modules()
    assert {"selfserve/adopt/layout.py", "selfserve/contracts.py", "core/dbt.py",
            "cli/__main__.py"} <= documented
    assert not {m for m in documented if m.count("/") != 1 and not m.startswith(
        "selfserve/adopt/")}


def tracked_text_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True,
                            text=True, check=True).stdout.split("\0")
    paths = [REPO / name for name in listed if name]
    return [p for p in paths if p.is_file() and p.suffix not in {".parquet", ".duckdb", ".png"}]


TRACKER = re.compile(r"\bissues?\s+\d", re.IGNORECASE)


def test_nothing_cites_a_tracker_number() -> None:
    """The tracker is not in the repository: a comment, docstring or doc says what and why
    in its own words, never a ticket number."""
    found = [f"{path.relative_to(REPO)}:{number}: {line.strip()}"
             for path in tracked_text_files()
             for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
             if TRACKER.search(line)]
    assert found == [], "\n".join(found)


def policies() -> tuple[list[str], list[str]]:
    """The policy ids of the macros (macros/governance/_policies.yml) and of the Python
    policies over compiled SQL (a module's POLICY constant)."""
    import yaml

    declared = yaml.safe_load((REPO / "macros" / "governance" / "_policies.yml").read_text())
    macro = sorted(m["meta"]["policy"] for m in declared["macros"] if "policy" in m.get(
        "meta", {}))
    python = sorted(re.findall(r'^POLICY = "(P\d\d)"$', path.read_text(), re.MULTILINE)[0]
                    for path in (PACKAGE / "governance").glob("*.py")
                    if re.search(r'^POLICY = "P\d\d"$', path.read_text(), re.MULTILINE))
    return macro, python


def test_policy_ranges_are_the_policies() -> None:
    """A range such as "P00-P13" anywhere in the repository is either every policy or the
    macro policies, as the policy files declare them today."""
    macro, python = policies()
    # a policy may have a macro part and a part over compiled SQL (P10)
    every = sorted(set(macro) | set(python))
    assert every == [f"P{n:02d}" for n in range(len(every))], every  # no gap
    allowed = {f"{every[0]}-{every[-1]}", f"{macro[0]}-{macro[-1]}"}
    ranges = [(f"{path.relative_to(REPO)}:{number}", found)
              for path in tracked_text_files()
              for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
              for found in re.findall(r"\bP\d\d-P\d\d\b", line)]
    assert ranges, "no policy range found: the test looks in the wrong place"
    assert [r for r in ranges if r[1] not in allowed] == []


def test_files_named_in_the_repository_exist() -> None:
    """A test file or platform module that a doc, comment or config names exists."""
    named = re.compile(r"(?<![\w/.-])((?:tests/test_\w+|scripts/duckmesh/[\w/]+)\.py)\b")
    missing = [f"{path.relative_to(REPO)}:{number}: {found}"
               for path in tracked_text_files()
               for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
               for found in named.findall(line) if not (REPO / found).is_file()]
    assert missing == [], "\n".join(missing)


# ---------------------------------------------------------------- packaging

def test_the_wheel_holds_the_platform_and_not_the_benchmarks() -> None:
    from setuptools import find_packages

    find = PYPROJECT["tool"]["setuptools"]["packages"]["find"]
    packages = find_packages(where=str(REPO / find["where"][0]), include=find["include"])
    assert "duckmesh" in packages and "duckmesh.selfserve.adopt" in packages
    assert [p for p in packages if not p.startswith("duckmesh")] == []
    assert (REPO / "scripts" / "benchmarks" / "cli.py").is_file()


BENCH_PROBE = """
import sys
from pathlib import Path
from duckmesh.cli import bench
from duckmesh.core.project import MeshError
# an installed wheel: nothing on the path holds the benchmarks package
sys.path[:] = [p for p in sys.path if not (Path(p or '.') / 'benchmarks').is_dir()]
try:
    bench._load_benchmarks(Path(sys.argv[2]))
except MeshError as error:
    print('error:', error)
bench._load_benchmarks(Path(sys.argv[1]))
from benchmarks.cli import main
print(Path(sys.modules['benchmarks.cli'].__file__).relative_to(sys.argv[1]))
"""


def test_bench_loads_the_benchmarks_from_the_checkout(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", BENCH_PROBE, str(REPO), str(tmp_path)],
                          capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(REPO / "scripts")})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == [
        f"error: no benchmarks in {tmp_path}/scripts/benchmarks: they ship with the "
        "repository, not the installed package; run `duckmesh bench` from a clone of it",
        "scripts/benchmarks/cli.py"]
