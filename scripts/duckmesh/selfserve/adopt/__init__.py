"""`duckmesh adopt PATH --as DOMAIN`: onboard an existing dbt project as a domain,
without editing the project first (and never editing it at all: adopt works on a copy).

1. build the project alone, the way it really builds (deps, seed, build, --vars), into a
   scratch DuckDB file, to read the types of its marts (scratch.py);
2. copy only what a dbt package needs to domains/DOMAIN and list what it left out; drop
   its overrides of dbt's naming macros (layout.py);
3. rename it DOMAIN with restrict-access, the domain's group, private-by-default access
   and the domain's schema; keep its packages in the domain's packages.yml; point its
   seed-backed sources at the domain's schema (project.py);
4. the marts picked with --products become products (the others stay private), with the
   P05/P10 casts applied and every test kept (products.py);
5. register the domain, install it, run the governance check and print the numbered
   checklist (report.py).

``--update`` re-runs on an adopted domain without touching what its team edited: it sets
the owner, adds products, and checks again. ``--force`` replaces the domain (destructive).
"""

from __future__ import annotations

import json
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from duckmesh.build.deps import deps_args
from duckmesh.core import dbt, yamledit
from duckmesh.core.names import InvalidInput
from duckmesh.core.output import console
from duckmesh.core.project import Mesh, MeshError
from duckmesh.selfserve.adopt import layout, project, qualify, scratch
from duckmesh.selfserve.adopt.products import (
    Choice,
    candidate_spec,
    choose,
    collisions,
    existing_products,
    pop_model_entries,
    rename_refs,
    write_product,
)
from duckmesh.selfserve.adopt.report import Gap, checklist, governance_gaps, merge_gaps, own_gaps
from duckmesh.selfserve.contracts import ProductSpec, field_type_rules
from duckmesh.selfserve.domain import package_files
from duckmesh.selfserve.rules import (
    RefusedOverwrite,
    check_domain_name,
    check_email,
    check_text,
)

__all__ = ["AdoptRequest", "Adoption", "Gap", "adopt", "checklist"]


@dataclass(frozen=True)
class AdoptRequest:
    source: Path
    domain: str
    owner: str | None = None
    email: str | None = None
    products: list[Choice] | None = None  # None: every mart with a product name
    variables: dict[str, Any] = field(default_factory=dict)  # --vars
    marts_dir: str = "marts"
    link: bool = False
    force: bool = False
    update: bool = False

    def command(self, *extra: str) -> str:
        """This adoption's command line again, with ``extra`` options."""
        return " ".join([f"./duckmesh adopt {self.source} --as {self.domain}", *extra])

    def again(self, copied: bool) -> str:
        """The whole command line to run once what stopped it is fixed: a domain copied
        by this (new) adoption is replaced (--force), an --update runs as --update."""
        options = [f"--owner {shlex.quote(self.owner)}" if self.owner else "",
                   f"--email {self.email}" if self.email else "",
                   "--products " + ",".join(c.mart if c.mart == c.product
                                            else f"{c.mart}={c.product}"
                                            for c in self.products) if self.products else "",
                   f"--vars {shlex.quote(json.dumps(self.variables))}" if self.variables
                   else "",
                   f"--marts-dir {shlex.quote(self.marts_dir)}" if self.marts_dir != "marts"
                   else "", "--link" if self.link else "",
                   "--update" if self.update else "--force" if copied or self.force else ""]
        return self.command(*(o for o in options if o))


@dataclass
class Adoption:
    domain: str
    folder: Path
    products: list[ProductSpec] = field(default_factory=list)
    private_marts: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    tests: list[scratch.TestResult] = field(default_factory=list)  # did not pass alone
    rewritten: list[str] = field(default_factory=list)  # refs qualified in the copy
    updated: bool = False
    error: MeshError | None = None  # adopt stopped here; the report says how far it got
    retry: str = ""  # the command that runs adopt again


