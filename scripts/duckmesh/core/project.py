"""Where things are: the mesh root, its settings (database, source data, dbt target),
its domains. The environment is read once, by ``Settings.from_env()`` when the CLI finds
the mesh; everything after that gets the values passed in."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from duckmesh.core import yamlio


class MeshError(Exception):
    """A failure the user can fix; the message says what and how."""

    exit_code = 1


@dataclass(frozen=True)
class Settings:
    """The mesh's configuration from the environment (README and docs/ name each variable)."""

    db: Path | None = None  # DUCKMESH_DB: the database file (default <root>/mesh.duckdb)
    data: Path | None = None  # DUCKMESH_DATA: source data folder (default data/scale_<s>)
    target: str | None = None  # DUCKMESH_TARGET: the dbt target (default: the profile's)
    publish: bool = True  # DUCKMESH_PUBLISH=off: builds do not publish
    catalog_dir: Path | None = None  # DUCKMESH_CATALOG_DIR: product descriptors
    spark_dir: Path | None = None  # DUCKMESH_SPARK_DIR: Spark's warehouse and metastore
    # observability overrides (docs/observability.md)
    as_of: str | None = None  # DUCKMESH_AS_OF
    alert_file: str | None = None  # DUCKMESH_ALERT_FILE
    alert_webhook: str | None = None  # DUCKMESH_ALERT_WEBHOOK
    # the PII salt (core/salt.py): a secret, never printed
    pii_salt: str | None = field(default=None, repr=False)  # DUCKMESH_PII_SALT
    ci: bool = False  # CI=true: a missing salt stops the build instead of being made up

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def path(name: str) -> Path | None:
            return Path(env[name]).resolve() if env.get(name) else None

        return cls(db=path("DUCKMESH_DB"), data=path("DUCKMESH_DATA"),
                   target=env.get("DUCKMESH_TARGET") or None,
                   publish=env.get("DUCKMESH_PUBLISH", "on").lower()
                   not in ("off", "0", "false", "no"),
                   catalog_dir=path("DUCKMESH_CATALOG_DIR"),
                   spark_dir=path("DUCKMESH_SPARK_DIR"),
                   as_of=env.get("DUCKMESH_AS_OF") or None,
                   alert_file=env.get("DUCKMESH_ALERT_FILE") or None,
                   alert_webhook=env.get("DUCKMESH_ALERT_WEBHOOK") or None,
                   pii_salt=env.get("DUCKMESH_PII_SALT") or None,
                   ci=env.get("CI", "").lower() in ("true", "1", "yes"))


@dataclass(frozen=True)
class Mesh:
    root: Path
    settings: Settings = field(default_factory=Settings)

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
    def run_results_path(self) -> Path:
        return self.target_dir / "run_results.json"

    @property
    def db_path(self) -> Path:
        return self.settings.db or self.root / "mesh.duckdb"

    @property
    def pii_salt_path(self) -> Path:
        """The installation's PII salt (core/salt.py; git-ignored, mode 0600)."""
        return self.root / ".duckmesh" / "pii_salt"

    def data_dir(self, scale: float) -> Path:
        return self.settings.data or self.root / "data" / f"scale_{scale:g}"

    def package_dirs(self) -> list[Path]:
        """Local packages as registered in packages.yml, in that order."""
        packages = yamlio.loads((self.root / "packages.yml").read_text()) or {}
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
        """What dbt reads (env_var): absolute paths so nothing depends on the cwd.
        DUCKMESH_PLATFORM and DUCKMESH_DOMAINS make each domain's packages.yml name the
        platform and the upstream domains as the root's packages.yml does."""
        env = {"DUCKMESH_DB": str(self.db_path), "DUCKMESH_PLATFORM": "macros",
               "DUCKMESH_DOMAINS": "domains",
               # the path of the PII salt, never its value (core/salt.py)
               "DUCKMESH_PII_SALT_FILE": str(self.pii_salt_path)}
        if data_dir is not None:
            env["DUCKMESH_DATA"] = str(data_dir)
        if self.settings.target:
            env["DUCKMESH_TARGET"] = self.settings.target
        return env


def is_domain_dir(folder: Path) -> bool:
    """The documented rule (docs/domains.md "Domains and libraries"): a package is a domain when
    it defines a dbt group (its owning team) or a public model; any other package
    (macros and generic tests only, such as dbt_utils, or the platform package) is a
    library. Read from the package's yml files, without dbt."""
    project = folder / "dbt_project.yml"
    if not project.is_file():
        return False
    config = yamlio.loads(project.read_text()) or {}
    if "+access: public" in project.read_text():
        return True
    for model_path in config.get("model-paths", ["models"]):
        for yml in sorted((folder / model_path).rglob("*.yml")):
            text = yml.read_text()
            if "access: public" in text:
                return True
            if "groups:" in text:
                data = yamlio.loads(text) or {}
                if isinstance(data, dict) and data.get("groups"):
                    return True
    return False


def find_mesh(start: Path | str | None = None, settings: Settings | None = None) -> Mesh:
    """The nearest folder at or above ``start`` holding dbt_project.yml and packages.yml."""
    here = Path(start or os.environ.get("DUCKMESH_ROOT") or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "dbt_project.yml").is_file() and (folder / "packages.yml").is_file():
            return Mesh(folder, settings if settings is not None else Settings.from_env())
    raise MeshError(
        f"no DuckMesh project at or above {here}: run from the repository root "
        "(the folder with dbt_project.yml and packages.yml) or pass --project-dir"
    )


def relative(path: Path, root: Path) -> str:
    """``path`` from ``root`` when it is inside it, else as given."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
