"""`duckmesh new-domain`: a governed domain (a dbt package) from templates/domain/,
registered in packages.yml."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from duckmesh.core import yamledit
from duckmesh.core.names import InvalidInput
from duckmesh.core.project import Mesh
from duckmesh.core.templates import render
from duckmesh.selfserve import KINDS
from duckmesh.selfserve.contracts import scalar
from duckmesh.selfserve.rules import (
    RefusedOverwrite,
    check_domain_name,
    check_email,
    check_text,
)

TEMPLATES = Path(__file__).parent / "templates"


# Layer folders per kind (products/ always).
FOLDERS = {
    "source": ["staging", "products"],
    "aggregate": ["staging", "intermediate", "products"],
    "consumer": ["intermediate", "products"],
}


FOLDER_README = {
    "staging": "`models/staging/`: `stg_<source>__<entity>.sql`, rename and cast only (private)",
    "intermediate": "`models/intermediate/`: `int_<thing>.sql`, joins and aggregates (private)",
    "products": "`models/products/`: `<product>_v<N>.sql`, public, contracted, versioned",
}


@dataclass(frozen=True)
class DomainRequest:
    name: str
    owner: str
    email: str
    kind: str
    description: str | None = None


def domain_files(request: DomainRequest) -> dict[str, str]:
    """Relative path -> content of a new domain's dbt package (templates/domain/)."""
    folders = FOLDERS[request.kind]
    description = request.description or f"The {request.name} domain ({request.kind}-aligned)."
    values = {"name": request.name, "label": KINDS[request.kind], "owner": request.owner,
              "email": request.email, "email_yaml": scalar(request.email),
              "description": description, "folders": folders,
              "folder_readme": FOLDER_README, "owner_yaml": scalar(request.owner),
              "description_yaml": scalar(description)}
    files = {
        "dbt_project.yml": render(TEMPLATES / "domain", "dbt_project.yml.j2", **values),
        **package_files(request.name),
        "models/_groups.yml": render(TEMPLATES / "domain", "_groups.yml.j2", **values),
        "README.md": render(TEMPLATES / "domain", "README.md.j2", **values),
        "seeds/.gitkeep": "",
    }
    for folder in folders:
        files[f"models/{folder}/.gitkeep"] = ""
    return files


def package_files(name: str, reads: list[str] | None = None,
                  libraries: list[str] | None = None) -> dict[str, str]:
    """What makes a domain a self-contained package (docs/domains.md): its packages.yml
    (the platform, the upstream domains it ``reads``, third-party ``libraries`` as
    one-line YAML flow mappings), the default selector of its own nodes and its address
    convention (macros/generate_schema_name.sql)."""
    values = {"name": name, "reads": reads or [], "libraries": libraries or []}
    return {
        "packages.yml": render(TEMPLATES / "domain", "packages.yml.j2", **values),
        "selectors.yml": render(TEMPLATES / "domain", "selectors.yml.j2", **values),
        "macros/generate_schema_name.sql": render(
            TEMPLATES / "domain", "generate_schema_name.sql.j2", **values),
    }


UPSTREAM_REF = re.compile(r"""\bref\(\s*['"](\w+)['"]\s*,\s*['"]\w+['"]""")


def declare_upstream(mesh: Mesh, domain: str, sql: str) -> list[str]:
    """Declare every other domain that ``sql`` refs (ref('<domain>', ...)) as a
    dependency of ``domain``: an entry in its packages.yml and `+database: published`
    for it in its dbt_project.yml, so the domain still builds alone (policy P03).
    Returns the domains added."""
    folder = mesh.root / "domains" / domain
    domains = {d.name for d in mesh.domain_dirs()}
    wanted = [d for d in dict.fromkeys(UPSTREAM_REF.findall(sql)) if d in domains and d != domain]
    added = []
    for upstream in wanted:
        entry = "{{ env_var('DUCKMESH_DOMAINS', '..') }}/" + upstream
        if yamledit.add_local_package(folder / "packages.yml", entry):
            added.append(upstream)
        project = yamledit.load(folder / "dbt_project.yml")
        models = project.setdefault("models", {})
        if upstream not in models:
            models[upstream] = {"+database": "published"}
            yamledit.dump(project, folder / "dbt_project.yml")
    return added


def new_domain(mesh: Mesh, request: DomainRequest, force: bool = False) -> Path:
    check_domain_name(mesh, request.name)
    if not request.owner.strip():
        raise InvalidInput("--owner is empty: give the owning team's name, e.g. \"Finance Team\"")
    check_text("--owner", request.owner)
    if request.description is not None:
        check_text("--description", request.description)
    check_email(request.email)
    if request.kind not in KINDS:
        raise InvalidInput(f"--kind {request.kind!r}: choose one of {', '.join(KINDS)}")
    folder = mesh.root / "domains" / request.name
    if folder.exists() and not force:
        raise RefusedOverwrite(f"domains/{request.name} already exists: pass --force to "
                               "overwrite its generated files")
    for relative_path, content in domain_files(request).items():
        path = folder / relative_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    yamledit.add_local_package(mesh.root / "packages.yml", f"domains/{request.name}")
    return folder
