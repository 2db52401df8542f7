"""`duckmesh release --domain <name>`: a SemVer release of one domain, as a git tag.

The version: the SemVer class (governance/semver.py) of the domain's changes since its
last release, applied to that release's version. The last release is the newest
``<domain>-v<X.Y.Z>`` tag, whose commit carries the domain's products as released
(``<domain folder>/release.json``); without a tag, it is the last publish
(``published/manifest.json``) at the version ``dbt_project.yml`` states, so the first
release of an unchanged domain tags that version as it is. The changes are read from
the domain's last build (its own workspace's manifest or the mesh's, the newer one).

What the tag pins. In the working tree a domain installs the platform and its upstream
domains by ``local:`` path (STYLE.md "Nested local packages": the mesh build, the
domain-alone build and a publish's packages all rely on it). A ``local:`` entry inside
a package installed by git resolves against the installing project, so an outside
project could not install a tag that keeps them. The tag therefore points at a release
commit of its own, a child of the branch's commit that changes two files of the domain:
``packages.yml``, where each local entry for the platform or an upstream domain becomes
a ``git:`` entry of the same repository with ``subdirectory:`` and a pinned
``revision:`` (an upstream domain at its own last release tag, the platform at the
revision those tags pin, else at the commit released), and ``release.json``. The
branch itself only gets the new ``version:`` in ``dbt_project.yml`` (one commit), so the
in-repo builds keep their local paths. An upstream domain with no release tag yet stops
the release (release it first): its own packages.yml would hold local paths.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from duckmesh.build.deps import ENV_VAR
from duckmesh.build.domain import DomainWorkspace, resolve
from duckmesh.core import yamledit, yamlio
from duckmesh.core.output import console
from duckmesh.core.project import Mesh, MeshError, relative
from duckmesh.governance import semver
from duckmesh.governance.report import published_manifest_path

RELEASE_FILE = "release.json"
SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
VERSION_LINE = re.compile(r"""^version:\s*["']?([^"'\s#]+)["']?""", re.MULTILINE)
# the manifest keys of a product version that its SemVer class reads
KEPT = ("resource_type", "package_name", "name", "unique_id", "version", "latest_version",
        "access", "group", "columns", "contract", "deprecation_date", "description",
        "constraints", "checksum")


def bump(version: str, change_class: str) -> str:
    """The next SemVer version after ``version`` for a change of ``change_class``."""
    found = SEMVER.match(version)
    if not found:
        raise MeshError(f"version {version!r} is not SemVer X.Y.Z: write it so in "
                        "dbt_project.yml")
    major, minor, patch = (int(part) for part in found.groups())
    if change_class == "major":
        return f"{major + 1}.0.0"
    if change_class == "minor":
        return f"{major}.{minor + 1}.0"
    return f"{major}.{minor}.{patch + 1}"


def released_products(manifest: dict, package: str) -> dict:
    """The domain's public product versions, as much of them as the SemVer class reads."""
    nodes = {}
    for unique_id, node in (manifest.get("nodes") or {}).items():
        if node.get("resource_type") == "model" and node.get("package_name") == package \
                and node.get("access") == "public":
            kept = {key: node.get(key) for key in KEPT}
            kept["config"] = {"meta": (node.get("config") or {}).get("meta")}
            nodes[unique_id] = kept
    return {"nodes": nodes}


def classify(before: dict, after: dict, package: str) -> tuple[str | None, list[str]]:
    """(SemVer class or None when nothing changed, the changes) of the domain's products;
    a changed product query with the same columns is a patch."""
    old, new = released_products(before, package), released_products(after, package)
    changes = semver.compare_manifests(old, new)
    found = [change.line() for change in changes]
    classes = [change.change_class for change in changes]
    for unique_id in sorted(old["nodes"].keys() & new["nodes"].keys()):
        if (old["nodes"][unique_id].get("checksum") or {}) != \
                (new["nodes"][unique_id].get("checksum") or {}):
            node = new["nodes"][unique_id]
            found.append(f"{node['name']} v{node['version']}: query changed")
            classes.append("patch")
    if not classes:
        return None, []
    return max(classes, key=semver.RANK.__getitem__), found


