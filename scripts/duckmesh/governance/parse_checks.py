"""Checks read from the files before dbt parses them, for mistakes dbt reports late,
several times and without a fix: a product whose ``latest_version`` is not among its
``versions`` (dbt: "latest_version: 1 is not one of model 'x' versions: []"), a ref
to another domain's private model (dbt: "the referenced node is private to the 'sales'
group"), and a ref or unit test input that dbt would find in several packages once the
domains are installed together ("dbt found nodes in multiple packages"). Refs resolve as
dbt resolves them (core/refs.py): a domain's ``ref('products')`` is its own seed when it
has one. Each finding names the file, what is wrong and the fix; the build stops once,
before dbt starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from duckmesh.core import refs, yamlio
from duckmesh.core.context import BuildContext
from duckmesh.core.output import console
from duckmesh.core.project import Mesh, MeshError, relative

PRODUCTS = "products"


@dataclass
class Package:
    """One dbt project of the mesh (a domain or the root) as its files declare it."""
    name: str
    folder: Path
    refs: refs.Package
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
    nodes = refs.read_package(folder)
    package = Package(nodes.name, folder, nodes)
    models = folder / "models"
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


def ref_index(packages: list[Package]) -> refs.RefIndex:
    """The mesh's refable nodes as dbt sees them from the root (``packages[0]``)."""
    return refs.RefIndex(packages[0].refs, [p.refs for p in packages[1:]])


def ref_findings(mesh: Mesh, packages: list[Package]) -> list[str]:
    """Refs dbt would resolve differently from what their author meant or reject: a ref
    to another package's private model, a name dbt finds in several packages, and a
    package's own node passed over for the root project's (refs.py: dbt's order)."""
    by_name = {p.name: p for p in packages}
    index = ref_index(packages)
    findings = []
    for package in packages:
        for site in refs.sites(package.refs):
            resolution = index.resolve_site(site)
            node = resolution.node
            if resolution.ambiguous:
                findings.append(ambiguous_ref_message(mesh, site, resolution))
            elif resolution.shadowed is not None and node is not None:
                findings.append(shadowed_ref_message(mesh, site, node, resolution.shadowed))
            elif node is not None and node.package != package.name and node.kind == "model" \
                    and PRODUCTS not in node.path.relative_to(by_name[node.package].folder).parts:
                findings.append(private_ref_message(mesh, package, site, by_name[node.package],
                                                    node.name))
    return findings


def qualified(node: refs.Node, site: refs.Site) -> str:
    version = f", v={site.version}" if site.version else ""
    return f"ref('{node.package}', '{node.name}'{version})"


def ambiguous_ref_message(mesh: Mesh, site: refs.Site, resolution: refs.Resolution) -> str:
    what = "an input" if site.unit_input else "a ref"
    own = [n for n in resolution.ambiguous if n.package == site.package]
    choices = own or list(resolution.ambiguous)
    fix = " or ".join(qualified(n, site) for n in choices)
    return (f"{relative(site.path, mesh.root)}: {site.who} has {what}, {site.written}, "
            "that dbt would reject once the domains are installed together "
            f"({resolution.dbt_reason(site.name)}). Fix: write {fix}"
            + (" (its own)" if own else "") + ".")


def shadowed_ref_message(mesh: Mesh, site: refs.Site, node: refs.Node,
                         own: refs.Node) -> str:
    return (f"{relative(site.path, mesh.root)}: {site.who} refs "
            f"{site.name}, and dbt resolves it to {node.unique_id} of the root project, not "
            f"to its own {own.unique_id} (dbt searches the root project first). Fix: write "
            f"{qualified(own, site)}.")


def private_ref_message(mesh: Mesh, package: Package, site: refs.Site,
                        owner: Package, target: str) -> str:
    products = ", ".join(f"{{{{ ref('{owner.name}', '{p}') }}}}" for p in owner.products)
    instead = (f"use one of its public products instead: {products}; or ask"
               if products else "it has no public products: ask")
    team = owner.owner or f"the {owner.name} team"
    return (f"{relative(site.path, mesh.root)}: {site.who} refs {target}, "
            f"which is private to the {owner.name} domain (dbt would stop with 'not allowed "
            f"because the referenced node is private'). Fix: {instead} its owner, {team}, "
            f"for a product with what you need (./duckmesh new-product {owner.name} <name> "
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
