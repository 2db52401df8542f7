"""How dbt resolves a ``ref``, read from the project files before dbt parses them: the
one rule every check before dbt uses (governance's parse checks, the build, adopt,
doctor).

dbt-core 1.11 (``Manifest.resolve_ref`` and ``_packages_to_search``): ``ref('p', 'x')``
looks only in package ``p``. An unqualified ``ref('x')`` from a node of package ``n``
looks in the root project, then in ``n`` (the other way round when the root's
dbt_project.yml sets ``flags: require_ref_searches_node_package_before_root: true``),
then in every package at once, which dbt rejects when more than one package has an
``x`` ("dbt found nodes in multiple packages"). A unit test's ``input: ref('x')`` is
looked up in every package at once straight away. Models, seeds and snapshots share one
name space; a versioned model answers to its name only in its latest version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from duckmesh.core import yamlio

# ref('x'), ref('p', 'x'), each with an optional v=N / version=N
REF = re.compile(r"""\bref\(\s*['"](\w+)['"]\s*(?:,\s*['"](\w+)['"]\s*)?"""
                 r"""(?:,\s*(?:v|version)\s*=\s*['"]?(\w+)['"]?\s*)?\)""")
SNAPSHOT = re.compile(r"""\{%-?\s*snapshot\s+(\w+)\s*-?%\}""")
PACKAGE_FIRST_FLAG = "require_ref_searches_node_package_before_root"
DEFAULT_PATHS = {"model-paths": ["models"], "seed-paths": ["seeds"],
                 "snapshot-paths": ["snapshots"], "test-paths": ["tests"],
                 "analysis-paths": ["analyses"]}


@dataclass(frozen=True)
class Node:
    """A model, seed or snapshot of one package (a versioned model: one per version)."""
    package: str
    name: str
    kind: str  # model | seed | snapshot
    path: Path
    version: str | None = None

    @property
    def unique_id(self) -> str:
        return f"{self.kind}.{self.package}.{self.name}" + \
            (f".v{self.version}" if self.version else "")


@dataclass(frozen=True)
class Site:
    """One ``ref(...)`` written in a file of a package."""
    package: str
    caller: str  # the node (or file) that refs
    path: Path
    name: str
    target_package: str | None
    version: str | None
    unit_input: bool = False  # a unit test's given input (looked up in every package)

    @property
    def who(self) -> str:
        return f"unit test {self.package}.{self.caller}" if self.unit_input \
            else f"{self.package}.{self.caller}"

    @property
    def written(self) -> str:
        args = [f"'{self.target_package}'"] if self.target_package else []
        args.append(f"'{self.name}'")
        return f"ref({', '.join(args)}" + (f", v={self.version})" if self.version else ")")


@dataclass(frozen=True)
class Resolution:
    node: Node | None
    ambiguous: tuple[Node, ...] = ()  # dbt stops: more than one package has the name
    shadowed: Node | None = None  # the caller's own node, passed over for the root's

    def dbt_reason(self, name: str) -> str:
        ids = "', '".join(n.unique_id for n in self.ambiguous)
        return f"When referencing '{name}', dbt found nodes in multiple packages: '{ids}'"


@dataclass
class Package:
    """One dbt project's refable nodes, as its files declare them."""
    name: str
    folder: Path
    paths: dict[str, list[str]]
    nodes: list[Node] = field(default_factory=list)
    latest: dict[str, str] = field(default_factory=dict)  # versioned model -> latest version


def load_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yamlio.loads(path.read_text())
    except Exception:  # noqa: BLE001 (dbt reports unreadable YAML itself, with the line)
        return {}
    return data if isinstance(data, dict) else {}


def files(folder: Path, bases: list[str], *suffixes: str) -> list[Path]:
    found: list[Path] = []
    for base in bases:
        top = folder / base
        if top.is_dir():
            found += sorted(p for p in top.rglob("*") if p.suffix in suffixes and p.is_file()
                            and "dbt_packages" not in p.relative_to(folder).parts)
    return found


def read_package(folder: Path) -> Package:
    project = load_yaml(folder / "dbt_project.yml")
    paths = {key: [str(p) for p in project.get(key) or default]
             for key, default in DEFAULT_PATHS.items()}
    package = Package(str(project.get("name") or folder.name), folder, paths)
    versions: dict[str, tuple[str, list[str]]] = {}  # file stem -> (model, [version])
    for yml in files(folder, paths["model-paths"], ".yml", ".yaml"):
        for entry in load_yaml(yml).get("models") or []:
            if not isinstance(entry, dict) or not entry.get("versions"):
                continue
            name = str(entry.get("name"))
            declared = [str(v.get("v")) for v in entry["versions"] if isinstance(v, dict)]
            if not declared:
                continue
            package.latest[name] = str(entry.get("latest_version") or max(
                declared, key=lambda v: (len(v), v)))
            for v, spec in zip(declared, entry["versions"], strict=True):
                stem = str(spec.get("defined_in") or f"{name}_v{v}")
                versions[stem] = (name, [v])
    for path in files(folder, paths["model-paths"], ".sql", ".py"):
        if path.stem in versions:
            name, (version,) = versions[path.stem]
            package.nodes.append(Node(package.name, name, "model", path, version))
        else:
            package.nodes.append(Node(package.name, path.stem, "model", path))
    package.nodes += [Node(package.name, p.stem, "seed", p)
                      for p in files(folder, project.get("seed-paths") or ["seeds"], ".csv")]
    for path in files(folder, paths["snapshot-paths"], ".sql"):
        package.nodes += [Node(package.name, name, "snapshot", path)
                          for name in SNAPSHOT.findall(path.read_text(errors="replace"))]
    return package


class RefIndex:
    """The refable nodes of the projects dbt parses together, looked up as dbt does."""

    def __init__(self, root: Package, packages: list[Package]) -> None:
        self.root = root.name
        flags = load_yaml(root.folder / "dbt_project.yml").get("flags") or {}
        self.package_first = bool(isinstance(flags, dict) and flags.get(PACKAGE_FIRST_FLAG))
        self.storage: dict[str, dict[str, Node]] = {}
        for package in [root, *[p for p in packages if p.name != root.name]]:
            for node in package.nodes:
                if node.version is not None:
                    self.storage.setdefault(f"{node.name}.v{node.version}", {}).setdefault(
                        node.package, node)
                    if package.latest.get(node.name) != node.version:
                        continue
                self.storage.setdefault(node.name, {}).setdefault(node.package, node)

    def search_order(self, caller: str, target: str | None) -> list[str | None]:
        if target is not None:
            return [target]
        if caller == self.root:
            return [self.root, None]
        return [caller, self.root, None] if self.package_first else [self.root, caller, None]

    def find(self, name: str, package: str | None, version: str | None) -> list[Node]:
        found = self.storage.get(f"{name}.v{version}" if version else name) or {}
        if package is None:
            return list(found.values())
        return [found[package]] if package in found else []

    def resolve(self, caller: str, name: str, target: str | None = None,
                version: str | None = None, *, unit_input: bool = False) -> Resolution:
        order: list[str | None] = [target] if unit_input and target else \
            [None] if unit_input else self.search_order(caller, target)
        for package in order:
            found = self.find(name, package, version)
            if len(found) > 1:
                return Resolution(None, tuple(sorted(found, key=lambda n: n.unique_id)))
            if found:
                own = self.find(name, caller, version)
                shadowed = own[0] if own and found[0].package != caller else None
                return Resolution(found[0], shadowed=shadowed)
        return Resolution(None)

    def resolve_site(self, site: Site) -> Resolution:
        return self.resolve(site.package, site.name, site.target_package, site.version,
                            unit_input=site.unit_input)


def _yml_refs(data: Any, unit_test: str | None = None) -> list[tuple[str, str | None]]:
    """(text, the unit test it is an input of) of every string with a ref( in a yml
    document."""
    if isinstance(data, str):
        return [(data, unit_test)] if "ref(" in data else []
    if isinstance(data, list):
        return [r for item in data for r in _yml_refs(item, unit_test)]
    if isinstance(data, dict):
        found = []
        for key, value in data.items():
            if key == "unit_tests" and isinstance(value, list):
                for test in value:
                    given = test.get("given") if isinstance(test, dict) else None
                    for item in given or []:
                        if isinstance(item, dict) and isinstance(item.get("input"), str):
                            found += _yml_refs(item["input"], str(test.get("name")))
            else:
                found += _yml_refs(value, unit_test)
        return found
    return []


def sites(package: Package) -> list[Site]:
    """Every ref written in the package's models, snapshots, tests, analyses and yml."""
    found: list[Site] = []
    paths = package.paths
    sql_bases = [*paths["model-paths"], *paths["snapshot-paths"], *paths["test-paths"],
                 *paths["analysis-paths"]]
    for path in files(package.folder, sql_bases, ".sql", ".py"):
        found += [Site(package.name, path.stem, path, second or first, first if second else None,
                       version or None)
                  for first, second, version in REF.findall(path.read_text(errors="replace"))]
    for path in files(package.folder, [*paths["model-paths"], *paths["test-paths"],
                                       *paths["snapshot-paths"]], ".yml", ".yaml"):
        for text, unit_test in _yml_refs(load_yaml(path)):
            found += [Site(package.name, unit_test or path.name, path, second or first,
                           first if second else None, version or None, unit_test is not None)
                      for first, second, version in REF.findall(text)]
    return found
