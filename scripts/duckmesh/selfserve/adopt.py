"""`duckmesh adopt PATH --as DOMAIN`: onboard an existing dbt project as a domain.

1. build the project on its own into a scratch DuckDB file (its seeds and models),
   to read the types of its mart relations;
2. copy (or link) it to domains/DOMAIN, rename it DOMAIN, add restrict-access, the
   domain group, private-by-default access and the domain schema;
3. turn each mart into a candidate product: models/<marts>/X.sql becomes
   models/products/X_v1.sql with a YAML that keeps the project's own docs and tests
   and adds an enforced contract typed from the built relation (lifecycle experimental);
4. register the domain in packages.yml and print what governance still finds, each
   item with the next thing to run or edit.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from duckmesh.core import dbt, yamledit
from duckmesh.core.names import InvalidInput, check_name
from duckmesh.core.project import Mesh, MeshError
from duckmesh.core.sql import qualified_name
from duckmesh.selfserve.contracts import (
    TODO_MARKER,
    Column,
    ProductSpec,
    connect_db,
    describe_query,
    field_type_rules,
    is_todo,
    product_yaml,
    suggest_types,
)
from duckmesh.selfserve.domain import package_files
from duckmesh.selfserve.rules import (
    RefusedOverwrite,
    check_email,
    check_product_name,
)

SKIP = {"target", "dbt_packages", "logs", ".git", ".venv", "__pycache__", ".user.yml"}
PRODUCT_FOLDER_CONFIG = {
    "+materialized": "table",
    "+access": "public",
    "+contract": {"enforced": True},
    "+post-hook": "{{ duckmesh_platform.create_latest_alias() }}",
}


@dataclass(frozen=True)
class Gap:
    """One thing governance still rejects, and what to run or edit about it."""
    policy: str
    node: str  # unique_id, as governance names it
    column: str | None
    message: str
    fix: str
    severity: str = "error"

    @property
    def key(self) -> tuple[str, str, str | None]:
        return (self.policy, self.node, self.column)

    def line(self) -> str:
        where = f"{self.node}, column {self.column}" if self.column else self.node
        return f"[{self.policy} {self.severity}] {where}: {self.message}\n    next: {self.fix}"


@dataclass
class Adoption:
    domain: str
    folder: Path
    products: list[ProductSpec] = field(default_factory=list)
    private_marts: list[str] = field(default_factory=list)  # not publishable as named
    gaps: list[Gap] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    governance_ran: bool = False


# ---------------------------------------------------------------- scratch build

@dataclass(frozen=True)
class BuiltMart:
    name: str
    path: Path  # the SQL file, relative to the project
    columns: list[Column]


def build_alone(source: Path, profile: str, marts_dir: str) -> list[BuiltMart]:
    """dbt build the project alone into a scratch DuckDB; the marts and their columns."""
    with tempfile.TemporaryDirectory(prefix="duckmesh-adopt-") as scratch_name:
        scratch = Path(scratch_name)
        project = scratch / "project"
        shutil.copytree(source, project, ignore=shutil.ignore_patterns(*SKIP))
        database = scratch / "scratch.duckdb"
        (scratch / "profiles.yml").write_text(
            f"{profile}:\n  target: scratch\n  outputs:\n    scratch:\n      type: duckdb\n"
            f"      path: '{database}'\n      threads: 1\n")
        result = dbt.invoke([
            "--quiet", "build", "--project-dir", str(project), "--profiles-dir", str(scratch),
            "--target-path", str(scratch / "target"), "--log-path", str(scratch / "logs")])
        if not result.success:
            failed = [r.node.name for r in getattr(result.result, "results", None) or []
                      if str(r.status) in ("error", "fail")]
            detail = result.exception or f"failed: {', '.join(failed)}"
            raise MeshError(f"{source} does not build on its own ({detail}): fix the project "
                            "(`dbt build` in it) before adopting it")
        manifest = json.loads((scratch / "target" / "manifest.json").read_text())
        marts = []
        con = connect_db(database)
        try:
            for node in sorted(manifest["nodes"].values(), key=lambda n: n["name"]):
                if node["resource_type"] != "model" or len(node["fqn"]) < 3 \
                        or node["fqn"][1] != marts_dir:
                    continue
                relation = qualified_name(node["schema"], node.get("alias") or node["name"])
                marts.append(BuiltMart(node["name"], Path(node["original_file_path"]),
                                       describe_query(con, f"select * from {relation}")))
        finally:
            con.close()
        return marts


# ---------------------------------------------------------------- the project's YAML

def pop_model_entries(models_dir: Path, names: set[str]) -> dict[str, dict]:
    """Remove the entries of ``names`` from the project's YAML files; return them."""
    found: dict[str, dict] = {}
    for path in sorted(models_dir.rglob("*.yml")) + sorted(models_dir.rglob("*.yaml")):
        data = yamledit.load(path)
        if not isinstance(data, dict) or not isinstance(data.get("models"), list):
            continue
        keep = []
        for entry in data["models"]:
            if isinstance(entry, dict) and entry.get("name") in names:
                found[str(entry["name"])] = entry
            else:
                keep.append(entry)
        if len(keep) == len(data["models"]):
            continue
        if keep or len(data) > 2 or not set(data) <= {"version", "models"}:
            data["models"] = keep
            yamledit.dump(data, path)
        else:
            path.unlink()
    return found


