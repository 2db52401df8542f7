"""The PII salt: the secret that makes ``duckmesh_platform.pseudonymise()`` one-way.

One salt per installation, kept out of git in ``.duckmesh/pii_salt`` (folder 0700, file
0600, tightened with a message when looser), generated on the first build, or given by
``DUCKMESH_PII_SALT`` (a CI secret), which is written to that same file. Either way it
must hold 32 bytes of randomness (``strength_problem``): a short or patterned salt lets
anyone with a list of e-mail addresses undo the hashes, so it stops the build. dbt never
sees the value: the profile's environment carries only the file's path
(``DUCKMESH_PII_SALT_FILE``) and the engine reads the file when the model runs, so the
salt is in no compiled SQL, manifest, log or descriptor.
In CI (``CI=true``) a mesh whose models pseudonymise refuses to build without it rather
than invent a salt nobody keeps. docs/privacy.md: rotation.
"""

from __future__ import annotations

import math
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path

from duckmesh.core import files, output
from duckmesh.core.project import Mesh, MeshError, relative

FILE_ENV = "DUCKMESH_PII_SALT_FILE"
SALT_ENV = "DUCKMESH_PII_SALT"
MACRO_CALL = "pseudonymise("
RANDOM_BYTES = 32  # what a salt must hold: 256 bits
MAKE_ONE = "python -c 'import secrets; print(secrets.token_hex(32))'"
# the alphabets a salt is read in, smallest first: the bits one character can carry
ALPHABETS: tuple[tuple[str, re.Pattern[str], float], ...] = (
    ("hex", re.compile(r"[0-9a-fA-F]+"), 4.0),
    ("base64", re.compile(r"[A-Za-z0-9+/=_-]+"), 6.0),
    ("printable ASCII", re.compile(r"[ -~]+"), math.log2(95)),
)
MIN_DISTINCT = 8  # 64 random hex characters use about 16 different ones


def needed_length(salt: str) -> tuple[str, int]:
    """(the alphabet ``salt`` is written in, the characters of it that carry 32 random
    bytes): 64 hex, 43 base64, 39 printable ASCII characters, else 32 bytes of UTF-8."""
    for name, pattern, bits in ALPHABETS:
        if pattern.fullmatch(salt):
            return name, math.ceil(RANDOM_BYTES * 8 / bits)
    return "UTF-8", RANDOM_BYTES


def strength_problem(salt: str) -> str | None:
    """Why ``salt`` (already stripped) cannot hold 32 bytes of randomness, or None. It is
    refused when empty, shorter than its alphabet needs for 256 bits, a repetition of a
    shorter pattern (``5a17`` 16 times) or made of fewer than 8 different characters."""
    if not salt:
        return "it is empty"
    alphabet, needed = needed_length(salt)
    size = len(salt.encode()) if alphabet == "UTF-8" else len(salt)
    unit = "byte" if alphabet == "UTF-8" else "character"
    if size < needed:
        return (f"it has {size} {unit}{'s' if size != 1 else ''}, and {needed} {alphabet} "
                f"{unit}s are needed for {RANDOM_BYTES} random bytes")
    period = next((p for p in range(1, min(len(salt) // 2, 256) + 1)
                   if salt[p:] == salt[:-p]), None)
    if period is not None:
        return (f"it repeats a pattern of {period} character{'s' if period != 1 else ''} "
                f"{len(salt) // period} times")
    distinct = len(set(salt))
    if distinct < MIN_DISTINCT:
        return (f"it uses only {distinct} different characters (random text of its length "
                f"uses at least {MIN_DISTINCT})")
    return None


def check_strength(salt: str, where: str, fix: str) -> None:
    problem = strength_problem(salt.strip())
    if problem:
        raise MeshError(f"the PII salt in {where} is too weak: {problem}. A salt needs "
                        f"{RANDOM_BYTES} random bytes, or anyone with a list of e-mail "
                        f"addresses can undo the hashes. Fix: {fix}")


def pseudonymising_models(mesh: Mesh) -> list[str]:
    """Model files (relative to the mesh root) that call pseudonymise()."""
    folders = [mesh.root / "models", *(d / "models" for d in mesh.domain_dirs())]
    found = []
    for folder in folders:
        for path in sorted(folder.rglob("*.sql")) if folder.is_dir() else []:
            if MACRO_CALL in path.read_text(errors="replace"):
                found.append(relative(path, mesh.root))
    return found


def checked_file(mesh: Mesh) -> str | None:
    """The salt file a publish hashes with (``mask: hash``), checked as a build checks it
    (it may have been replaced since); None when there is none."""
    path = mesh.pii_salt_path
    if not path.is_file():
        return None
    shown = relative(path, mesh.root)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise MeshError(f"cannot read the PII salt {shown} ({error}). Fix: make it a text "
                        f"file its owner can read (chmod 600 {shown})") from error
    check_strength(text, shown, f"write a new one with `{MAKE_ONE} > {shown}`, or delete "
                                f"{shown} and `duckmesh build` makes one (a new salt changes "
                                "every hash: docs/privacy.md, rotation)")
    return str(path)


def _write(path: Path, value: str, log: Callable[[str], None] | None) -> None:
    files.private_dir(path.parent, 0o700, log, why="the PII salt")
    files.write_private(path, value, 0o600)


def ensure(mesh: Mesh, log: Callable[[str], None] | None = output.step) -> Path:
    """The salt file, ready for a build: written from DUCKMESH_PII_SALT when set,
    generated once when missing (outside CI), checked for 32 bytes of randomness, kept
    0600 in a 0700 folder (tightened, with a line through ``log``, when looser). Raises
    MeshError for a weak salt, and in CI when there is none and a model pseudonymises."""
    path = mesh.pii_salt_path
    shown = relative(path, mesh.root)
    given = mesh.settings.pii_salt
    if given is not None:
        check_strength(given, SALT_ENV, f"set {SALT_ENV} to the output of `{MAKE_ONE}` "
                                        "(64 hex characters), kept in your secret store")
        if not path.is_file() or path.read_text() != given.strip():
            _write(path, given.strip(), log)
    elif not path.is_file():
        if mesh.settings.ci:
            models = pseudonymising_models(mesh)
            if models:
                raise MeshError(
                    f"no PII salt in CI: {', '.join(models)} pseudonymise personal data, and "
                    f"a salt made up here would be lost with the runner. Set {SALT_ENV} from "
                    "your CI's secret store (the same value as production; docs/privacy.md)")
            return path
        _write(path, secrets.token_hex(RANDOM_BYTES), log)
    else:
        checked_file(mesh)
    files.private_dir(path.parent, 0o700, log, why="the PII salt")
    if files.mode(path) & 0o077:
        os.chmod(path, 0o600)  # readable by its owner only
        if log:
            log(f"      tightened {shown} to 0600: it is the PII salt (docs/privacy.md)")
    return path