def adopt(mesh: Mesh, request: AdoptRequest, *, run_governance: bool = True) -> Adoption:
    source = request.source.resolve()
    if not (source / "dbt_project.yml").is_file():
        raise InvalidInput(f"{request.source} is not a dbt project (no dbt_project.yml)")
    check_domain_name(mesh, request.domain)
    if request.owner:
        check_text("--owner", request.owner)
    if request.email:
        check_email(request.email)
    if request.update and request.force:
        raise InvalidInput("--update keeps the domain's edits and --force replaces the "
                           "domain: give one of them")
    domain = request.domain
    folder = mesh.root / "domains" / domain
    if folder.resolve() == source:
        raise InvalidInput(f"{request.source} is already domains/{domain}")
    exists = folder.exists() or folder.is_symlink() or folder.resolve() in mesh.domain_dirs()
    if request.update and not exists:
        raise InvalidInput(f"--update: domains/{domain} does not exist yet; adopt it first "
                           f"(without --update)")
    if exists and not (request.force or request.update):
        raise RefusedOverwrite(
            f"domains/{domain} already exists: pass --update to set the owner or add "
            f"products while keeping every edit made in it, or --force to replace it "
            f"(destructive: --force deletes domains/{domain} and the edits made in it)")
    config = yamledit.load(source / "dbt_project.yml") or {}
    paths = layout.project_paths(config)
    variables = {**project.switch_vars(config), **request.variables}
    adoption = Adoption(domain, folder, updated=request.update)
    libraries = project.source_libraries(source, domain, request.link)
    if request.link:
        layout.refuse_naming_overrides_on_link(source, paths["macro-paths"])
    try:
        run(mesh, request, adoption, source, config, paths, variables, libraries, exists,
            run_governance)
    except MeshError as error:  # every exit path reports how far adopt got
        adoption.error = error
        adoption.retry = request.again(copied=folder.exists())
    return adoption


def run(mesh: Mesh, request: AdoptRequest, adoption: Adoption, source: Path,
        config: dict[str, Any], paths: dict[str, list[str]], variables: dict[str, Any],
        libraries: project.Libraries, exists: bool, run_governance: bool) -> None:
    domain, folder = adoption.domain, adoption.folder
    steps = 5
    console().step(f"[1/{steps}] dbt deps, seed, run and test {source.name} alone (scratch "
                   "DuckDB) to read its marts")
    built = scratch.build_alone(source, str(config.get("profile") or config.get("name")),
                                request.marts_dir, variables, field_type_rules(mesh.root))
    adoption.tests = built.tests
    marts = built.models
    if not built.marts() and request.products is None and not request.update:
        candidates = [m.name for m in marts if m.leaf and not m.time_spine]
        raise InvalidInput(
            f"{request.source} has no models under models/{request.marts_dir}/: name the "
            f"models that become products with --products (the models no other model "
            f"selects from: {', '.join(candidates) or 'none'}), or pass --marts-dir with "
            "the folder of its business-facing models (--marts-dir models: the models "
            "directly under models/)")
    chosen, adoption.notes = choose(marts, request.products, request.marts_dir,
                                    update=request.update)
    adoption.warnings = collisions(chosen, existing_products(mesh.root, domain), domain,
                                   request.source)
    if request.update:
        console().step(f"[2/{steps}] --update: domains/{domain} keeps its edits")
        update_domain(adoption, request, marts, chosen)
    else:
        console().step(f"[2/{steps}] {'link' if request.link else 'copy'} the dbt project to "
                       f"domains/{domain}")
        if request.force and exists:
            console().warn(f"      --force: replacing domains/{domain} (destructive: the edits "
                           "made in it are gone)", err=False)
        new_domain(adoption, request, source, config, paths, variables, libraries)
        adoption.notes += project.move_config_clashes(folder, domain, paths["model-paths"],
                                                      {c.mart for c in chosen})
        console().step(f"[3/{steps}] marts -> products (models/products/, contracts from DuckDB)")
        add_products(adoption, request, marts, chosen)
    yamledit.add_local_package(mesh.root / "packages.yml", f"domains/{domain}")
    adoption.rewritten, shared = qualify.qualify_refs(mesh, domain)
    if shared:
        adoption.warnings.append(
            f"private names domains/{domain} shares with other packages of the mesh: "
            f"{', '.join(shared)}. Inside {domain} an unqualified ref finds its own node "
            f"first; a unit test input, or any other project, must write "
            f"ref('{domain}', '<name>')" + (" (adopt qualified those it found, listed "
                                              "above)" if adoption.rewritten else ""))

    console().step(f"[4/{steps}] dbt deps")
    env = mesh.env()
    dbt.require_success(dbt.run_dbt(
        mesh, deps_args(mesh.root, mesh.domain_dirs(), env), quiet=True), "deps")
    console().step(f"[5/{steps}] the governance check")
    checked = governance_gaps(mesh, domain) if run_governance else []
    if not run_governance:
        dbt.require_success(dbt.run_dbt(mesh, ["parse"], quiet=True), "parse")
    owner_step = request.command('--update --owner "<team>" --email <team@example.org>')
    owner, email = group_owner(folder, domain)
    adoption.gaps = merge_gaps(checked, own_gaps(domain, adoption.products, owner, email,
                                                 owner_step))


