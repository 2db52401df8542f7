"""The trust probe: secrets, file modes, the query sandbox and
what bad command-line input ends in. Part of `duckmesh bench probe` (``--set trust``).

Each case works on a clone of the probe's built mesh (scale 0.01), does one thing a
careless or hostile user might do, and is classified:

    handled well   refused in one line naming the thing and the fix (no traceback), or
                   the files hold the modes docs/privacy.md promises
    TRACEBACK      a Python traceback
    ACCEPTED       something that must be refused went through (a weak salt built, a
                   crafted or private database opened, a colliding domain scaffolded)
    LEAK           the output holds what it must not (a line of /etc/passwd, the salt)
    LOOSE MODES    a file with personal data or the salt readable by others (files above
                   0640, folders above 0750; the salt 0600 in 0700)
    UNCLEAR        refused, but not in one line (or without saying what to do)

The goal: every case handled well.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

SCALE = "0.01"
GOOD = "handled well"
BAD_CLASSES = ("TRACEBACK", "ACCEPTED", "LEAK", "LOOSE MODES", "UNCLEAR")
OWNER_INJECTION = 'Fin "Team"\nrestrict-access: false\n# \''


@dataclass(frozen=True)
class Outcome:
    result: str  # GOOD or one of BAD_CLASSES
    exit_code: str
    message: str


@dataclass(frozen=True)
class Case:
    name: str
    area: str  # salt | modes | sandbox | input
    run: Callable[[Path, Path], Outcome]  # (clone of the built mesh, scratch folder)


def duckmesh(root: Path, *args: str, env: dict[str, str] | None = None,
             drop: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    full = {**os.environ, "DUCKMESH_DB": str(root / "mesh.duckdb"), **(env or {})}
    for name in ("DUCKMESH_DATA", *drop):
        full.pop(name, None)
    return subprocess.run([sys.executable, "-m", "duckmesh.cli", "--project-dir", str(root),
                           *args], cwd=root, env=full, capture_output=True, text=True,
                          timeout=1800)


def refusal(result: subprocess.CompletedProcess, secrets: tuple[str, ...] = ()) -> Outcome:
    """A command that must be refused: how it ended."""
    text = result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    message = next((line for line in lines if "Traceback" in line or "error:" in line),
                   lines[-1] if lines else text.strip()[-160:])
    if "Traceback" in text:
        outcome = "TRACEBACK"
    elif any(s and s in text for s in secrets):
        outcome = "LEAK"
    elif result.returncode == 0:
        outcome = "ACCEPTED"
    elif len(lines) != 1 or "error:" not in lines[0]:
        outcome = "UNCLEAR"
    else:
        outcome = GOOD
    return Outcome(outcome, str(result.returncode), message)


# -- the salt ----------------------------------------------------------------------------

def _unsalted_share(root: Path, salt: str) -> str:
    """How many published email_hash values a dictionary of sha256(salt || email) finds."""
    data = root / "data" / f"scale_{SCALE}" / "crm" / "customers.csv"
    with duckdb.connect() as con:
        emails = dict(con.execute(
            f"select CUST_ID, EMAIL from read_csv('{data}', delim=';', header=true, "
            "all_varchar=true) where EMAIL is not null").fetchall())
    with duckdb.connect(str(root / "published" / "mesh.duckdb"), read_only=True) as con:
        hashes = dict(con.execute("select customer_id, email_hash from customers.customers_v1"
                                  ).fetchall())
    found = sum(hashes.get(c) == hashlib.sha256((salt + e.strip().lower()).encode()).hexdigest()
                for c, e in emails.items())
    return f"{found} of {len(emails)} email_hash values are sha256(salt || email)"


def salt_file(content: str) -> Callable[[Path, Path], Outcome]:
    def run(root: Path, scratch: Path) -> Outcome:
        path = root / ".duckmesh" / "pii_salt"
        path.write_text(content)
        result = duckmesh(root, "build", "--scale", SCALE, drop=("DUCKMESH_PII_SALT",))
        outcome = refusal(result)
        if outcome.result == "ACCEPTED":
            return Outcome("ACCEPTED", "0", _unsalted_share(root, content.strip()))
        return outcome
    return run


def salt_env(value: str) -> Callable[[Path, Path], Outcome]:
    def run(root: Path, scratch: Path) -> Outcome:
        result = duckmesh(root, "build", "--scale", SCALE, env={"DUCKMESH_PII_SALT": value})
        outcome = refusal(result, secrets=(value,))
        if outcome.result == "ACCEPTED":
            return Outcome("ACCEPTED", "0", _unsalted_share(root, value.strip()))
        return outcome
    return run


# -- file modes --------------------------------------------------------------------------

def _loose(paths: list[Path], file_most: int = 0o640, folder_most: int = 0o750) -> list[str]:
    found = []
    for top in paths:
        for path in [top, *(top.rglob("*") if top.is_dir() else [])]:
            if path.is_symlink() or not path.exists():
                continue
            mode = stat.S_IMODE(path.stat().st_mode)
            most = folder_most if path.is_dir() else file_most
            if mode & ~most:
                found.append(f"{path.relative_to(top.parent)} {mode:04o}")
    return found


def _private_paths(root: Path) -> list[tuple[Path, int, int]]:
    """(path, most for its files, most for its folders) of everything with personal data."""
    return [(root / "data" / f"scale_{SCALE}", 0o640, 0o750),
            (root / "target" / "validation_cache", 0o640, 0o750),
            (root / "target" / "validated", 0o640, 0o750),
            (root / ".duckmesh", 0o600, 0o700)]


def modes_report(root: Path, what: str, said: str = "") -> Outcome:
    loose = [entry for path, file_most, folder_most in _private_paths(root)
             for entry in _loose([path], file_most, folder_most)]
    if loose:
        return Outcome("LOOSE MODES", "0", f"{len(loose)} loose: {', '.join(loose[:3])}")
    return Outcome(GOOD, "0", f"{what}: files 0640 (salt 0600), folders 0750 (salt 0700)"
                   + (f"; {said}" if said else ""))


def modes_after_build(root: Path, scratch: Path) -> Outcome:
    return modes_report(root, "after the build")


def modes_with_quarantine(root: Path, scratch: Path) -> Outcome:
    csv = root / "data" / f"scale_{SCALE}" / "crm" / "customers.csv"
    lines = csv.read_bytes().splitlines(keepends=True)
    csv.write_bytes(b"".join(lines[:5] + [b"C0;not;enough;fields\n"] + lines[5:]))
    result = duckmesh(root, "build", "--scale", SCALE)
    if "Traceback" in result.stdout + result.stderr or result.returncode:
        return refusal(result)
    if not (root / "target" / "validated" / "crm" / "customers.csv").is_file():
        return Outcome("UNCLEAR", str(result.returncode), "no cleaned copy was written")
    return modes_report(root, "a bad row quarantined, target/validated/ written")


def modes_tightened(root: Path, scratch: Path) -> Outcome:
    """An older build's loose modes (a .duckmesh chmodded 0755, data 0644) are tightened."""
    for top, _, _ in _private_paths(root):
        for path in [top, *top.rglob("*")] if top.is_dir() else []:
            if not path.is_symlink():
                os.chmod(path, 0o755 if path.is_dir() else 0o644)
    result = duckmesh(root, "build", "--scale", SCALE, "--changed-only")
    if "Traceback" in result.stdout + result.stderr or result.returncode:
        return refusal(result)
    said = [line.strip() for line in result.stdout.splitlines() if "tightened" in line]
    outcome = modes_report(root, "loose modes tightened by the next build",
                           f"{len(said)} line(s) said so")
    if outcome.result == GOOD and not said:
        return Outcome("UNCLEAR", "0", "tightened without a word")
    return outcome