# -- git -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Git:
    top: Path  # the repository's top folder
    env: dict[str, str]

    def run(self, *args: str, stdin: str | None = None, env: dict[str, str] | None = None,
            strip: bool = True) -> str:
        done = subprocess.run(["git", *args], cwd=self.top, input=stdin, text=True,
                              capture_output=True, env={**self.env, **(env or {})})
        if done.returncode != 0:
            raise MeshError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout.strip() if strip else done.stdout

    def path(self, path: Path, name: str = "") -> str:
        """``path`` (and ``name`` in it) relative to the repository's top folder."""
        inside = path.resolve().relative_to(self.top).as_posix()
        parts = [part for part in (inside, name) if part and part != "."]
        return "/".join(parts) or "."


def find_git(mesh: Mesh) -> Git | None:
    if shutil.which("git") is None:
        return None
    done = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=mesh.root, text=True,
                          capture_output=True)
    if done.returncode != 0:
        return None
    return Git(Path(done.stdout.strip()).resolve(), dict(os.environ))


def last_tag(git: Git, domain: str) -> tuple[str, str] | None:
    """(tag, version) of the domain's newest release tag."""
    for tag in git.run("tag", "--list", f"{domain}-v*", "--sort=-v:refname").splitlines():
        version = tag[len(domain) + 2:]
        if SEMVER.match(version):
            return tag, version
    return None


def repository_url(git: Git, given: str | None) -> str:
    if given:
        return given
    done = subprocess.run(["git", "remote", "get-url", "origin"], cwd=git.top, text=True,
                          capture_output=True)
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() \
        else f"file://{git.top}"


# -- the pinned packages.yml ---------------------------------------------------------------

def _local_target(ws: DomainWorkspace, entry: dict) -> Path:
    """Where a local entry points from the domain's folder (env_var defaults applied,
    as a domain-alone build sees it)."""
    path = ENV_VAR.sub(lambda m: m.group(2) or "", str(entry["local"]))
    return (ws.folder / path).resolve()


def pinned_packages(mesh: Mesh, ws: DomainWorkspace, git: Git, url: str
                    ) -> tuple[str, list[str]]:
    """The release's packages.yml text and one line per pin."""
    data = yamledit.load(ws.folder / "packages.yml") or {"packages": []}
    platform = (mesh.root / "macros").resolve()
    domains = {folder.resolve(): folder.name for folder in mesh.domain_dirs()}
    upstream: dict[str, tuple[str, str]] = {}  # domain -> (subdirectory, tag)
    positions: dict[int, str] = {}
    kept: list[str] = []
    for position, entry in enumerate(data.get("packages") or []):
        if not isinstance(entry, dict) or "local" not in entry:
            continue
        target = _local_target(ws, entry)
        if target == platform:
            positions[position] = "platform"
        elif target in domains:
            name = domains[target]
            tag = last_tag(git, name)
            if tag is None:
                raise MeshError(
                    f"upstream domain {name} has no release tag ({name}-v<X.Y.Z>), so "
                    f"{ws.domain}'s release cannot pin it: release it first "
                    f"(duckmesh release --domain {name})")
            upstream[name] = (git.path(target), tag[0])
            positions[position] = name
        else:
            kept.append(str(entry["local"]))
    revision, note = platform_revision(git, upstream, git.path(platform))
    lines = [f"keeps local {path}: an outside git install cannot resolve it (publish that "
             "package by git or the hub and list it so)" for path in kept]
    for position, what in positions.items():
        if what == "platform":
            data["packages"][position] = {"git": url, "subdirectory": git.path(platform),
                                          "revision": revision}
            lines.append(f"pins the platform ({git.path(platform)}) at {revision}{note}")
        else:
            folder, pin = upstream[what]
            data["packages"][position] = {"git": url, "subdirectory": folder, "revision": pin}
            lines.append(f"pins {what} at {pin}")
    header = (f"# {ws.domain} as released: the platform and upstream domains pinned to git\n"
              "# revisions of this repository (the branch installs them by local path).\n")
    return header + yamledit.dumps(dict(data)), lines