def candidate_spec(mart: BuiltMart, entry: dict | None,
                   rules: list[tuple[str, str]] | None = None) -> ProductSpec:
    """The product's contract: the built columns, the project's own docs and tests."""
    entry = entry or {}
    documented = {str(c.get("name")): c for c in entry.get("columns") or [] if isinstance(c, dict)}
    extra_tests: dict[str, list] = {}
    primary_key = None
    columns = []
    for column in mart.columns:
        doc = documented.get(column.name, {})
        column.description = str(doc.get("description") or "").strip()
        tests = list(doc.get("data_tests") or doc.get("tests") or [])
        if tests:
            extra_tests[column.name] = tests
        if primary_key is None and "unique" in tests and "not_null" in tests:
            primary_key = column.name
        columns.append(column)
    suggest_types(columns, rules)
    return ProductSpec(
        name=mart.name,
        description=str(entry.get("description") or "").strip() or TODO_MARKER,
        columns=columns,
        primary_key=primary_key,
        lifecycle="experimental",
        extra_tests=extra_tests,
    )


def patch_project(project_file: Path, old_name: str, domain: str,
                  emptied: list[str]) -> None:
    """Rename the project to the domain and give it the mesh's access model;
    drop the config of folders ``emptied`` (the marts, now products)."""
    data = yamledit.load(project_file)
    data["name"] = domain
    data["profile"] = "duckmesh"
    if "restrict-access" in data:
        data["restrict-access"] = True
    else:
        data.insert(list(data).index("profile") + 1, "restrict-access", True,
                    comment="installed as a package: only public models are visible")
    if "test-paths" not in data:
        paths = CommentedSeq(["data-tests"])
        paths.fa.set_flow_style()
        data.insert(list(data).index("restrict-access") + 1, "test-paths", paths)
    for section in ("models", "seeds", "snapshots", "data_tests", "tests"):
        block = data.get(section)
        if isinstance(block, dict) and old_name in block and old_name != domain:
            block[domain] = block.pop(old_name)
    data.setdefault("models", CommentedMap())
    models = data["models"].get(domain) or CommentedMap()
    data["models"][domain] = models
    for folder in emptied:
        models.pop(folder, None)
    for position, (key, value) in enumerate(
            [("+group", domain), ("+access", "private"), ("+schema", domain)]):
        models.pop(key, None)
        models.insert(position, key, value)
    products = models.get("products") or CommentedMap()
    products.update(PRODUCT_FOLDER_CONFIG)
    models["products"] = products
    # a self-contained domain package (docs/domains.md): the platform's one hook first,
    # dbt's DDL and naming macros from the platform, the last publish for upstream products
    hooks = data.get("on-run-start") or []
    hooks = [hooks] if isinstance(hooks, str) else list(hooks)
    ours = f"{{{{ duckmesh_platform.on_run_start('{domain}') }}}}"
    data["on-run-start"] = CommentedSeq([ours, *[h for h in hooks if h != ours]])
    data["dispatch"] = [{"macro_namespace": "dbt",
                         "search_order": [domain, "duckmesh_platform", "dbt"]}]
    flags = data.get("flags") or CommentedMap()
    flags["require_generic_test_arguments_property"] = True
    data["flags"] = flags
    variables = data.get("vars") or CommentedMap()
    variables["duckmesh_published"] = "{{ env_var('DUCKMESH_PUBLISHED', '../../published') }}"
    data["vars"] = variables
    data.setdefault("seeds", CommentedMap())
    seeds = data["seeds"].get(domain) or CommentedMap()
    seeds.pop("+schema", None)
    seeds.insert(0, "+schema", domain)
    data["seeds"][domain] = seeds
    yamledit.dump(data, project_file)


