"""`duckmesh doctor`: is this machine ready to build the mesh, and if not, what to run.

Checks Python and the pinned tools, the dbt profile, the DuckDB file (missing, or
locked by another process), the domains as dbt installed them (a new, moved or
removed domain needs `dbt deps`), and whether the last build is older than the code.
Exit 0 when nothing fails (warnings allowed), 1 otherwise.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import duckdb
from packaging.requirements import InvalidRequirement, Requirement

from duckmesh.core import yamlio
from duckmesh.core.locks import lock_holder, writer_blocked_by
from duckmesh.core.project import Mesh

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = None  # type: ignore[assignment]

DEPS = "./duckmesh build   (it runs dbt deps first)"
INSTALL = "make install   (the pinned versions: pyproject.toml + constraints.txt)"
SPARK_INSTALL = "make build-spark   (dbt-spark and pyspark, Java 17 if missing, then a Spark build)"
TOOLS = ("dbt-core", "dbt-duckdb", "duckdb", "sqlfluff", "sqlfluff-templater-dbt", "pyyaml",
         "ruamel.yaml")


MIN_PYTHON = (3, 11)  # pyproject.toml requires-python


@dataclass(frozen=True)
class Finding:
    status: str  # ok | warn | fail
    check: str
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.status.upper():4}  {self.check}: {self.detail}"
        return text + (f"\n      run: {self.fix}" if self.fix else "")


def check_python() -> list[Finding]:
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info < MIN_PYTHON:  # noqa: UP036 (doctor reports an old venv)
        return [Finding("fail", "python", f"{version} is older than 3.11",
                        "create the venv with Python 3.11+: python3 -m venv .venv")]
    return [Finding("ok", "python", f"{version} ({sys.executable})")]


def pinned_requirements(mesh: Mesh) -> dict[str, Requirement]:
    pyproject = mesh.root / "pyproject.toml"
    if tomllib is None or not pyproject.is_file():
        return {}
    project = tomllib.loads(pyproject.read_text()).get("project", {})
    pins = {}
    for text in project.get("dependencies", []):
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        pins[requirement.name.lower()] = requirement
    return pins


def check_tools(mesh: Mesh) -> list[Finding]:
    pins = pinned_requirements(mesh)
    findings = []
    for tool in TOOLS:
        wanted = pins.get(tool)
        try:
            installed = metadata.version(tool)
        except metadata.PackageNotFoundError:
            findings.append(Finding("fail", tool, "not installed", INSTALL))
            continue
        if wanted and wanted.specifier and not wanted.specifier.contains(
                installed, prereleases=True):
            findings.append(Finding("fail", tool, f"{installed} installed, pyproject.toml "
                                    f"wants {wanted.specifier}", INSTALL))
        else:
            findings.append(Finding("ok", tool, installed))
    return findings


def check_profile(mesh: Mesh) -> list[Finding]:
    path = mesh.profiles_dir / "profiles.yml"
    if not path.is_file():
        return [Finding("fail", "profile", f"{path} is missing",
                        "restore profiles/profiles.yml from git: git checkout -- profiles")]
    project = yamlio.loads((mesh.root / "dbt_project.yml").read_text()) or {}
    name = project.get("profile")
    profiles = yamlio.loads(path.read_text()) or {}
    if name not in profiles:
        return [Finding("fail", "profile", f"profiles/profiles.yml has no profile {name!r} "
                        "(the root dbt_project.yml's profile)",
                        f"add a {name!r} profile to profiles/profiles.yml")]
    outputs = profiles[name].get("outputs") or {}
    target = mesh.settings.target or "dev"
    if target not in outputs:
        return [Finding("fail", "profile", f"DUCKMESH_TARGET={target!r} is not a target of "
                        f"profile {name!r} (targets: {', '.join(outputs)})",
                        "unset DUCKMESH_TARGET or set it to one of those targets")]
    kind = outputs[target].get("type")
    if kind != "duckdb":
        return [Finding("warn", "profile", f"target {target!r} is {kind}, not duckdb: the "
                        "platform steps (catalog, publish, observability) read the DuckDB "
                        "file", "unset DUCKMESH_TARGET; build other engines with "
                        "`duckmesh scale-out build` (docs/scale-out.md)")]
    return [Finding("ok", "profile", f"{name} -> target {target} (duckdb, "
                    "profiles/profiles.yml; ~/.dbt is never read)")]


def check_spark() -> list[Finding]:
    """The Spark target (docs/scale-out.md): optional for building, needed by make test-engines."""
    fix = SPARK_INSTALL
    findings = []
    for tool in ("dbt-spark", "pyspark"):
        try:
            findings.append(Finding("ok", tool, metadata.version(tool)))
        except metadata.PackageNotFoundError:
            findings.append(Finding("warn", tool, "not installed (only the Spark target and "
                                    "its test need it)", fix))
    java = shutil.which("java") or os.environ.get("JAVA_HOME")
    if java:
        findings.append(Finding("ok", "java", java))
    else:
        findings.append(Finding("warn", "java", "not found (Spark needs Java 17)",
                                "make java   (Debian's openjdk-17-jre-headless)"))
    return findings


def check_database(mesh: Mesh) -> list[Finding]:
    path = mesh.db_path
    if not path.exists():
        return [Finding("warn", "database", f"{path} does not exist yet",
                        "make build SCALE=0.01")]
    try:
        holder = writer_blocked_by(path)  # a reader blocks the next build too
    except duckdb.Error:
        holder = None
    if holder:
        return [Finding("fail", "database", f"{path} is open in {holder}; the next build cannot "
                        "write it", "close that connection"
                        + (f" (kill {holder.split()[1]})" if holder.startswith("PID") else "")
                        + "; readers belong on published/mesh.duckdb")]
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as error:
        message = str(error)
        if "lock" in message.lower():
            holder = lock_holder(message)
            return [Finding("fail", "database", f"{path} is locked by {holder}",
                            "wait for that process to finish, or stop it "
                            f"(kill {holder.split()[1]})" if holder.startswith("PID")
                            else "wait for the other process to finish")]
        return [Finding("fail", "database", f"{path} cannot be opened: {message}",
                        f"move it away and rebuild: mv {path} {path}.bad && duckmesh build")]
    try:
        schemas = {row[0] for row in con.execute(
            "select distinct table_schema from information_schema.tables").fetchall()}
    finally:
        con.close()
    return [Finding("ok", "database", f"{path} opens ({len(schemas)} schemas), no lock held")]


def newest_mtime(folder: Path) -> float:
    times = [p.stat().st_mtime for p in folder.rglob("*")
             if p.is_file() and "target" not in p.parts and "logs" not in p.parts]
    return max(times, default=0.0)


def check_domains(mesh: Mesh) -> list[Finding]:
    findings = []
    registered = mesh.domain_dirs()
    installed_root = mesh.root / "dbt_packages"
    for folder in registered:
        label = f"domain {folder.name}"
        project_file = folder / "dbt_project.yml"
        if not project_file.is_file():
            findings.append(Finding("fail", label, f"packages.yml lists {folder}, which has no "
                                    "dbt_project.yml",
                                    "remove it from packages.yml or restore the folder"))
            continue
        project = yamlio.loads(project_file.read_text()) or {}
        name = project.get("name")
        if name != folder.name:
            findings.append(Finding("fail", label, f"dbt_project.yml is named {name!r}, not "
                                    f"{folder.name!r}: ref('{folder.name}', ...) would fail",
                                    f"set `name: {folder.name}` in {project_file}"))
            continue
        installed = installed_root / name
        if not installed.exists():
            findings.append(Finding("fail", label, "not installed in dbt_packages/ (a new "
                                    "domain, or deps never ran)", DEPS))
        elif installed.is_symlink():
            if installed.resolve() != folder.resolve():
                findings.append(Finding("fail", label, f"dbt_packages/{name} links to "
                                        f"{installed.resolve()}, not {folder}", DEPS))
            else:
                findings.append(Finding("ok", label, "installed (linked)"))
        elif newest_mtime(folder) > newest_mtime(installed):
            findings.append(Finding("fail", label, f"dbt_packages/{name} is a copy older "
                                    "than the domain's files: builds would use stale code",
                                    DEPS))
        else:
            findings.append(Finding("ok", label, "installed (copy, up to date)"))
    names = {folder.name for folder in registered}
    lock_file = mesh.root / "package-lock.yml"
    lock = (yamlio.loads(lock_file.read_text()) or {}) if lock_file.is_file() else {}
    locked = {entry.get("name") for entry in lock.get("packages") or [] if isinstance(entry, dict)}
    if installed_root.is_dir():
        for extra in sorted(p.name for p in installed_root.iterdir() if p.name not in names):
            if extra in locked:
                # the platform package and third-party libraries (docs/domains.md, "Domains and
                # libraries"): installed, but not domains, so not checked as such
                findings.append(Finding("ok", f"library {extra}", "installed (a library "
                                        "package: no group, no public model)"))
            else:
                findings.append(Finding("warn", f"package {extra}", "installed in dbt_packages/ "
                                        "but no longer in packages.yml or package-lock.yml "
                                        "(a removed domain or library)", DEPS))
    domains_dir = mesh.root / "domains"
    if domains_dir.is_dir():
        registered_paths = {p.resolve() for p in registered}
        for folder in sorted(domains_dir.iterdir()):
            if (folder / "dbt_project.yml").is_file() and folder.resolve() not in registered_paths:
                findings.append(Finding("warn", f"domain {folder.name}", "has a dbt project "
                                        "but is not registered in packages.yml",
                                        f"add `- local: domains/{folder.name}` to packages.yml"))
    return findings


def check_refs(mesh: Mesh) -> list[Finding]:
    """The checks before dbt (governance/parse_checks.py): refs resolved as dbt resolves
    them, private models, names dbt would find in several packages, versions."""
    from duckmesh.governance import parse_checks  # noqa: PLC0415 (doctor stays light)

    found = parse_checks.findings(mesh)
    if not found:
        return [Finding("ok", "project files", "refs resolve as dbt resolves them; versions "
                        "and cross-domain refs OK")]
    return [Finding("fail", "project files", problem.split(" Fix: ")[0],
                    problem.split(" Fix: ", 1)[1] if " Fix: " in problem else "")
            for problem in found]


def check_build(mesh: Mesh) -> list[Finding]:
    manifest = mesh.manifest_path
    if not manifest.is_file():
        return [Finding("warn", "last build", "no target/manifest.json yet",
                        "make build SCALE=0.01")]
    code = max(newest_mtime(mesh.root / "models") if (mesh.root / "models").is_dir() else 0.0,
               *(newest_mtime(folder) for folder in mesh.domain_dirs() if folder.is_dir()),
               (mesh.root / "packages.yml").stat().st_mtime)
    if code > manifest.stat().st_mtime:
        return [Finding("warn", "last build", "models changed since the last parse/build",
                        "make build SCALE=0.01")]
    return [Finding("ok", "last build", "target/manifest.json is newer than every model")]


def diagnose(mesh: Mesh) -> list[Finding]:
    return [*check_python(), *check_tools(mesh), *check_profile(mesh), *check_database(mesh),
            *check_domains(mesh), *check_refs(mesh), *check_build(mesh), *check_spark()]
