"""Domain autonomy: build, test, govern and publish one domain on its own.

`duckmesh build --domain <name>` and `duckmesh ci --domain <name>` run the domain's own
dbt project (domains/<name>/, or the root project for the consumer domain) in a
workspace of its own, target/domains/<name>/: its own build database (build.duckdb,
kept between runs so incremental products stay incremental), its own dbt artifacts and
its own source checks. Upstream domains are never rebuilt: their products are read
from the last publish, attached read-only as `published` (the platform's on-run-start
hook does it; docs/domains.md). `ci` then checks the domain's products against the
published manifest (SemVer) and publishes only this domain's products into a new
snapshot; every other product of the previous snapshot is carried over as it was.
"""

from __future__ import annotations

import copy
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbt.contracts.graph.manifest import WritableManifest

from duckmesh.build.deps import declared_packages
from duckmesh.consumers import impact
from duckmesh.core import yamlio
from duckmesh.core.artifacts import load_manifest
from duckmesh.core.context import BuildContext
from duckmesh.core.output import console, format_table
from duckmesh.core.products import ProductVersion, public_products, row_counts
from duckmesh.core.project import Mesh, MeshError, relative
from duckmesh.governance import gate, offline, semver
from duckmesh.publish import publisher
from duckmesh.sources.quarantine import validate_sources

# the keys of a manifest that hold package-owned resources
RESOURCE_KEYS = ("nodes", "sources", "exposures", "metrics", "groups", "semantic_models",
                 "unit_tests", "saved_queries")
REF_IN_SQL = re.compile(r"""\bref\(\s*['"](\w+)['"]\s*,\s*['"]\w+['"]""")


@dataclass(frozen=True)
class DomainWorkspace(Mesh):
    """The mesh seen from one domain's build: the same root (published/, data/,
    profiles/), but the domain's own database, artifacts and source checks."""

    domain: str = ""
    folder: Path = field(default_factory=Path)  # the domain's dbt project
    project: str = ""  # its dbt project name (the domain, or the root's name)

    @property
    def is_root(self) -> bool:
        return self.folder == self.root

    @property
    def work_dir(self) -> Path:
        return self.root / "target" / "domains" / self.domain

    @property
    def db_path(self) -> Path:
        return self.work_dir / "build.duckdb"

    @property
    def target_dir(self) -> Path:
        return self.work_dir / "target"

    @property
    def manifest_path(self) -> Path:
        return self.target_dir / "manifest.json"

    def domain_dirs(self) -> list[Path]:
        return [] if self.is_root else [self.folder]

    def dbt_env(self, data_dir: Path) -> dict[str, str]:
        """What the domain's dbt reads: its own database, the data, the last publish.
        packages.yml's local entries point relative to the project dbt runs from (so a
        lock that dbt rewrites stays relative): the mesh's own values for the root,
        ../../macros and .. for a domain, whatever the calling environment says."""
        return {"DUCKMESH_DB": str(self.db_path), "DUCKMESH_DATA": str(data_dir),
                "DUCKMESH_PUBLISHED": str(self.root / "published"),
                "DUCKMESH_PII_SALT_FILE": str(self.pii_salt_path),
                "DUCKMESH_PLATFORM": os.path.relpath(self.root / "macros", self.folder),
                "DUCKMESH_DOMAINS": os.path.relpath(self.root / "domains", self.folder)}


def _project_name(folder: Path) -> str:
    return str((yamlio.loads((folder / "dbt_project.yml").read_text()) or {}).get("name"))


def _root_domain(mesh: Mesh) -> str:
    """The root project's domain: its group's name (analytics), else its project name."""
    groups = mesh.root / "models" / "_groups.yml"
    if groups.is_file():
        data = yamlio.loads(groups.read_text()) or {}
        for group in data.get("groups") or []:
            return str(group.get("name"))
    return _project_name(mesh.root)