def platform_revision(git: Git, upstream: dict[str, tuple[str, str]], subdirectory: str
                      ) -> tuple[str, str]:
    """The platform revision the upstream releases pin (dbt refuses one package at two
    revisions), else the commit being released."""
    pins = {}
    for name, (folder, tag) in upstream.items():
        try:
            text = git.run("show", f"{tag}:{folder}/packages.yml")
        except MeshError:
            continue
        for entry in (yamlio.loads(text) or {}).get("packages") or []:
            if isinstance(entry, dict) and str(entry.get("subdirectory")) == subdirectory \
                    and entry.get("revision"):
                pins[name] = str(entry["revision"])
    if len(set(pins.values())) > 1:
        raise MeshError(
            "the upstream releases pin different platform revisions ("
            + ", ".join(f"{name}: {rev}" for name, rev in sorted(pins.items()))
            + "), which dbt cannot install together: release them again from one commit")
    if pins:
        return next(iter(pins.values())), " (as the upstream releases pin it)"
    return git.run("rev-parse", "HEAD"), " (the commit released)"


# -- the command ---------------------------------------------------------------------------

def current_manifest(mesh: Mesh, ws: DomainWorkspace) -> tuple[dict, Path]:
    candidates = [p for p in (ws.manifest_path, mesh.manifest_path) if p.is_file()]
    if not candidates:
        raise MeshError(f"no build of {ws.domain} to release: run `duckmesh build` or "
                        f"`duckmesh build --domain {ws.domain}` first")
    newest = max(candidates, key=lambda p: p.stat().st_mtime_ns)
    built = newest.stat().st_mtime_ns
    models = ws.folder / "models"  # the products' SQL and yml (and what feeds them)
    changed = sorted(path for path in (models.rglob("*") if models.is_dir() else [])
                     if path.is_file() and path.stat().st_mtime_ns > built)
    if changed:
        raise MeshError(
            f"{relative(changed[0], mesh.root)}"
            + (f" and {len(changed) - 1} more file(s)" if len(changed) > 1 else "")
            + f" changed since the build the release reads ({relative(newest, mesh.root)}): "
            f"build first (duckmesh build --domain {ws.domain}), then release")
    return json.loads(newest.read_text()), newest


def project_version(ws: DomainWorkspace) -> str:
    found = VERSION_LINE.search((ws.folder / "dbt_project.yml").read_text())
    return found.group(1) if found else "0.0.0"


def set_version(ws: DomainWorkspace, version: str) -> None:
    path = ws.folder / "dbt_project.yml"
    text = path.read_text()
    if VERSION_LINE.search(text):
        text = VERSION_LINE.sub(f'version: "{version}"', text, count=1)
    else:
        text = text.replace("\nconfig-version:", f'\nversion: "{version}"\nconfig-version:', 1)
    path.write_text(text)


def baseline(mesh: Mesh, git: Git | None, ws: DomainWorkspace
             ) -> tuple[dict | None, str, str, str | None]:
    """(the last release's products, its version, how it was found, its tag)."""
    tag = last_tag(git, ws.domain) if git else None
    if tag is not None and git is not None:
        where = git.path(ws.folder, RELEASE_FILE)
        try:
            return json.loads(git.run("show", f"{tag[0]}:{where}")), tag[1], tag[0], tag[0]
        except (MeshError, ValueError):
            pass  # a tag made by hand: compared with the last publish
    published = published_manifest_path(mesh)
    data = json.loads(published.read_text()) if published.is_file() else None
    if tag is None and data is not None and not released_products(data, ws.project)["nodes"]:
        data = None  # never published: the first release is the version the project states
    version = tag[1] if tag else project_version(ws)
    return data, version, (tag[0] if tag else f"the last publish ({project_version(ws)})"), \
        tag[0] if tag else None