# -- the query sandbox -------------------------------------------------------------------

def crafted(path: Path, target: str) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema _duckmesh")
        con.execute("create table _duckmesh.ports (relation varchar, path varchar)")
        con.execute("insert into _duckmesh.ports values ('x.y_v1', ?)", [target])
        con.execute(f"create view leak as select content from read_text('{target}')")
    return path


def crafted_ports(target: str) -> Callable[[Path, Path], Outcome]:
    def run(root: Path, scratch: Path) -> Outcome:
        listed = target if target.startswith("/") else str(root / target)
        secret = Path(listed).read_text().strip()[:40]
        db = crafted(scratch / "crafted.duckdb", listed)
        return refusal(duckmesh(root, "query", "--db", str(db), "select * from leak"),
                       secrets=(secret,))
    return run


def build_database(copy: bool) -> Callable[[Path, Path], Outcome]:
    def run(root: Path, scratch: Path) -> Outcome:
        db = root / "mesh.duckdb"
        if copy:
            db = Path(shutil.copy(db, scratch / "copy.duckdb"))
        # a table of the build database: the raw lines of quarantined rows
        result = duckmesh(root, "query", "--db", str(db),
                          "select source_name, rows_read from quarantine.source_checks")
        return refusal(result)
    return run


# -- bad input ---------------------------------------------------------------------------