def resolve(mesh: Mesh, name: str) -> DomainWorkspace:
    """The workspace of domain ``name``; a clear error for a name the mesh lacks."""
    folders = {folder.name: folder for folder in mesh.domain_dirs()}
    root_names = {_root_domain(mesh), _project_name(mesh.root)}
    if name in root_names:
        return DomainWorkspace(mesh.root, mesh.settings, domain=_root_domain(mesh), folder=mesh.root,
                               project=_project_name(mesh.root))
    if name in folders:
        return DomainWorkspace(mesh.root, mesh.settings, domain=name, folder=folders[name],
                               project=_project_name(folders[name]))
    candidates = mesh.root / "domains" / name
    hint = (f"domains/{name} exists but is not in packages.yml: add `- local: domains/{name}`"
            if candidates.is_dir() else f"`duckmesh new-domain {name}` creates one")
    known = ", ".join(sorted([*folders, _root_domain(mesh)]))
    raise MeshError(f"unknown domain {name!r}: the mesh's domains are {known}; {hint}")


# -- declared dependencies ----------------------------------------------------------------

def undeclared_refs(ws: DomainWorkspace, domains: set[str]) -> dict[str, list[str]]:
    """Other domains this domain refs (ref('<domain>', ...) in its SQL and yml) that its
    packages.yml does not list: {domain: [files]}."""
    declared = declared_packages(ws.folder)
    found: dict[str, list[str]] = {}
    model_dirs = [ws.folder / "models"] if (ws.folder / "models").is_dir() else []
    for folder in model_dirs:
        for path in sorted([*folder.rglob("*.sql"), *folder.rglob("*.yml")]):
            for other in REF_IN_SQL.findall(path.read_text()):
                if other in domains and other != ws.project and other not in declared:
                    found.setdefault(other, []).append(relative(path, ws.root))
    return found


def check_dependencies(mesh: Mesh, ws: DomainWorkspace) -> list[str]:
    """The upstream domains ``ws`` declares; an error naming both domains and the line
    to add when it refs one it does not declare."""
    domains = {folder.name for folder in mesh.domain_dirs()}
    missing = undeclared_refs(ws, domains)
    if missing:
        lines = []
        for other, files in sorted(missing.items()):
            where = "packages.yml" if ws.is_root else f"domains/{ws.domain}/packages.yml"
            lines.append(
                f"domain {ws.domain} refs products of domain {other} ({', '.join(sorted(set(files)))}) "
                f"but {where} does not list it: add "
                f"`- local: \"{{{{ env_var('DUCKMESH_DOMAINS', '..') }}}}/{other}\"` to {where} and "
                f"`{other}: {{+database: published}}` under models: in its dbt_project.yml")
        raise MeshError("; ".join(lines))
    if ws.is_root:
        return sorted(domains)
    return sorted(declared_packages(ws.folder) & domains)


# -- the last publish ----------------------------------------------------------------------

def published_dir(mesh: Mesh) -> Path:
    return mesh.root / "published"


def check_publish(mesh: Mesh, ws: DomainWorkspace, upstream: list[str]) -> dict | None:
    """The last published manifest (None when there is no publish and the domain reads
    no upstream product); a one-line error when the domain needs a publish that is
    missing or was made by an incompatible dbt."""
    pub = published_dir(mesh)
    publisher.check_published(mesh, log=console().step)
    manifest_file, database = pub / "manifest.json", pub / "mesh.duckdb"
    if not manifest_file.is_file() or not database.is_file():
        if upstream:
            raise MeshError(
                f"no publish yet at {relative(pub, mesh.root)}/: domain {ws.domain} reads "
                f"the products of {', '.join(upstream)} from the last publish. Make one first: "
                "`duckmesh build` (the whole mesh; it publishes) or "
                f"`duckmesh ci --domain {upstream[0]}`")
        return None
    published = json.loads(manifest_file.read_text())
    theirs = published.get("metadata", {}).get("dbt_schema_version", "")
    ours = str(WritableManifest.dbt_schema_version)
    if theirs != ours:
        raise MeshError(
            f"the publish at {relative(manifest_file, mesh.root)} was written by dbt "
            f"{published.get('metadata', {}).get('dbt_version', '?')} ({theirs}); this dbt "
            f"writes {ours}: republish the mesh with this dbt (`duckmesh build`)")
    return published


