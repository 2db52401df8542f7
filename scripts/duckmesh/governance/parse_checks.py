"""Checks read from the files before dbt parses them, for mistakes dbt reports late,
several times and without a fix: a product whose ``latest_version`` is not among its
``versions`` (dbt: "latest_version: 1 is not one of model 'x' versions: []"), and a ref
to another domain's private model (dbt: "the referenced node is private to the 'sales'
group"). Each finding names the file, what is wrong and the fix; the build stops once,
before dbt starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from duckmesh.core import yamlio
from duckmesh.core.context import BuildContext
from duckmesh.core.output import console
from duckmesh.core.project import Mesh, MeshError, relative

# ref('model'), ref('package', 'model'), each optionally with v=N
REF = re.compile(r"""\bref\(\s*['"](\w+)['"]\s*(?:,\s*['"](\w+)['"])?""")
PRODUCTS = "products"


@dataclass
class Package:
    """One dbt project of the mesh (a domain or the root) as its files declare it."""
    name: str
    folder: Path
    models: dict[str, Path] = field(default_factory=dict)  # model name -> SQL file
    products: list[str] = field(default_factory=list)  # public products (yml names)
    owner: str = ""


class ProjectCheckError(MeshError):
    """Problems found in the project files before dbt ran."""


def _yml_files(folder: Path) -> list[Path]:
    models = folder / "models"
    return sorted(models.rglob("*.yml")) if models.is_dir() else []


def _load(path: Path) -> dict:
    try:
        data = yamlio.loads(path.read_text())
    except yaml.YAMLError:
        return {}  # dbt reports unreadable YAML itself, with the line
    return data if isinstance(data, dict) else {}


def read_package(folder: Path) -> Package:
    project = _load(folder / "dbt_project.yml")
    package = Package(str(project.get("name") or folder.name), folder)
    models = folder / "models"
    for sql in sorted(models.rglob("*.sql")) if models.is_dir() else []:
        package.models.setdefault(sql.stem, sql)
    for yml in _yml_files(folder):
        data = _load(yml)
        for group in data.get("groups") or []:
            owner = (group or {}).get("owner") or {}
            if isinstance(owner, dict) and owner.get("name"):
                email = f" <{owner['email']}>" if owner.get("email") else ""
                package.owner = f"{owner['name']}{email}"
        if PRODUCTS in yml.relative_to(models).parts:
            for entry in data.get("models") or []:
                if isinstance(entry, dict) and entry.get("name"):
                    package.products.append(str(entry["name"]))
    package.products.sort()
    return package


def mesh_packages(mesh: Mesh) -> list[Package]:
    return [read_package(mesh.root), *(read_package(d) for d in mesh.domain_dirs())]


def version_findings(mesh: Mesh, package: Package) -> list[str]:
    """A model whose latest_version is not one of its versions."""
    findings = []
    for yml in _yml_files(package.folder):
        for entry in _load(yml).get("models") or []:
            if not isinstance(entry, dict) or "latest_version" not in entry:
                continue
            latest = entry["latest_version"]
            declared = [v.get("v") for v in entry.get("versions") or [] if isinstance(v, dict)]
            if latest in declared or str(latest) in [str(v) for v in declared]:
                continue
            name = entry.get("name")
            listed = ", ".join(f"v{v}" for v in declared) if declared else "no versions"
            findings.append(
                f"{relative(yml, mesh.root)}: product {name} says latest_version: {latest} "
                f"but lists {listed}. Fix: add `- v: {latest}` under `versions:` of {name} "
                f"(one entry per {name}_v<N>.sql file), e.g.\n"
                f"      versions:\n        - v: {latest}")
    return findings


def ref_findings(mesh: Mesh, packages: list[Package]) -> list[str]:
    """A ref from one package to another package's private model."""
    by_name = {p.name: p for p in packages}
    findings = []
    for package in packages:
        for model, sql in package.models.items():
            for first, second in REF.findall(sql.read_text()):
                if second:
                    owner, target = by_name.get(first), second
                elif first in package.models:
                    continue
                else:
                    owner = next((p for p in packages if first in p.models), None)
                    target = first
                if owner is None or owner is package or target not in owner.models:
                    continue
                if PRODUCTS in owner.models[target].relative_to(owner.folder).parts:
                    continue
                findings.append(private_ref_message(mesh, package, model, sql, owner, target))
    return findings


def private_ref_message(mesh: Mesh, package: Package, model: str, sql: Path,
                        owner: Package, target: str) -> str:
    products = ", ".join(f"{{{{ ref('{owner.name}', '{p}') }}}}" for p in owner.products)
    instead = (f"use one of its public products instead: {products}; or ask"
               if products else "it has no public products: ask")
    team = owner.owner or f"the {owner.name} team"
    return (f"{relative(sql, mesh.root)}: {package.name}.{model} refs {target}, which is "
            f"private to the {owner.name} domain (dbt would stop with 'not allowed because "
            f"the referenced node is private'). Fix: {instead} its owner, {team}, for a "
            f"product with what you need (./duckmesh new-product {owner.name} <name> "
            f"--from {target}).")


GOVERNANCE_VAR = "duckmesh_governance"


@dataclass(frozen=True)
class DomainOverride:
    """A domain's dbt_project.yml setting the mesh's governance vars (P00): a domain
    built alone is dbt's root project, so its own vars would rule its check."""

    domain: str
    file: str  # relative to the mesh root
    var: str  # vars.duckmesh_governance[.<key>]
    value: object

    def message(self) -> str:
        return (f"{self.file} sets {self.var}: {self.value!r}; a domain cannot set governance "
                "severities, exemptions or rules (they would rule its own build, `build "
                "--domain` and `ci`, and nothing else)")

    def fix(self) -> str:
        return (f"remove {self.var} from {self.file}; the mesh sets them in the root "
                f"dbt_project.yml under vars.{GOVERNANCE_VAR}, and an exception is an exemption "
                "there (policy, node, reason, expires), reviewed by the governance group")

    def line(self) -> str:
        return f"[P00 error] domain {self.domain}, {self.file}: {self.message()}. Fix: {self.fix()}."


def domain_overrides(mesh: Mesh) -> list[DomainOverride]:
    """Every vars.duckmesh_governance (or a key of it) a domain's dbt_project.yml sets,
    unscoped or scoped to a package."""
    found = []
    for folder in mesh.domain_dirs():
        path = folder / "dbt_project.yml"
        variables = _load(path).get("vars") or {}
        if not isinstance(variables, dict):
            continue
        scopes = [("vars", variables)] + [(f"vars.{k}", v) for k, v in variables.items()
                                          if isinstance(v, dict)]
        for where, scope in scopes:
            if GOVERNANCE_VAR not in scope:
                continue
            value = scope[GOVERNANCE_VAR]
            entries = value.items() if isinstance(value, dict) and value else [(None, value)]
            for key, item in entries:
                var = f"{where}.{GOVERNANCE_VAR}" + (f".{key}" if key else "")
                found.append(DomainOverride(folder.name, relative(path, mesh.root), var, item))
    return found


def findings(mesh: Mesh) -> list[str]:
    packages = mesh_packages(mesh)
    found = []
    for package in packages:
        found += version_findings(mesh, package)
    found += [o.line() for o in domain_overrides(mesh)]
    return found + ref_findings(mesh, packages)


def check(mesh: Mesh) -> None:
    """Raise one ProjectCheckError listing every finding (nothing when all is well)."""
    found = findings(mesh)
    if found:
        raise ProjectCheckError(
            f"{len(found)} problem(s) in the project files, found before dbt ran:\n"
            + "\n".join(f"  - {f}" for f in found))


def before_build(ctx: BuildContext) -> None:
    """The build step: stop before dbt on any finding."""
    check(ctx.mesh)
    console().step("      project files: versions and cross-domain refs OK")