def new_domain(adoption: Adoption, request: AdoptRequest, source: Path,
               config: dict[str, Any], paths: dict[str, list[str]],
               variables: dict[str, Any], libraries: project.Libraries) -> None:
    folder, domain = adoption.folder, adoption.domain
    if folder.is_symlink():
        folder.unlink()
    elif folder.exists():
        shutil.rmtree(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    if request.link:
        folder.symlink_to(source, target_is_directory=True)
    else:
        adoption.left_out = layout.copy_package(source, folder, config)
        adoption.notes += layout.drop_naming_overrides(folder, paths["macro-paths"])
    old_name = str(config.get("name") or "")
    test_paths = paths["test-paths"] if "test-paths" in config else \
        (["tests"] if (source / "tests").is_dir() else ["data-tests"])
    adoption.notes += project.patch_project(
        folder / "dbt_project.yml", old_name, domain, emptied=[],
        variables=variables, test_paths=test_paths)
    for name in ("package-lock.yml", "dependencies.yml"):
        (folder / name).unlink(missing_ok=True)
    for relative_path, content in package_files(domain, libraries=libraries.entries).items():
        target = folder / relative_path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    for name, package in sorted(libraries.vendored.items()):
        shutil.copytree(package, folder / "vendor" / name,
                        ignore=shutil.ignore_patterns(*scratch.SKIP))
        adoption.notes.append(
            f"copied the local package {package.name} into domains/{domain}/vendor/{name}: "
            "a local path in a domain's packages.yml resolves against the mesh root, so the "
            "domain installs it from its own folder (DUCKMESH_DOMAINS, as upstream domains)")
    if "macros" not in paths["macro-paths"]:
        data = yamledit.load(folder / "dbt_project.yml")
        data["macro-paths"] = [*paths["macro-paths"], "macros"]
        yamledit.dump(data, folder / "dbt_project.yml")
    if libraries.entries:
        adoption.notes.append(f"kept {len(libraries.entries)} third-party package(s) in "
                              f"domains/{domain}/packages.yml; the mesh's `dbt deps` "
                              "installs them")
    adoption.notes += project.map_seed_sources(folder, domain, paths["model-paths"],
                                               paths["seed-paths"])
    adoption.notes += project.semantic_note(folder, domain, paths["model-paths"])
    description = f"Adopted from the dbt project {old_name or source.name}."
    (folder / "models" / "_groups.yml").write_text(
        groups_yaml(domain, request.owner, request.email, description))


def add_products(adoption: Adoption, request: AdoptRequest, marts: list[scratch.BuiltMart],
                 chosen: list[Choice]) -> None:
    """Turn the chosen marts into products; empty marts folders go with their config."""
    folder = adoption.folder
    by_name = {m.name: m for m in marts}
    entries = pop_model_entries(folder / "models", {c.mart for c in chosen})
    for choice in chosen:
        spec = candidate_spec(by_name[choice.mart], choice.product, entries.get(choice.mart))
        write_product(folder, by_name[choice.mart], spec)
        adoption.products.append(spec)
    kept = [f"{len(s.model_tests)} of {s.name}" for s in adoption.products if s.model_tests]
    if kept:
        adoption.notes.append(f"kept the model-level data tests in the products' yml: "
                              f"{', '.join(kept)}")
    rename_refs(folder, {c.mart: c.product for c in chosen if c.mart != c.product})
    adoption.private_marts = [m.name for m in marts
                              if m.in_marts and m.name not in {c.mart for c in chosen}]
    marts_folder = folder / "models" / request.marts_dir.strip("/")
    if request.marts_dir.strip().strip("/") not in scratch.TOP_LEVEL and marts_folder.is_dir() \
            and not any(p.is_file() for p in marts_folder.rglob("*")):
        shutil.rmtree(marts_folder)
        data = yamledit.load(folder / "dbt_project.yml")
        data["models"][adoption.domain].pop(request.marts_dir, None)
        yamledit.dump(data, folder / "dbt_project.yml")


def update_domain(adoption: Adoption, request: AdoptRequest, marts: list[scratch.BuiltMart],
                  chosen: list[Choice]) -> None:
    """--update: the owner when given, and the products not made yet; nothing else."""
    folder = adoption.folder
    if request.owner or request.email:
        groups_file = folder / "models" / "_groups.yml"
        data = yamledit.load(groups_file) or {}
        group = next((g for g in data.get("groups") or [] if g.get("name") == adoption.domain),
                     None)
        if group is None:
            raise InvalidInput(f"--update: {groups_file.relative_to(folder.parent.parent)} "
                               f"has no group {adoption.domain}")
        owner = group.get("owner") or {}
        if request.owner:
            owner["name"] = request.owner
        if request.email:
            owner["email"] = request.email
        group["owner"] = owner
        yamledit.dump(data, groups_file)
        adoption.notes.append(f"set the owner of group {adoption.domain} in models/_groups.yml")
    products_dir = folder / "models" / "products"
    made = {p.stem.rsplit("_v", 1)[0] for p in products_dir.glob("*_v*.sql")}
    missing = [c for c in chosen if c.product not in made and (folder / next(
        m.path for m in marts if m.name == c.mart)).is_file()]
    if missing:
        add_products(adoption, request, marts, missing)
    kept = sorted(made & {c.product for c in chosen})
    if kept:
        adoption.notes.append(f"kept the products made before, with their edits: "
                              f"{', '.join(kept)}")
    # what governance still lists for the products made before comes from the check
    adoption.products = [p for p in adoption.products if p.name not in made]


def group_owner(folder: Path, domain: str) -> tuple[str | None, str | None]:
    """The owner name and e-mail the domain's group has now (None: not set)."""
    data = yamledit.load(folder / "models" / "_groups.yml") or {}
    group: dict[str, Any] = next((g for g in data.get("groups") or [] if g.get("name") == domain), {})
    owner = group.get("owner") or {}
    name = str(owner.get("name") or "")
    return (None if not name or name.startswith("TODO") else name,
            str(owner["email"]) if owner.get("email") else None)


def groups_yaml(domain: str, owner: str | None, email: str | None, description: str) -> str:
    owner_map: dict[str, str] = {"name": owner or "TODO: owning team"}
    if email:
        owner_map["email"] = email
    return yamledit.dumps({"groups": [{"name": domain, "owner": owner_map,
                                       "description": description}]})
