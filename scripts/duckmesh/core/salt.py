"""The PII salt: the secret that makes ``duckmesh_platform.pseudonymise()`` one-way.

One salt per installation, kept out of git in ``.duckmesh/pii_salt`` (folder 0700, file
0600), generated on the first build, or given by ``DUCKMESH_PII_SALT`` (a CI secret),
which is written to that same file. dbt never sees the value: the profile's environment
carries only the file's path (``DUCKMESH_PII_SALT_FILE``) and the engine reads the file
when the model runs, so the salt is in no compiled SQL, manifest, log or descriptor.
In CI (``CI=true``) a mesh whose models pseudonymise refuses to build without it rather
than invent a salt nobody keeps. docs/privacy.md: rotation.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from duckmesh.core.project import Mesh, MeshError, relative

FILE_ENV = "DUCKMESH_PII_SALT_FILE"
SALT_ENV = "DUCKMESH_PII_SALT"
MIN_LENGTH = 16
MACRO_CALL = "pseudonymise("


def pseudonymising_models(mesh: Mesh) -> list[str]:
    """Model files (relative to the mesh root) that call pseudonymise()."""
    folders = [mesh.root / "models", *(d / "models" for d in mesh.domain_dirs())]
    found = []
    for folder in folders:
        for path in sorted(folder.rglob("*.sql")) if folder.is_dir() else []:
            if MACRO_CALL in path.read_text(errors="replace"):
                found.append(relative(path, mesh.root))
    return found


def _write(path: Path, value: str) -> None:
    path.parent.mkdir(mode=0o700, exist_ok=True)
    os.chmod(path.parent, 0o700)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(value)
    os.replace(temporary, path)


def ensure(mesh: Mesh) -> Path:
    """The salt file, ready for a build: written from DUCKMESH_PII_SALT when set,
    generated once when missing (outside CI), kept 0600. Raises MeshError in CI when
    there is none and a model pseudonymises."""
    path = mesh.pii_salt_path
    given = mesh.settings.pii_salt
    if given is not None:
        if len(given.strip()) < MIN_LENGTH:
            raise MeshError(f"{SALT_ENV} is shorter than {MIN_LENGTH} characters: use a long "
                            "random secret (e.g. `python -c 'import secrets; "
                            "print(secrets.token_hex(32))'`)")
        if not path.is_file() or path.read_text() != given.strip():
            _write(path, given.strip())
    elif not path.is_file():
        if mesh.settings.ci:
            models = pseudonymising_models(mesh)
            if models:
                raise MeshError(
                    f"no PII salt in CI: {', '.join(models)} pseudonymise personal data, and "
                    f"a salt made up here would be lost with the runner. Set {SALT_ENV} from "
                    "your CI's secret store (the same value as production; docs/privacy.md)")
            return path
        _write(path, secrets.token_hex(32))
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)  # readable by its owner only
    return path
