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

from duckmesh.core.names import InvalidInput, check_name
from duckmesh.core.project import Mesh, MeshError

EXIT_OK = 0
EXIT_GAPS = 1
EXIT_INVALID = 2
EXIT_EXISTS = 3

# Layer prefixes belong to private models, never to a product's name (P04).
LAYER_PREFIXES = ("stg_", "int_", "fct_", "dim_", "base_", "mart_", "rpt_")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


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
