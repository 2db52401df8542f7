"""`dbt deps` for the mesh and for one domain: what a packages.yml declares, and when
the committed package-lock.yml must be re-resolved."""

from __future__ import annotations

import os
import re
import urllib.error
import urllib.request
from pathlib import Path

from duckmesh.core import yamlio
from duckmesh.core.output import console
from duckmesh.core.project import MeshError

HUB_SETTING = "DBT_PACKAGE_HUB_URL"
DEFAULT_HUB = "https://hub.getdbt.com/"  # dbt's own default (dbt/clients/registry.py)


def declared_packages(folder: Path) -> set[str]:
    """Package names a project's packages.yml lists (the last folder of a local path or
    git subdirectory, the repository or hub name, or an explicit `name:`), as the
    governance policy P03 reads them."""
    path = folder / "packages.yml"
    if not path.is_file():
        return set()
    names = set()
    for entry in (yamlio.loads(path.read_text()) or {}).get("packages") or []:
        if not isinstance(entry, dict):
            continue
        where = str(entry.get("subdirectory") or entry.get("local") or entry.get("git")
                    or entry.get("package") or entry.get("tarball") or "")
        names.add(re.sub(r"\.git$", "", where.rstrip("/").split("/")[-1]))
        if entry.get("name"):
            names.add(str(entry["name"]))
    return names


ENV_VAR = re.compile(r"""\{\{\s*env_var\(\s*'(\w+)'\s*(?:,\s*'([^']*)'\s*)?\)\s*\}\}""")


def _entry_key(entry: dict, env: dict[str, str]) -> str | None:
    """How package-lock.yml spells a packages.yml entry: a local path rendered with
    ``env`` (dbt renders env_var there), a git URL or hub name as written."""
    if "local" in entry:
        path = ENV_VAR.sub(lambda m: env.get(m.group(1), m.group(2) or ""), str(entry["local"]))
        return "local:" + path.rstrip("/")
    for kind in ("git", "package", "tarball"):
        if kind in entry:
            return f"{kind}:{entry[kind]}" + (f"/{entry['subdirectory']}"
                                              if entry.get("subdirectory") else "")
    return None


def missing_from_lock(project_dir: Path, folders: list[Path],
                      env: dict[str, str] | None = None) -> list[str]:
    """Entries that the packages.yml of ``project_dir`` or of the local packages in
    ``folders`` declare but ``project_dir``'s package-lock.yml lacks. dbt re-resolves
    only when the root's own packages.yml changes, so a library or upstream domain added
    to a domain's packages.yml would otherwise never be installed."""
    lock_file = project_dir / "package-lock.yml"
    if not lock_file.is_file():
        return []
    lock = yamlio.loads(lock_file.read_text()) or {}
    locked = {_entry_key(e, {}) for e in lock.get("packages") or [] if isinstance(e, dict)}
    wanted = set()
    for folder in [project_dir, *folders]:
        path = folder / "packages.yml"
        data = (yamlio.loads(path.read_text()) or {}) if path.is_file() else {}
        for entry in data.get("packages") or []:
            if isinstance(entry, dict):
                wanted.add(_entry_key(entry, env or {}))
    return sorted(key for key in wanted - locked if key)


def hub_packages(folders: list[Path]) -> dict[str, list[str]]:
    """Hub package name -> the packages.yml files (``folder/packages.yml``) that list it."""
    found: dict[str, list[str]] = {}
    for folder in folders:
        path = folder / "packages.yml"
        data = (yamlio.loads(path.read_text()) or {}) if path.is_file() else {}
        for entry in data.get("packages") or []:
            if isinstance(entry, dict) and entry.get("package"):
                found.setdefault(str(entry["package"]), []).append(
                    f"{folder.name}/packages.yml")
    return found


def check_hub(folders: list[Path], env: dict[str, str] | None = None,
              timeout: float = 3.0) -> None:
    """Before `dbt deps`: when a packages.yml lists hub packages, the hub dbt will ask
    (DBT_PACKAGE_HUB_URL, else hub.getdbt.com) must answer; otherwise one line naming
    the packages and the setting, instead of dbt's five retries and a traceback."""
    packages = hub_packages(folders)
    if not packages:
        return
    url = (env or {}).get(HUB_SETTING) or os.environ.get(HUB_SETTING) or DEFAULT_HUB
    try:
        urllib.request.urlopen(url.rstrip("/") + "/api/v1/index.json",  # noqa: S310
                               timeout=timeout).close()
    except (OSError, ValueError) as error:
        reason = getattr(error, "reason", None) or error
        listed = ", ".join(f"{name} ({', '.join(files)})" for name, files in
                           sorted(packages.items()))
        raise MeshError(
            f"the dbt package hub {url} does not answer ({reason}); {listed} come from it: "
            f"set {HUB_SETTING} to a hub this machine reaches (a mirror, or a local "
            "stand-in), or list them as `- git: <url>` with `revision: <tag>`") from None


def deps_args(project_dir: Path, folders: list[Path],
              env: dict[str, str] | None = None) -> list[str]:
    """`dbt deps`, with --upgrade (re-resolve and rewrite package-lock.yml, saying so)
    when a local package declares something the lock does not hold. A hub that does not
    answer stops here, with one line (check_hub)."""
    check_hub([project_dir, *folders], env)
    missing = missing_from_lock(project_dir, folders, env)
    if not missing:
        return ["deps"]
    console().warn(f"      package-lock.yml lacks {', '.join(missing)} (declared in a "
                   "packages.yml): dbt deps --upgrade rewrites it; commit the new lock", err=False)
    return ["deps", "--upgrade"]
