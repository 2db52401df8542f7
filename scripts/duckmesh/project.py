"""Where things are: the mesh root, its database, its source data, its domains."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml


class MeshError(Exception):
    """A failure the user can fix; the message says what and how."""


@dataclass(frozen=True)
class Mesh:
    root: Path

    @property
    def profiles_dir(self) -> Path:
        return self.root / "profiles"

    @property
    def target_dir(self) -> Path:
        return self.root / "target"

    @property
    def manifest_path(self) -> Path:
        return self.target_dir / "manifest.json"

    @property
    def db_path(self) -> Path:
        override = os.environ.get("DUCKMESH_DB")
        return Path(override).resolve() if override else self.root / "mesh.duckdb"

    def data_dir(self, scale: float) -> Path:
        override = os.environ.get("DUCKMESH_DATA")
        if override:
            return Path(override).resolve()
        return self.root / "data" / f"scale_{scale:g}"

    def package_dirs(self) -> list[Path]:
        """Local packages as registered in packages.yml, in that order."""
        packages = yaml.safe_load((self.root / "packages.yml").read_text()) or {}
        dirs = []
        for entry in packages.get("packages", []):
            if "local" in entry:
                dirs.append((self.root / entry["local"]).resolve())
        return dirs

    def domain_dirs(self) -> list[Path]:
        """Domains as registered in packages.yml (local packages), in that order;
        libraries and the platform package are left out (is_domain_dir)."""
        return [folder for folder in self.package_dirs() if is_domain_dir(folder)]

    def env(self, data_dir: Path | None = None) -> dict[str, str]:
        """Environment for dbt: absolute paths so nothing depends on the cwd.
        DUCKMESH_PLATFORM and DUCKMESH_DOMAINS make each domain's packages.yml name
        the platform and upstream domains as the root's packages.yml does."""
        env = {"DUCKMESH_DB": str(self.db_path), "DUCKMESH_PLATFORM": "macros",
               "DUCKMESH_DOMAINS": "domains"}
        if data_dir is not None:
            env["DUCKMESH_DATA"] = str(data_dir)
        return env


def is_domain_dir(folder: Path) -> bool:
    """The documented rule (README "Domains and libraries"): a package is a domain when
    it defines a dbt group (its owning team) or a public model; any other package
    (macros and generic tests only, such as dbt_utils, or the platform package) is a
    library. Read from the package's yml files, without dbt."""
    project = folder / "dbt_project.yml"
    if not project.is_file():
        return False
    config = yaml.safe_load(project.read_text()) or {}
    for model_path in config.get("model-paths", ["models"]):
        for yml in sorted((folder / model_path).rglob("*.yml")):
            text = yml.read_text()
            if "groups:" not in text and "access: public" not in text and "+access: public" not in text:
                continue
            data = yaml.safe_load(text) or {}
            if isinstance(data, dict) and data.get("groups"):
                return True
            if "access: public" in text:
                return True
    return "+access: public" in project.read_text()


def find_mesh(start: Path | None = None) -> Mesh:
    """The nearest folder at or above ``start`` holding dbt_project.yml and packages.yml."""
    here = Path(start or os.environ.get("DUCKMESH_ROOT") or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "dbt_project.yml").is_file() and (folder / "packages.yml").is_file():
            return Mesh(folder)
    raise MeshError(
        f"no DuckMesh project at or above {here}: run from the repository root "
        "(the folder with dbt_project.yml and packages.yml) or pass --project-dir"
    )