def source_libraries(source: Path) -> list[str]:
    """The third-party packages the project installs, as one-line YAML entries for the
    domain's own packages.yml: hub and git packages resolve from any project, so they
    stay. A local: package would resolve against the mesh root instead: refused."""
    if (source / "dependencies.yml").is_file():
        data = yamledit.load(source / "dependencies.yml") or {}
        if data.get("projects"):
            raise InvalidInput(f"{source}/dependencies.yml lists dbt Cloud projects "
                               f"({', '.join(str(p.get('name')) for p in data['projects'])}): "
                               "in the mesh, other domains' products come through packages.yml")
    entries = []
    for name in ("packages.yml", "dependencies.yml"):
        path = source / name
        if not path.is_file():
            continue
        for entry in (yamledit.load(path) or {}).get("packages") or []:
            if "local" in entry:
                raise InvalidInput(
                    f"{path} installs the local package {entry['local']}: a local path in a "
                    "domain's packages.yml resolves against the project dbt runs from, not the "
                    "domain; publish it to git (git: + revision:) or vendor its macros")
            entries.append(json.dumps(dict(entry), sort_keys=False))
    return entries


def make_package(folder: Path, domain: str, libraries: list[str]) -> list[str]:
    """Write the domain's packages.yml (the platform, the project's libraries),
    selectors.yml and address convention; drop what the mesh replaces. Returns notes."""
    notes = []
    for name in ("package-lock.yml", "dependencies.yml"):
        if (folder / name).is_file():
            (folder / name).unlink()
    for macro in sorted((folder / "macros").rglob("*.sql")) if (folder / "macros").is_dir() else []:
        text = macro.read_text()
        if "macro generate_schema_name" in text:
            if text.count("{% macro") + text.count("{%- macro") > 1:
                raise InvalidInput(
                    f"{macro.relative_to(folder)} overrides generate_schema_name beside other "
                    "macros: the mesh names each domain's schema after the domain (P04); move "
                    "the other macros to their own file, then adopt again")
            macro.unlink()
            notes.append(f"dropped {macro.relative_to(folder)}: its generate_schema_name would "
                         "move the domain's models out of the schema named after the domain "
                         "(policy P04); the mesh's address convention replaces it")
    for relative_path, content in package_files(domain, libraries=libraries).items():
        target = folder / relative_path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    if libraries:
        notes.append(f"kept {len(libraries)} third-party package(s) in domains/{domain}/"
                     "packages.yml; they install with the mesh's `dbt deps`")
    return notes


def groups_yaml(domain: str, owner: str | None, email: str | None, description: str) -> str:
    owner_map: dict[str, str] = {"name": owner or "TODO: owning team"}
    if email:
        owner_map["email"] = email
    return yamledit.dumps({"groups": [{"name": domain, "owner": owner_map,
                                       "description": description}]})


# ---------------------------------------------------------------- gaps

def own_gaps(adoption: Adoption, owner: str | None, email: str | None,
             source: Path) -> list[Gap]:
    """What the platform knows is missing, named the way governance names it."""
    domain = adoption.domain
    gaps: list[Gap] = []
    adopt_again = (f"duckmesh adopt {source} --as {domain} --owner \"<team>\" "
                   f"--email <team@example.org> --force")
    if not owner or not email:
        gaps.append(Gap("P02", f"group.{domain}.{domain}", None,
                        f"group {domain} has no owner name and e-mail",
                        adopt_again))
    for spec in adoption.products:
        node = f"model.{domain}.{spec.name}.v1"
        yml = f"domains/{domain}/models/products/_{spec.name}.yml"
        if is_todo(spec.description):
            gaps.append(Gap("P02", node, None,
                            f"public model {spec.name} v1 has no description ({TODO_MARKER!r})",
                            f"write the description of {spec.name} in {yml}"))
        for column in spec.columns:
            if is_todo(column.description):
                gaps.append(Gap("P02", node, column.name,
                                f"column {column.name} of public model {spec.name} v1 has no "
                                f"description ({TODO_MARKER!r})",
                                f"write the description of column {column.name} in {yml}"))
            if column.suggested_type:
                gaps.append(Gap("P05", node, column.name,
                                f"column {column.name} of {spec.name} v1 is {column.data_type}, "
                                f"but its name asks for {column.suggested_type}",
                                f"cast {column.name} to {column.suggested_type} in "
                                f"domains/{domain}/models/products/{spec.name}_v1.sql and set "
                                f"its data_type in {yml} (no consumers yet: v1 may change)"))
        if not spec.primary_key:
            gaps.append(Gap("P07", node, None, f"product {spec.name} v1 has no primary key",
                            f"add `constraints: [{{type: primary_key, columns: [<key>]}}]` "
                            f"to {spec.name} in {yml}"))
    for mart in adoption.private_marts:
        gaps.append(Gap("P04", f"model.{domain}.{mart}", None,
                        f"mart {mart} was not published: its name is not a product name",
                        f"duckmesh new-product {domain} <name> --from {mart}", "warn"))
    return gaps