# -- building: the steps of a domain's build (build/pipeline.py runs them) -----------------

@dataclass
class DomainContext(BuildContext):
    """The BuildContext of one domain's build (``mesh`` is its DomainWorkspace)."""

    published: dict | None = None  # the last published manifest (check_publish)
    no_publish: bool = False  # `ci --no-publish`: stop after the checks

    @property
    def ws(self) -> DomainWorkspace:
        assert isinstance(self.mesh, DomainWorkspace)
        return self.mesh

    @property
    def whole_mesh(self) -> Mesh:
        return Mesh(self.mesh.root, self.mesh.settings)

    @staticmethod
    def of(ctx: BuildContext) -> DomainContext:
        assert isinstance(ctx, DomainContext), "a domain step runs in a domain's build"
        return ctx


def dbt_args(mesh: Mesh, ws: DomainWorkspace) -> list[str]:
    """What a domain's `dbt build` adds: its own artifacts folder and the mesh's
    governance settings; for the root project its own nodes only, upstream products read
    from the publish."""
    args = ["--target-path", str(ws.target_dir)]
    build_vars = mesh_governance_vars(mesh)
    if ws.is_root:
        args += ["--select", f"package:{ws.project}"]
        build_vars["duckmesh_upstream_database"] = "published"
    return [*args, "--vars", json.dumps(build_vars)]


def check_sources(ctx: BuildContext) -> None:
    """BEFORE_BUILD step: the domain's own source checks (the root project has none)."""
    ws = DomainContext.of(ctx).ws
    if not ws.is_root:
        ctx.validated_data = validate_sources(ws, ctx.data_dir)


def govern(ctx: BuildContext) -> None:
    """The whole policy check, with the mesh's settings, over what this build made."""
    ws = DomainContext.of(ctx).ws
    gate.require(ws, load_manifest(ws), f"domain {ws.domain}'s build", partial=True,
                 packages={ws.project}, project_dir=ws.folder,
                 log=console().step)


def mesh_governance_vars(mesh: Mesh) -> dict[str, Any]:
    """vars.duckmesh_governance of the mesh root, for a domain's own build: its hook
    judges with the mesh's severities and exemptions, never the domain's (a domain that
    sets them is a P00 error, parse_checks.domain_overrides). Paths stay the domain's."""
    project = yamlio.loads((mesh.root / "dbt_project.yml").read_text()) or {}
    config = dict(offline.root_vars(project).get("duckmesh_governance") or {})
    for key in ("published_manifest", "packages_install_path"):
        config.pop(key, None)
    return {"duckmesh_governance": config} if config else {}


def own_products(ws: DomainWorkspace, manifest: dict) -> list[ProductVersion]:
    return [p for p in public_products(manifest) if p.package == ws.project]


def summary(ws: DomainWorkspace) -> str:
    manifest = load_manifest(ws)
    products = own_products(ws, manifest)
    counts = row_counts(ws.db_path, products)
    rows = [[p.domain, p.name, f"v{p.version}",
             "missing" if counts[p.relation] is None else f"{counts[p.relation]:,}",
             p.relation] for p in products]
    return format_table(["domain", "product", "version", "rows", "relation"], rows)


def print_summary(ctx: BuildContext) -> None:
    """`build --domain`: the domain's products and what ran."""
    ws = DomainContext.of(ctx).ws
    ran = (ctx.artifacts.run_results or {}).get("results") or []
    console().step("[4/4] data products of this domain")
    console().out(summary(ws))
    console().out(f"\ndomain {ws.domain} built in {ctx.build_seconds:.1f}s (dbt build): "
                  f"{relative(ws.db_path, ws.root)}; {len(ran)} nodes ran")


def print_ci_summary(ctx: BuildContext) -> None:
    """`ci --domain`: the domain's products."""
    console().out(summary(DomainContext.of(ctx).ws))


# -- publishing one domain ------------------------------------------------------------------

