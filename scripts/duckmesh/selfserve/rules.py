"""Shared by the self-serve commands (new-domain, new-product, new-version, adopt):
input validation, the errors that map to exit codes, and careful file writing.

Exit codes of the self-serve commands:
    0  done
    1  governance gaps remain (adopt, doctor) or dbt/DuckDB failed
    2  bad usage or invalid input (a name, a path, an e-mail)
    3  refused to overwrite something that exists (pass --force)
"""

from __future__ import annotations

import re
from pathlib import Path

from duckmesh.core import yamlio
from duckmesh.core.names import InvalidInput, check_name
from duckmesh.core.project import Mesh, MeshError

EXIT_OK = 0
EXIT_GAPS = 1
EXIT_INVALID = 2
EXIT_EXISTS = 3

# Layer prefixes belong to private models, never to a product's name (P04).
LAYER_PREFIXES = ("stg_", "int_", "fct_", "dim_", "base_", "mart_", "rpt_")
# a conservative address: what a YAML file, a README line and a mail client all take as is
EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
# text written into YAML, SQL comments and READMEs: one line, no Jinja (dbt renders it)
CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")
JINJA = ("{{", "}}", "{%", "%}", "{#", "#}")
# dbt and its adapters name their own packages dbt_<...> (dbt_duckdb, dbt_spark)
DBT_PREFIX = "dbt_"


class RefusedOverwrite(MeshError):
    exit_code = EXIT_EXISTS


def check_product_name(name: str) -> str:
    check_name("product", name, new=True)
    prefix = next((p for p in LAYER_PREFIXES if name.startswith(p)), None)
    if prefix:
        raise InvalidInput(
            f"product name {name!r} starts with the layer prefix {prefix!r}, which marks a "
            f"private model (P04): name the product for what it is, e.g. "
            f"{name.removeprefix(prefix)!r}")
    if re.search(r"_v\d+$", name):
        raise InvalidInput(
            f"product name {name!r} ends in a version suffix: give the bare name "
            f"({re.sub(r'_v[0-9]+$', '', name)!r}); the platform adds _v<N>")
    return name


def check_text(option: str, text: str) -> str:
    """``text`` (an --owner, a --description) when it is one line of plain text, else
    InvalidInput: a newline would start a new line of YAML in the files scaffolding
    writes, and ``{{ }}`` would be run by dbt's Jinja."""
    if CONTROL.search(text):
        character = CONTROL.search(text).group()  # type: ignore[union-attr]
        raise InvalidInput(f"{option} {text!r} holds the control character {character!r}: give "
                           "one line of plain text, e.g. \"Finance Team\"")
    jinja = next((j for j in JINJA if j in text), None)
    if jinja:
        raise InvalidInput(f"{option} {text!r} holds {jinja!r}, which dbt would read as Jinja: "
                           "give plain text, e.g. \"Finance Team\"")
    return text


def installed_packages(mesh: Mesh) -> dict[str, str]:
    """Package name -> where it comes from: the root project, the platform package and
    every dbt package the mesh installs (package-lock.yml, dbt_packages/)."""
    found: dict[str, str] = {}
    for project in (mesh.root / "dbt_project.yml", mesh.root / "macros" / "dbt_project.yml"):
        try:
            name = (yamlio.loads(project.read_text()) or {}).get("name")
        except (OSError, ValueError):
            continue
        if isinstance(name, str):
            what = "platform package" if project.parent.name == "macros" else "root project"
            found[name] = f"the {what} ({project.relative_to(mesh.root)})"
    try:
        lock = yamlio.loads((mesh.root / "package-lock.yml").read_text()) or {}
    except (OSError, ValueError):
        lock = {}
    for entry in lock.get("packages") or []:
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            found.setdefault(entry["name"], "an installed dbt package (package-lock.yml)")
    packages = mesh.root / "dbt_packages"
    for folder in sorted(packages.iterdir()) if packages.is_dir() else []:
        found.setdefault(folder.name, "an installed dbt package (dbt_packages/)")
    return found


def dbt_reserved_names() -> frozenset[str]:
    """The names dbt refuses for a project ("Invalid project name: ... is a reserved word")."""
    from dbt.contracts.project import BANNED_PROJECT_NAMES  # noqa: PLC0415 (dbt on use)

    return frozenset(BANNED_PROJECT_NAMES)


def check_domain_name(mesh: Mesh, name: str) -> str:
    """A new domain's name: the one name rule (core/names.py), and no clash with a package
    the mesh installs (a domain is a dbt package: two of one name is "Found duplicate
    project"), a name dbt reserves, or dbt's own dbt_ prefix."""
    check_name("domain", name, new=True)
    taken = installed_packages(mesh)
    existing = mesh.root / "domains" / name
    if name in taken and not existing.is_dir():
        raise InvalidInput(f"domain name {name!r} is the name of {taken[name]}: a domain is a "
                           "dbt package and two packages of one name collide; choose another "
                           f"(for example {name + '_domain'!r})")
    if name in dbt_reserved_names():
        raise InvalidInput(f"domain name {name!r} is a word dbt reserves (a project may not "
                           f"be named so): choose another (for example {name + '_domain'!r})")
    if name.startswith(DBT_PREFIX):
        raise InvalidInput(f"domain name {name!r} starts with {DBT_PREFIX!r}, which dbt and its "
                           "adapters use for their own packages: choose another (for example "
                           f"{name.removeprefix(DBT_PREFIX) or 'data'!r})")
    return name


def check_email(email: str) -> str:
    if not EMAIL.fullmatch(email.strip()):
        raise InvalidInput(f"owner e-mail {email!r} is not an e-mail address "
                           "(expected name@example.org)")
    return email.strip()


def domain_dir(mesh: Mesh, domain: str) -> Path:
    """The folder of a registered domain, or InvalidInput naming the fix."""
    check_name("domain", domain, new=True)
    folder = mesh.root / "domains" / domain
    if not (folder / "dbt_project.yml").is_file():
        raise InvalidInput(
            f"no domain {domain!r}: domains/{domain}/dbt_project.yml does not exist; create "
            f"it with `duckmesh new-domain {domain} --owner ... --email ... --kind ...` or "
            f"`duckmesh adopt PATH --as {domain}`")
    if folder.resolve() not in mesh.domain_dirs():
        raise InvalidInput(
            f"domain {domain!r} is not registered in packages.yml: add "
            f"`- local: domains/{domain}` under packages:")
    return folder


def refuse_existing(paths: list[Path], force: bool, root: Path) -> None:
    existing = [p for p in paths if p.exists()]
    if existing and not force:
        names = ", ".join(str(p.relative_to(root)) if p.is_relative_to(root) else str(p)
                          for p in existing)
        raise RefusedOverwrite(f"{names} already exists: pass --force to overwrite")


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text if text.endswith("\n") else text + "\n")