def governance_gaps(mesh: Mesh, domain: str) -> list[Gap] | None:
    """The governance check's violations for the domain (None: no governance module)."""
    from duckmesh.governance import report  # noqa: PLC0415 (runs dbt: imported when used)

    return [Gap(v.policy, v.node, v.column, v.message, v.fix, v.severity)
            for v in report.run_checks(mesh) if v.domain == domain]


def merge_gaps(checked: list[Gap] | None, own: list[Gap]) -> list[Gap]:
    """Governance's findings first (one source of truth); the platform's own only where
    governance says nothing about the same policy, node and column."""
    commands = {gap.key: gap.fix for gap in own if gap.fix.startswith("duckmesh ")}
    merged = [Gap(g.policy, g.node, g.column, g.message,
                  f"{commands[g.key]}  (or: {g.fix})" if g.key in commands else g.fix,
                  g.severity)
              for g in checked or []]
    seen = {gap.key for gap in merged}
    merged += [gap for gap in own if gap.key not in seen]
    return sorted(merged, key=lambda g: (g.node, g.column or "", g.policy))


# ---------------------------------------------------------------- adopt

def adopt(mesh: Mesh, source: Path, domain: str, *, owner: str | None = None,
          email: str | None = None, link: bool = False, force: bool = False,
          marts_dir: str = "marts", run_governance: bool = True) -> Adoption:
    source = source.resolve()
    if not (source / "dbt_project.yml").is_file():
        raise InvalidInput(f"{source} is not a dbt project (no dbt_project.yml)")
    check_name("domain", domain, new=True)
    if email:
        check_email(email)
    folder = mesh.root / "domains" / domain
    if folder.resolve() == source:
        raise InvalidInput(f"{source} is already domains/{domain}")
    registered = folder.resolve() in mesh.domain_dirs()
    if (folder.exists() or folder.is_symlink() or registered) and not force:
        raise RefusedOverwrite(f"domains/{domain} already exists: pass --force to replace it")
    project = yamledit.load(source / "dbt_project.yml") or {}
    old_name = str(project.get("name") or "")
    libraries = source_libraries(source)

    print(f"[1/4] dbt build {source.name} on its own (scratch DuckDB) to read its marts",
          flush=True)
    marts = build_alone(source, str(project.get("profile") or old_name), marts_dir)
    if not marts:
        raise InvalidInput(f"{source} has no models under models/{marts_dir}/: pass "
                           "--marts-dir with the folder of its business-facing models")

    print(f"[2/4] {'link' if link else 'copy'} to domains/{domain}", flush=True)
    if folder.is_symlink():
        folder.unlink()
    elif folder.exists():
        shutil.rmtree(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    if link:
        folder.symlink_to(source, target_is_directory=True)
    else:
        shutil.copytree(source, folder, ignore=shutil.ignore_patterns(*SKIP))
    patch_project(folder / "dbt_project.yml", old_name, domain, [marts_dir])
    adoption = Adoption(domain, folder)
    adoption.notes += make_package(folder, domain, libraries)
    description = f"Adopted from the dbt project {old_name or source.name}."
    (folder / "models" / "_groups.yml").write_text(
        groups_yaml(domain, owner, email, description))

    print("[3/4] marts -> candidate products (models/products/, contracts from DuckDB)",
          flush=True)
    products_dir = folder / "models" / "products"
    products_dir.mkdir(parents=True, exist_ok=True)
    publishable = []
    for mart in marts:
        try:
            check_product_name(mart.name)
            publishable.append(mart)
        except InvalidInput:
            adoption.private_marts.append(mart.name)
    entries = pop_model_entries(folder / "models", {m.name for m in publishable})
    for mart in publishable:
        spec = candidate_spec(mart, entries.get(mart.name), field_type_rules(mesh.root))
        (folder / mart.path).rename(products_dir / f"{mart.name}_v1.sql")
        (products_dir / f"_{mart.name}.yml").write_text(product_yaml(spec))
        adoption.products.append(spec)
    marts_folder = folder / "models" / marts_dir
    if marts_folder.is_dir() and not any(marts_folder.rglob("*")):
        marts_folder.rmdir()
    yamledit.add_local_package(mesh.root / "packages.yml", f"domains/{domain}")

    print("[4/4] dbt deps, then the governance check", flush=True)
    dbt.require_success(dbt.run_dbt(mesh, ["deps"], quiet=True), "deps")
    checked = governance_gaps(mesh, domain) if run_governance else None
    if checked is None:
        # no governance module: at least prove the mesh parses with the new domain
        dbt.require_success(dbt.run_dbt(mesh, ["parse"], quiet=True), "parse")
    adoption.governance_ran = checked is not None
    adoption.gaps = merge_gaps(checked, own_gaps(adoption, owner, email, source))
    return adoption
