"""SemVer class of every data product change between two dbt manifests.

A product is (package, name); its versions are public model nodes. Against the
last published manifest:
- major: a version or the product removed; a column removed or retyped, the
  contract dropped or access lowered on an existing version (a breaking change
  made in place, which policy P09 refuses: `unversioned_breaking`); or a new
  version added (the versioned way to ship a breaking change).
- minor: a new product, a column added, a deprecation date set.
- patch: descriptions, meta or constraints changed, nothing a consumer's SQL sees.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from duckmesh.core.project import MeshError
from duckmesh.core.types import canonical_type

RANK = {"patch": 1, "minor": 2, "major": 3}


@dataclass(frozen=True)
class ProductChange:
    domain: str
    product: str
    change_class: str  # major | minor | patch
    details: list[str] = field(default_factory=list)
    unversioned_breaking: bool = False

    def line(self) -> str:
        flag = " (breaking change without a new version: P09)" if self.unversioned_breaking else ""
        return f"{self.domain}.{self.product}: {self.change_class}{flag} - {'; '.join(self.details)}"


def normalise_type(data_type: str | None) -> str:
    """The canonical DuckDB spelling, folded by the mesh's one type table (as the
    governance_normalise_type macro P05 and P09 use)."""
    return canonical_type(data_type)


def model_versions(manifest: dict) -> dict[tuple[str, str], dict[str, dict]]:
    """(package, model) -> {version label: node} for every model."""
    models: dict[tuple[str, str], dict[str, dict]] = {}
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") == "model":
            version = node.get("version")
            label = f"v{version}" if version is not None else "unversioned"
            models.setdefault((node["package_name"], node["name"]), {})[label] = node
    return models


MANIFEST_FIX = ("Fix: give a manifest.json that dbt wrote (target/manifest.json after a build, "
                "published/manifest.json after a publish)")


def read_manifest(path: Path, option: str) -> dict:
    """The dbt manifest at ``path`` (given as ``option``), or a MeshError in one line
    naming the file, what is wrong with it and the fix: missing, a folder, unreadable,
    not JSON, or JSON that is not a manifest."""
    if not path.exists():
        raise MeshError(f"{option} {path} not found: publish the mesh first (duckmesh "
                        "publish) or pass --before/--after")
    if not path.is_file():
        raise MeshError(f"{option} {path} is not a file. {MANIFEST_FIX}")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise MeshError(f"cannot read {option} {path} ({error.strerror}). {MANIFEST_FIX}"
                        ) from error
    except UnicodeDecodeError as error:
        raise MeshError(f"{option} {path} is not a dbt manifest (not UTF-8 text). "
                        f"{MANIFEST_FIX}") from error
    if not text.strip():
        raise MeshError(f"{option} {path} is not a dbt manifest (the file is empty). "
                        f"{MANIFEST_FIX}")
    try:
        manifest = json.loads(text)
    except ValueError as error:
        raise MeshError(f"{option} {path} is not a dbt manifest (not JSON: {error}). "
                        f"{MANIFEST_FIX}") from error
    if not isinstance(manifest, dict) or not isinstance(manifest.get("nodes"), dict) \
            or not all(isinstance(n, dict) for n in manifest["nodes"].values()):
        raise MeshError(f"{option} {path} is not a dbt manifest (JSON without the "
                        f"\"nodes\" of one). {MANIFEST_FIX}")
    return manifest


def compare_manifests(before: dict, after: dict) -> list[ProductChange]:
    """Every product (a model with a public version in either manifest) that changed
    from ``before`` to ``after``, sorted by package and name."""
    old_products, new_products = model_versions(before), model_versions(after)
    products = {key for models in (old_products, new_products) for key, versions in models.items()
                if any(node.get("access") == "public" for node in versions.values())}
    changes = []
    for key in sorted(products):
        old, new = old_products.get(key, {}), new_products.get(key, {})
        any_node = next(iter((new or old).values()))
        domain = any_node.get("group") or key[0]
        found: list[tuple[str, str]] = []  # (class, detail)
        breaking_in_place = False
        if not old:
            found.append(("minor", f"new product ({', '.join(sorted(new))})"))
        elif not new:
            found.append(("major", "product removed"))
        else:
            for label in sorted(old.keys() - new.keys()):
                found.append(("major", f"{label} removed"))
            for label in sorted(new.keys() - old.keys()):
                found.append(("major", f"{label} added"))
            for label in sorted(old.keys() & new.keys()):
                version_changes = compare_version(old[label], new[label])
                found += [(cls, f"{label}: {detail}") for cls, detail in version_changes]
                breaking_in_place |= any(cls == "major" for cls, _ in version_changes)
        if found:
            change_class = max((cls for cls, _ in found), key=RANK.__getitem__)
            changes.append(ProductChange(domain, key[1], change_class,
                                         [detail for _, detail in found], breaking_in_place))
    return changes


def compare_version(old: dict, new: dict) -> list[tuple[str, str]]:
    """(class, detail) for each difference between two nodes of the same version."""
    found = []
    old_columns, new_columns = old.get("columns") or {}, new.get("columns") or {}
    for name in sorted(old_columns.keys() - new_columns.keys()):
        found.append(("major", f"column {name} removed"))
    for name in sorted(old_columns.keys() & new_columns.keys()):
        old_type = old_columns[name].get("data_type")
        new_type = new_columns[name].get("data_type")
        if normalise_type(old_type) != normalise_type(new_type):
            found.append(("major", f"column {name} retyped {old_type} -> {new_type}"))
        elif old_columns[name].get("description") != new_columns[name].get("description"):
            found.append(("patch", f"column {name} description changed"))
    if (old.get("contract") or {}).get("enforced") and not (new.get("contract") or {}).get("enforced"):
        found.append(("major", "contract no longer enforced"))
    if new.get("access") != "public":
        found.append(("major", f"access lowered to {new.get('access')}"))
    for name in sorted(new_columns.keys() - old_columns.keys()):
        found.append(("minor", f"column {name} added"))
    if new.get("deprecation_date") and new.get("deprecation_date") != old.get("deprecation_date"):
        found.append(("minor", f"deprecated from {str(new['deprecation_date'])[:10]}"))
    if old.get("description") != new.get("description"):
        found.append(("patch", "description changed"))
    if (old.get("config") or {}).get("meta") != (new.get("config") or {}).get("meta"):
        found.append(("patch", "meta changed"))
    if old.get("constraints") != new.get("constraints"):
        found.append(("patch", "constraints changed"))
    return found
