"""The consumer impact check: before a publish, would any consumer's reads break?

Every read (reads.py: the mesh's domains and the root project from the manifest about
to be published, registered outside projects from consumers/) names a product, the
version it pins or latest, and the columns it uses. Against the manifest about to be
published (``after``) and the last published one (``before``):

- the version a consumer reads (its pin, or the new ``latest_version``) must still
  exist and still have every column it reads, with the type it had: a column removed,
  renamed or retyped there, or latest moved to a version without it, is an error that
  stops the publish, naming the consumer, its owner, the product, version, column and
  the fixes (the consumer pins the version it reads; the producer keeps latest_version);
- an outside consumer on a deprecated version is warned (the mesh's own domains get
  governance P08's warning in their build).

`duckmesh build` runs it as the step before publish (a failure publishes nothing);
`duckmesh ci --domain` runs it after the SemVer check.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from duckmesh.consumers import registry
from duckmesh.consumers.reads import Products, Read, Version, mesh_reads, products
from duckmesh.core.context import BuildContext
from duckmesh.core.output import console, format_table
from duckmesh.core.project import Mesh, MeshError
from duckmesh.core.types import canonical_type
from duckmesh.governance.report import published_manifest_path
from duckmesh.publish import access


@dataclass(frozen=True)
class Finding:
    severity: str  # error | warn
    read: Read
    message: str

    def line(self) -> str:
        return f"[{self.severity}] {self.message}"


def _who(read: Read) -> str:
    kind = "outside consumer" if read.kind == "outside" else "consumer"
    return f"{kind} {read.consumer} ({read.owner})"


def _ref(read: Read, version: int) -> str:
    return f"{{{{ ref('{read.package}', '{read.product}', v={version}) }}}}"


def _product(read: Read, index: Products) -> str:
    return f"{index.owner_domain(read.package, read.product)}.{read.product}"


def _columns_lost(read: Read, old: Version | None, new: Version) -> list[tuple[str, str]]:
    """(column, what happened to it) for each column ``read`` uses that ``new`` lacks
    or types otherwise than ``old`` did."""
    lost = []
    for column in read.columns:
        if column not in new.columns:
            lost.append((column, "has no column"))
        elif old is not None and column in old.columns and \
                canonical_type(old.columns[column]) != canonical_type(new.columns[column]):
            lost.append((column, f"retypes ({old.columns[column]} -> "
                                 f"{new.columns[column]}) column"))
    return lost


def _resolve(read: Read, index: Products) -> Version | None:
    """The version ``read`` reads in ``index``: its pin, or the latest."""
    if read.pinned is not None:
        return index.get(read.package, read.product, read.pinned)
    return index.latest(read.package, read.product)


def _stale(read: Read, column: str | None, index: Products) -> Finding:
    """A read that the last publish already does not serve (the consumer, or its record,
    is behind): told, not a reason to stop this publish."""
    name = _product(read, index)
    having = [v for v in (index.versions.get((read.package, read.product)) or {}).values()
              if column is None or column in v.columns]
    move = (f"reads {_ref(read, max(v.version for v in having))}" if having
            else f"stops reading {column or name}")
    what = f"column {column} of {name} {read.spec}" if column else f"{name} {read.spec}"
    return Finding("warn", read, (
        f"{_who(read)} reads {what}, which the published mesh no longer has. Fix: "
        f"{read.consumer} {move}" + (", then registers again (duckmesh consumer register)"
                                     if read.kind == "outside" else "")))


def check_read(read: Read, before: Products | None, after: Products) -> list[Finding]:
    """What the change from ``before`` to ``after`` does to one read (``before`` None:
    no publish yet)."""
    who = _who(read)
    was = _resolve(read, before) if before is not None else None
    if (read.package, read.product) not in after.versions:
        if before is not None and (read.package, read.product) not in before.versions:
            return [_stale(read, None, after)]
        key = f"{read.package}.{read.product}"
        return [Finding("error", read, f"{who} reads {key} ({read.spec}), which this change "
                                       f"removes. Fix: keep the product until {read.consumer} "
                                       "no longer reads it")]
    name = _product(read, after)
    latest = after.latest(read.package, read.product)
    new = _resolve(read, after)
    if read.pinned is None:
        old = was or (before or after).get(read.package, read.product, read.read_version)
    else:
        old = was
    if new is None:
        if before is not None and was is None:
            return [_stale(read, None, after)]
        version = read.pinned if read.pinned is not None else "latest"
        return [Finding("error", read, (
            f"{who} reads {name} v{version} (pinned), which this change removes. Fix: "
            f"{read.consumer} moves to {_ref(read, latest.version) if latest else 'another version'}"
            f", or {after.owner_domain(read.package, read.product)} keeps v{version} until "
            f"{read.consumer} has moved"))]
    findings = []
    moved = read.pinned is None and old is not None and old.version != new.version
    for column, what in _columns_lost(read, old, new):
        if was is not None and column not in was.columns:
            findings.append(_stale(read, column, after))
            continue
        if moved and old is not None:
            message = (
                f"{who} reads column {column} of {name} through latest; this change makes "
                f"v{new.version} latest, which {what} {column}. Fix: {read.consumer} pins the "
                f"version it reads, {_ref(read, old.version)}, or {new.domain} keeps "
                f"latest_version: {old.version} until {read.consumer} moves to v{new.version}")
        else:
            message = (
                f"{who} reads column {column} of {name} v{new.version}, where this change "
                f"{what} {column}. Fix: restore {column} in v{new.version} and ship the change "
                f"as a new version (duckmesh new-version {name})")
        findings.append(Finding("error", read, message))
    if read.kind == "outside" and new.deprecation_date:
        newer = f"{_ref(read, latest.version)}" if latest and latest.version != new.version \
            else "a newer version"
        findings.append(Finding("warn", read, (
            f"{who} reads {name} v{new.version}, deprecated from {new.deprecation_date}"
            + (f" (columns {', '.join(read.columns)})" if read.columns else "")
            + f". Fix: {read.consumer} moves to {newer}")))
    return findings


def check(before: dict | None, after: dict, outside: list[Read],
          cache_path: Path | None = None,
          groups: dict[str, tuple[str, ...]] | None = None) -> list[Finding]:
    """Every finding for the mesh's own reads (from ``after``, falling back to
    ``before`` for nodes without compiled SQL) and the outside ``reads``; ``cache_path``
    keeps the parsed consumer queries between checks. An outside consumer is held to
    P11 as a domain is (``groups``: the mesh's consumer groups, access.consumer_groups):
    the mesh's own refs are P11's in the governance check."""
    after_index = products(after)
    before_index = products(before) if before else None
    findings = []
    for read in [*mesh_reads(after, before, cache_path), *outside]:
        findings += check_read(read, before_index, after_index)
    findings += outside_access(after, after_index, outside, groups or {})
    return findings


def outside_access(manifest: dict, index: Products, outside: list[Read],
                   groups: dict[str, tuple[str, ...]]) -> list[Finding]:
    """P11 for registered outside consumers: a product version whose ``meta.consumers``
    does not name the consumer (or a group it belongs to), with P11's message."""
    rules = access.policies(manifest)
    findings = []
    for read in outside:
        version = _resolve(read, index)
        if version is None:
            continue  # check_read reports the missing version
        uid = f"model.{read.package}.{read.product}.v{version.version}"
        policy = rules.get(uid)
        if policy is None or access.may_read(policy, read.consumer, groups):
            continue
        where = access.yml_path(manifest, manifest["nodes"][uid])
        findings.append(Finding("error", read, (
            f"[P11] {_who(read)} reads {policy.owner}.{read.product} v{version.version}, "
            f"whose meta.consumers is {list(policy.consumers or ())}: ask the "
            f"{policy.owner} team to add {read.consumer} to meta.consumers in {where}, or "
            "remove the ref")))
    return findings


def cache_file(mesh: Mesh) -> Path:
    """The parsed consumer queries, kept between checks (a cache: safe to delete)."""
    return mesh.target_dir / "consumers" / "sql_cache.json"


def _published(mesh: Mesh) -> dict | None:
    path = published_manifest_path(mesh)
    return json.loads(path.read_text()) if path.is_file() else None


def stop_on_errors(findings: list[Finding], seconds: float, log: bool = True) -> None:
    errors = [f for f in findings if f.severity == "error"]
    warnings = [f for f in findings if f.severity == "warn"]
    if log:
        for finding in warnings:
            console().warn(f"      {finding.line()}", err=False)
    if errors:
        lines = "\n".join(f"  - {f.message}" for f in errors)
        raise MeshError(f"consumer impact: {len(errors)} read(s) would break; nothing "
                        f"published:\n{lines}")
    if log:
        console().step(f"      consumer impact: no consumer's read breaks ({seconds:.2f}s)")


def before_publish(mesh: Mesh, after: dict, published: dict | None = None) -> list[Finding]:
    """The check as `duckmesh ci --domain` runs it: ``after`` is the manifest about to be
    published; a MeshError with every broken read when any breaks."""
    started = time.perf_counter()
    before = published if published is not None else _published(mesh)
    findings = check(before, after, registry.load(mesh), cache_file(mesh),
                     access.consumer_groups(mesh.root))
    stop_on_errors(findings, time.perf_counter() - started)
    return findings


def after_build(ctx: BuildContext) -> None:
    """AFTER_BUILD step, before publish: the build's manifest against the last publish."""
    if not ctx.results_written:
        return  # dbt wrote no new manifest: publish publishes nothing either
    try:
        before_publish(ctx.mesh, ctx.artifacts.manifest)
    except MeshError as error:
        if not ctx.success:  # the build's own failure is reported first: say it here
            console().error(f"      {error}", err=False)
        raise


def unserved(manifest: dict, reads: list[Read]) -> list[str]:
    """What ``reads`` ask of ``manifest`` that it does not serve (a product, version or
    column it lacks; a product P11 does not let the consumer read): `consumer register`
    refuses such a project."""
    index = products(manifest)
    found = [f for read in reads for f in check_read(read, index, index)
             if f.severity == "error" or "no longer has" in f.message]
    return [f.message for f in found]


def manifest_for_list(mesh: Mesh) -> dict:
    """The manifest `consumer list` reads: the published one, else the last build's."""
    published = _published(mesh)
    if published is not None:
        return published
    if mesh.manifest_path.is_file():
        return json.loads(Path(mesh.manifest_path).read_text())
    raise MeshError("no published manifest and no build: run `duckmesh build` first")


def consumers_of(mesh: Mesh, key: str) -> tuple[str, list[Read], list[Finding]]:
    """(product name, its reads, what the published state tells their consumers) for
    DOMAIN.PRODUCT (the domain, or the product's dbt package)."""
    manifest = manifest_for_list(mesh)
    index = products(manifest)
    domain, _, name = key.partition(".")
    matches = [(package, product) for package, product in index.versions
               if product == name and domain in (package, index.owner_domain(package, product))]
    if not matches:
        known = ", ".join(sorted(f"{index.owner_domain(p, n)}.{n}" for p, n in index.versions))
        raise MeshError(f"no product {key!r}; use DOMAIN.PRODUCT, one of: {known}")
    package, product = matches[0]
    found = [r for r in [*mesh_reads(manifest, cache_path=cache_file(mesh)),
                         *registry.load(mesh)]
             if (r.package, r.product) == (package, product)]
    notes = [f for r in found for f in check_read(r, index, index)]
    return f"{index.owner_domain(package, product)}.{product}", found, notes


def listing(mesh: Mesh, key: str) -> str:
    """`duckmesh consumer list DOMAIN.PRODUCT`: who reads what."""
    name, found, notes = consumers_of(mesh, key)
    rows = [[r.consumer, r.kind, r.owner, r.spec, ", ".join(r.columns) or "(none named)"]
            for r in found]
    text = f"{name}: {len(found)} consumer(s)"
    if rows:
        text += "\n" + format_table(["consumer", "kind", "owner", "version", "columns"], rows)
    return text + "".join(f"\n{finding.line()}" for finding in notes)