def merged_manifest(published: dict | None, built: dict, packages: set[str]) -> dict:
    """The manifest of the new snapshot: the last published one, with every resource of
    ``packages`` replaced by the domain build's. Metadata (invocation id) is the build's,
    so publish pairs it with the build's run_results."""
    merged = copy.deepcopy(published) if published else {key: {} for key in RESOURCE_KEYS}
    merged["metadata"] = built["metadata"]
    for key in RESOURCE_KEYS:
        kept = {uid: node for uid, node in (merged.get(key) or {}).items()
                if node.get("package_name") not in packages}
        kept.update({uid: node for uid, node in (built.get(key) or {}).items()
                     if node.get("package_name") in packages})
        merged[key] = kept
    parents: dict[str, list[str]] = {}
    for uid, node in [*merged["nodes"].items(), *merged.get("unit_tests", {}).items()]:
        parents[uid] = list((node.get("depends_on") or {}).get("nodes") or [])
    children: dict[str, list[str]] = {uid: [] for uid in parents}
    for uid, ups in parents.items():
        for parent in ups:
            children.setdefault(parent, []).append(uid)
    merged["parent_map"], merged["child_map"] = parents, children
    return merged


def semver_check(ctx: BuildContext) -> None:
    """AFTER_BUILD step of `ci`: no breaking change to the domain's products without a
    new version since the last publish."""
    ws = DomainContext.of(ctx).ws
    console().step("[4/4] SemVer check and publish")
    found = changes(ws, DomainContext.of(ctx).published)
    for change in found:
        console().step(f"      {change.line()}")
    if any(c.unversioned_breaking for c in found):
        raise MeshError(f"domain {ws.domain}: a breaking change without a new version; "
                        "nothing published")
    if not found:
        console().step("      no contract change (SemVer) since the last publish")


def impact_check(ctx: BuildContext) -> None:
    """AFTER_BUILD step of `ci`: no registered consumer's read breaks."""
    dctx = DomainContext.of(ctx)
    impact.before_publish(dctx.whole_mesh, merged_manifest(
        dctx.published, load_manifest(dctx.ws), {dctx.ws.project}), dctx.published)


def publish_step(ctx: BuildContext) -> None:
    """AFTER_BUILD step of `ci`: publish the domain's products (unless --no-publish)."""
    dctx = DomainContext.of(ctx)
    if dctx.no_publish:
        console().step("      --no-publish: nothing published")
        return
    publish(dctx.whole_mesh, dctx.ws, dctx.published)


def publish(mesh: Mesh, ws: DomainWorkspace, last: dict | None) -> None:
    """Publish the domain's products into a new snapshot, carrying every other product.
    The manifest is merged over the last publish once the publish lock is held, so two
    domains publishing at once both land: the second merges over the first's."""
    built = load_manifest(ws)
    packages = {ws.project}
    own = {p.relation for p in own_products(ws, built)}

    def merge() -> None:  # under the publish lock: the publish as it is now
        manifest_file = published_dir(mesh) / "manifest.json"
        now = json.loads(manifest_file.read_text()) if manifest_file.is_file() else last
        ws.manifest_path.write_text(json.dumps(merged_manifest(now, built, packages)))

    def log(line: str) -> None:  # other domains' products are carried: one line below
        if line.split()[0] in own or " not published " not in line:
            console().step(line)

    done = publisher.publish(ws, in_build=True, log=log, prepare=merge,
                             governed=True)  # the gate ran after the build
    published_own = sorted(r for r in done.built if r in own)
    carried_own = sorted(r for r in done.carried if r in own)
    others = len([r for r in done.carried if r not in own])
    console().step(f"      published snapshot {done.snapshot}: {len(published_own)} product version(s) "
                   f"of {ws.domain} ({', '.join(published_own) or 'none'}); {others} of other domains "
                   "carried over unchanged"
                   + (f"; kept the previous {', '.join(carried_own)}" if carried_own else ""))


def changes(ws: DomainWorkspace, published: dict | None) -> list:
    """SemVer class of each change to this domain's products since the last publish."""
    if published is None:
        return []
    after = merged_manifest(published, load_manifest(ws), {ws.project})
    return [c for c in semver.compare_manifests(published, after)
            if c.domain in {ws.domain, ws.project}]