def command(*args: str) -> Callable[[Path, Path], Outcome]:
    def run(root: Path, scratch: Path) -> Outcome:
        return refusal(duckmesh(root, *(a.format(scratch=scratch) for a in args)))
    return run


def corrupt_db(root: Path, scratch: Path) -> Outcome:
    path = scratch / "corrupt.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create table t as select range as i, repeat('x', 50) as s "
                    "from range(200000)")
    data = path.read_bytes()
    middle = len(data) // 2
    path.write_bytes(data[:middle] + random.Random(27).randbytes(300_000)
                     + data[middle + 300_000:])
    return refusal(duckmesh(root, "query", "--db", str(path), "select 1"))


def empty_file(name: str, *args: str) -> Callable[[Path, Path], Outcome]:
    def run(root: Path, scratch: Path) -> Outcome:
        (scratch / name).write_bytes(b"")
        return refusal(duckmesh(root, *(a.format(scratch=scratch) for a in args)))
    return run


def new_domain(name: str, owner: str) -> Callable[[Path, Path], Outcome]:
    def run(root: Path, scratch: Path) -> Outcome:
        result = duckmesh(root, "new-domain", name, "--owner", owner, "--email",
                          "f@x.org", "--kind", "consumer")
        return refusal(result)
    return run


CASES: tuple[Case, ...] = (
    Case("salt file empty", "salt", salt_file("")),
    Case("salt file 'a'", "salt", salt_file("a\n")),
    Case("salt file '5a17' x 16 (patterned)", "salt", salt_file("5a17" * 16 + "\n")),
    Case("salt env 16 characters", "salt", salt_env("0123456789abcdef")),
    Case("salt env 'a' x 64", "salt", salt_env("a" * 64)),
    Case("modes after a build", "modes", modes_after_build),
    Case("modes with a quarantined row", "modes", modes_with_quarantine),
    Case("loose modes of an older build", "modes", modes_tightened),
    Case("query --db lists /etc/passwd", "sandbox", crafted_ports("/etc/passwd")),
    Case("query --db lists the salt", "sandbox", crafted_ports(".duckmesh/pii_salt")),
    Case("query --db mesh.duckdb", "sandbox", build_database(copy=False)),
    Case("query --db a copy of mesh.duckdb", "sandbox", build_database(copy=True)),
    Case("query ''", "input", command("query", "")),
    Case("query --db corrupt file", "input", corrupt_db),
    Case("query --db empty file", "input", empty_file("empty.duckdb", "query", "--db",
                                                      "{scratch}/empty.duckdb", "select 1")),
    Case("governance diff --before /etc/passwd", "input",
         command("governance", "diff", "--before", "/etc/passwd")),
    Case("governance diff --before empty file", "input",
         empty_file("empty.json", "governance", "diff", "--before", "{scratch}/empty.json")),
    Case("new-domain --owner newline and quotes", "input", new_domain("finance",
                                                                      OWNER_INJECTION)),
    Case("new-domain duckmesh_platform", "input", new_domain("duckmesh_platform", "F")),
    Case("new-domain dbt_utils", "input", new_domain("dbt_utils", "F")),
    Case("new-domain ref (dbt reserved)", "input", new_domain("ref", "F")),
)


def counts(rows: list[list[str]]) -> str:
    found = {name: sum(r[2] == name for r in rows) for name in (GOOD, *BAD_CLASSES)}
    return (f"{len(rows)} cases: {found[GOOD]} handled well, "
            + ", ".join(f"{found[c]} {c}" for c in BAD_CLASSES))


def run_cases(base: Path, work: Path, only: str = "",
              clone: Callable[[Path, Path], Path] | None = None) -> list[list[str]]:
    """Every case on its own clone of ``base``: [case, area, result, exit, message]."""
    from benchmarks.probe import clone as clone_mesh

    rows = []
    for case in (c for c in CASES if only in c.name):
        root = (clone or clone_mesh)(base, work / "trust")
        scratch = work / "trust-scratch"
        scratch.mkdir(exist_ok=True)
        try:
            outcome = case.run(root, scratch)
        except Exception as error:  # noqa: BLE001 (the probe reports, it does not stop)
            outcome = Outcome("TRACEBACK", "-", f"in the probe: {type(error).__name__}: {error}")
        finally:
            shutil.rmtree(root, ignore_errors=True)
            shutil.rmtree(scratch, ignore_errors=True)
        rows.append([case.name, case.area, outcome.result, outcome.exit_code,
                     outcome.message.replace("\n", " ")[:200]])
        print(" | ".join(rows[-1]), flush=True)
    return rows
