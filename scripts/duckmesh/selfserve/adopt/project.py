"""The copied project becomes a domain package: dbt_project.yml renamed and given the
mesh's access model, its vars carried over, its seed-backed sources read from the
domain's schema, and its third-party packages kept in the domain's packages.yml."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from duckmesh.core import yamledit, yamlio
from duckmesh.core.names import InvalidInput

PRODUCT_FOLDER_CONFIG = {
    "+materialized": "table",
    "+access": "public",
    "+contract": {"enforced": True},
    "+post-hook": "{{ duckmesh_platform.create_latest_alias() }}",
}
# config sections of dbt_project.yml keyed by package name
SECTIONS = ("models", "seeds", "snapshots", "data_tests", "tests", "semantic-models",
            "metrics", "saved-queries", "sources", "unit_tests")
# the sections whose resources belong to the domain's group (dbt checks a test's, a semantic
# model's or a metric's refs to private models against its group)
GROUPED = ("data_tests", "semantic-models", "metrics", "saved-queries")
VAR_CALL = re.compile(r"""var\(\s*(['"])(\w+)\1\s*(?:,\s*([^)]*?))?\s*\)""")
FALSE_DEFAULT = re.compile(r"""var\(\s*['"](\w+)['"]\s*,\s*(?:false|False)\s*\)""")


def parse_vars(text: str | None) -> dict[str, Any]:
    """--vars as dbt takes it: a YAML (or JSON) mapping."""
    if not text:
        return {}
    import yaml  # noqa: PLC0415 (only with --vars)

    try:
        data = yamlio.loads(text)
    except yaml.YAMLError as error:
        raise InvalidInput(f"--vars {text!r} is not a YAML mapping ({error})") from error
    if not isinstance(data, dict):
        raise InvalidInput(f"--vars {text!r} is not a YAML mapping (e.g. "
                           "'{load_source_data: true}')")
    return {str(k): v for k, v in data.items()}


def walk(block: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any, Any]]:
    """(path, key, value) of every entry of a nested config block."""
    found = []
    if isinstance(block, dict):
        for key, value in block.items():
            found.append((path, key, value))
            found += walk(value, (*path, str(key)))
    return found


def switch_vars(project: dict[str, Any]) -> dict[str, bool]:
    """Vars that enable seeds (``+enabled: "{{ var('load_source_data', false) }}"``):
    the project loads its raw data only when asked; the domain always builds it."""
    found = {}
    for _, key, value in walk(project.get("seeds") or {}):
        if str(key).lstrip("+") == "enabled" and isinstance(value, str):
            found.update({name: True for name in FALSE_DEFAULT.findall(value)})
    return found


def jinja_literal(value: Any) -> str:
    return "'" + value.replace("'", "\\'") + "'" if isinstance(value, str) \
        else json.dumps(value)


def resolve_vars(block: Any, variables: dict[str, Any], changed: list[str],
                 path: tuple[str, ...] = ()) -> None:
    """Give each ``var('x', default)`` in the config of ``block`` the value of --vars as
    its default: dbt renders an installed package's dbt_project.yml with the root
    project's vars only, so the package's own vars would not reach it."""
    if not isinstance(block, dict):
        return
    for key in list(block):
        value = block[key]
        if isinstance(value, str) and "var(" in value:
            def default(match: re.Match[str]) -> str:
                name = match.group(2)
                if name not in variables:
                    return match.group(0)
                return f"var('{name}', {jinja_literal(variables[name])})"
            new = VAR_CALL.sub(default, value)
            if new != value:
                block[key] = new
                changed.append(f"{'.'.join((*path, str(key)))}: {new}")
        else:
            resolve_vars(value, variables, changed, (*path, str(key)))


def drop_schema_overrides(block: Any, path: tuple[str, ...], notes: list[str]) -> None:
    """Remove ``+schema`` below the domain's own (folder or model level): P04 wants every
    relation of the domain in the schema named after the domain."""
    if not isinstance(block, dict):
        return
    for key in list(block):
        if key in ("+schema", "schema") and path[2:]:
            notes.append(f"dropped `{key}: {block[key]}` under {'.'.join(path)} in "
                         "dbt_project.yml: the domain's relations live in its own schema (P04)")
            del block[key]
        elif isinstance(block[key], dict):
            drop_schema_overrides(block[key], (*path, str(key)), notes)


def patch_project(project_file: Path, old_name: str, domain: str, *, emptied: list[str],
                  variables: dict[str, Any], test_paths: list[str]) -> list[str]:
    """Rename the project to the domain and give it the mesh's access model; drop the
    config of folders ``emptied`` (their models all became products). Returns notes."""
    notes: list[str] = []
    data = yamledit.load(project_file)
    data["name"] = domain
    data["profile"] = "duckmesh"
    if "restrict-access" in data:
        data["restrict-access"] = True
    else:
        data.insert(list(data).index("profile") + 1, "restrict-access", True,
                    comment="installed as a package: only public models are visible")
    if "test-paths" not in data:
        paths = CommentedSeq(test_paths)
        paths.fa.set_flow_style()
        data.insert(list(data).index("restrict-access") + 1, "test-paths", paths)
    for section in SECTIONS:
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
    for section in GROUPED:
        data.setdefault(section, CommentedMap())
        block = data[section].get(domain) or CommentedMap()
        block["+group"] = domain
        data[section][domain] = block
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
    project_vars = data.get("vars") or CommentedMap()
    project_vars["duckmesh_published"] = \
        "{{ env_var('DUCKMESH_PUBLISHED', '../../published') }}"
    for name, value in variables.items():
        project_vars[name] = value
    data["vars"] = project_vars
    data.setdefault("seeds", CommentedMap())
    seeds = data["seeds"].get(domain) or CommentedMap()
    seeds.pop("+schema", None)
    seeds.insert(0, "+schema", domain)
    data["seeds"][domain] = seeds
    for section in ("models", "seeds", "snapshots"):
        drop_schema_overrides(data[section].get(domain) if data.get(section) else None,
                              (section, domain), notes)
    changed: list[str] = []
    for section in SECTIONS:
        resolve_vars(data.get(section), variables, changed, (section,))
    if changed:
        notes.append("set the vars' values as defaults in dbt_project.yml (an installed "
                     "package's dbt_project.yml sees only the root project's vars): "
                     + "; ".join(changed))
    yamledit.dump(data, project_file)
    return notes


def move_config_clashes(folder: Path, domain: str, model_paths: list[str],
                        products: set[str]) -> list[str]:
    """A model directly under models/ whose name is a folder key of the domain's config
    (``products``: public, contracted) would take that folder's config: move it into
    models/marts/ (the copy is adopt's; the project is never touched). Returns notes."""
    config = (yamledit.load(folder / "dbt_project.yml").get("models") or {}).get(domain) or {}
    keys = {str(k) for k in config if not str(k).startswith("+")}
    notes = []
    for base in model_paths:
        for path in sorted((folder / base).glob("*.sql")):
            if path.stem in keys and path.stem not in products:
                target = folder / base / "marts" / path.name
                target.parent.mkdir(exist_ok=True)
                path.rename(target)
                notes.append(f"moved {base}/{path.name} to {base}/marts/{path.name} in the "
                             f"copy: a model named {path.stem} directly under {base}/ would "
                             f"take the config dbt_project.yml gives the domain's "
                             f"{path.stem}/ folder" + (" (public, contract enforced)"
                                                       if path.stem == "products" else ""))
    return notes


# ---------------------------------------------------------------- sources and seeds

def seed_names(folder: Path, seed_paths: list[str]) -> set[str]:
    return {p.stem for s in seed_paths for p in (folder / s).rglob("*.csv")
            if (folder / s).is_dir()}


def map_seed_sources(folder: Path, domain: str, model_paths: list[str],
                     seed_paths: list[str]) -> list[str]:
    """Point every source whose tables are all the project's own seeds at the domain's
    schema (where the mesh builds its seeds), and make each model that reads them
    depend on the seed (``-- depends_on: {{ ref(...) }}``), so one `dbt build` seeds
    before it selects. Returns notes."""
    seeds = seed_names(folder, seed_paths)
    backed: dict[tuple[str, str], str] = {}  # (source, table) -> seed
    mapped = []
    for base in model_paths:
        for path in sorted((folder / base).rglob("*.y*ml")) if (folder / base).is_dir() else []:
            data = yamledit.load(path)
            if not isinstance(data, dict) or not isinstance(data.get("sources"), list):
                continue
            changed = False
            for source in data["sources"]:
                tables = [t for t in source.get("tables") or [] if isinstance(t, dict)]
                names = {str(t.get("identifier") or t.get("name")): str(t.get("name"))
                         for t in tables}
                if not names or not set(names) <= seeds:
                    continue
                old = source.get("schema") or source.get("name")
                source["schema"] = domain
                source.pop("database", None)
                changed = True
                mapped.append(f"{source['name']} (schema {old} -> {domain})")
                backed.update({(str(source["name"]), table): seed
                               for seed, table in names.items()})
            if changed:
                yamledit.dump(data, path)
    if not backed:
        return []
    call = re.compile(r"""source\(\s*['"](\w+)['"]\s*,\s*['"](\w+)['"]\s*\)""")
    touched = []
    for base in model_paths:
        for path in sorted((folder / base).rglob("*.sql")) if (folder / base).is_dir() else []:
            text = path.read_text()
            needed = sorted({backed[key] for key in call.findall(text) if key in backed})
            if needed:
                lines = "".join(f"-- depends_on: {{{{ ref('{s}') }}}}\n" for s in needed)
                path.write_text(lines + text)
                touched.append(path.stem)
    return [f"sources backed by the project's seeds now read the domain's schema: "
            f"{', '.join(mapped)}; {len(touched)} model(s) that select from them depend "
            f"on the seeds (`-- depends_on: {{{{ ref(...) }}}}`), so one `dbt build` "
            "loads the seeds first"]


def semantic_note(folder: Path, domain: str, model_paths: list[str]) -> list[str]:
    """Say so when the project has semantic models, metrics or saved queries: they join
    the domain's group (patch_project), which lets them read its private models."""
    counts = dict.fromkeys(("semantic_models", "metrics", "saved_queries"), 0)
    for base in model_paths:
        for path in sorted((folder / base).rglob("*.y*ml")) if (folder / base).is_dir() else []:
            data = yamledit.load(path)
            if isinstance(data, dict):
                for key in counts:
                    counts[key] += len(data.get(key) or [])
    found = [f"{n} {key.replace('_', ' ')}" for key, n in counts.items() if n]
    if not found:
        return []
    return [f"{', '.join(found)} joined group {domain} (semantic-models, metrics and "
            "saved-queries `+group` in dbt_project.yml): dbt lets them ref the domain's "
            "private models"]


# ---------------------------------------------------------------- packages

NAMESPACED = re.compile(r"\b([a-z_][a-z0-9_]*)\.([a-z_][a-z0-9_]*)\s*\(")


def namespaced_calls(folder: Path, package: str) -> list[str]:
    """``package.macro`` calls and ``package.test`` data tests in the project's files."""
    found = set()
    for path in sorted(folder.rglob("*")):
        if path.suffix not in (".sql", ".yml", ".yaml") or "dbt_packages" in path.parts:
            continue
        text = path.read_text(errors="replace")
        found |= {f"{a}.{b}" for a, b in NAMESPACED.findall(text) if a == package}
        found |= {f"{package}.{t}" for t in re.findall(rf"\b{package}\.(\w+):", text)}
    return sorted(found)


@dataclass(frozen=True)
class Libraries:
    """The project's packages as the domain installs them: one-line YAML entries for its
    packages.yml, and the local packages to copy into its vendor/ folder."""
    entries: list[str]
    vendored: dict[str, Path]  # folder name under vendor/ -> the package's folder


def local_package_refusal(path: Path, source: Path, local: str, why: str) -> InvalidInput:
    package = Path(local).name
    calls = namespaced_calls(source, package)
    return InvalidInput(
        f"{path.name} installs the local package {local}, and {why}. Publish it to git and "
        f"list it as `- git: <url>` with `revision: <tag>` in {path.name}, or copy its "
        "macros into the project's macros/ and drop the namespace: "
        + (", ".join(f"{c}( -> {c.split('.', 1)[1]}(" for c in calls)
           or f"no {package}.<macro> call found"))


def source_libraries(source: Path, domain: str, link: bool = False) -> Libraries:
    """The third-party packages the project installs. Hub and git packages resolve from
    any project: their entries stay as written. A local: package would resolve against
    the project dbt runs from (the mesh root), not the domain: it is copied into the
    domain's vendor/ folder and installed from there, by the same DUCKMESH_DOMAINS path
    the upstream domains use. Refused only where that cannot work (no such folder, or
    --link), with the namespaced calls that need it and the two ways out."""
    if (source / "dependencies.yml").is_file():
        data = yamledit.load(source / "dependencies.yml") or {}
        if data.get("projects"):
            raise InvalidInput(f"{source}/dependencies.yml lists dbt Cloud projects "
                               f"({', '.join(str(p.get('name')) for p in data['projects'])}): "
                               "in the mesh, other domains' products come through packages.yml")
    entries, vendored = [], {}
    for name in ("packages.yml", "dependencies.yml"):
        path = source / name
        if not path.is_file():
            continue
        for entry in (yamledit.load(path) or {}).get("packages") or []:
            if "local" not in entry:
                entries.append(json.dumps(dict(entry), sort_keys=False))
                continue
            local = str(entry["local"])
            folder = (source / local).resolve()
            if link:
                raise local_package_refusal(path, source, local,
                                            "with --link adopt cannot copy it into the domain")
            if not (folder / "dbt_project.yml").is_file():
                raise local_package_refusal(path, source, local,
                                            f"{folder} is not a dbt project")
            vendored[folder.name] = folder
            where = "{{ env_var('DUCKMESH_DOMAINS', '..') }}" + f"/{domain}/vendor/{folder.name}"
            entries.append(json.dumps({"local": where}))
    return Libraries(entries, vendored)