def release(mesh: Mesh, name: str, repository: str | None = None) -> int:
    voice = console()
    ws = resolve(mesh, name)
    git = find_git(mesh)
    before, last_version, since, tag = baseline(mesh, git, ws)
    after, manifest_path = current_manifest(mesh, ws)
    change_class: str | None = None
    found: list[str] = []
    if before is not None:
        change_class, found = classify(before, after, ws.project)
    if change_class is None and tag is not None:
        voice.out(f"{ws.domain}: no product change since {since}: nothing to release")
        return 0
    version = last_version if change_class is None else bump(last_version, change_class)
    new_tag = f"{ws.domain}-v{version}"
    what = (f"{change_class}: {'; '.join(found)}" if change_class
            else "first release of the published products")
    voice.out(f"{ws.domain} {version} ({what}; since {since}, read from "
              f"{relative(manifest_path, mesh.root)})")
    project_file = relative(ws.folder / "dbt_project.yml", mesh.root)
    if git is None:
        raise MeshError(
            f"git is not installed or {mesh.root} is not a git repository: nothing changed. "
            f"Run the release in a git checkout of the mesh (duckmesh release --domain "
            f"{ws.domain}), or by hand: set `version: \"{version}\"` in {project_file}, "
            f"commit it and `git tag -a {new_tag} -m \"{ws.domain} {version}\"` (a tag made "
            "by hand keeps local package paths, which an outside git install cannot resolve)")
    dirty = git.run("status", "--porcelain", "--untracked-files=no", strip=False)
    if dirty.strip():
        files = [line[3:] for line in dirty.splitlines() if line.strip()]
        raise MeshError(
            f"the working tree has uncommitted changes ({', '.join(files[:5])}"
            f"{', ...' if len(files) > 5 else ''}): nothing changed. Commit them (git commit "
            f"-am \"...\") or stash them (git stash), then run `duckmesh release --domain "
            f"{ws.domain}` again: it sets version {version} in {project_file} and tags {new_tag}")
    if git.run("tag", "--list", new_tag):
        raise MeshError(f"tag {new_tag} already exists: the release of this version was made")
    url = repository_url(git, repository)
    packages, pins = pinned_packages(mesh, ws, git, url)

    if project_version(ws) != version:
        set_version(ws, version)
        git.run("add", "--", git.path(ws.folder, "dbt_project.yml"))
        git.run("commit", "-q", "-m", f"release {ws.domain} {version}",
                "--", git.path(ws.folder, "dbt_project.yml"))
        voice.out(f"  {project_file}: version {version} (committed on the branch)")
    commit = release_commit(git, ws, packages, released_products(after, ws.project),
                            f"{ws.domain} {version}: {what}")
    git.run("tag", "-a", new_tag, commit, "-m", f"{ws.domain} {version}\n\n{what}")
    voice.out(f"  tag {new_tag} -> release commit {commit[:12]} (packages.yml pinned; the branch "
              "keeps local paths)")
    for line in pins:
        voice.out(f"    {line}")
    voice.out(f"  publish the tag: git push origin {new_tag}")
    return 0


def release_commit(git: Git, ws: DomainWorkspace, packages: str, products: dict,
                   message: str) -> str:
    """A commit on top of HEAD with the pinned packages.yml and release.json of the domain
    (through a temporary index: neither the working tree nor the branch changes)."""
    with tempfile.TemporaryDirectory(prefix="duckmesh-release-") as scratch:
        env = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
        git.run("read-tree", "HEAD", env=env)
        for path, text in ((git.path(ws.folder, "packages.yml"), packages),
                           (git.path(ws.folder, RELEASE_FILE),
                            json.dumps(products, indent=1) + "\n")):
            blob = git.run("hash-object", "-w", "--stdin", stdin=text)
            git.run("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
        tree = git.run("write-tree", env=env)
    return git.run("commit-tree", tree, "-p", "HEAD", "-m", message)
