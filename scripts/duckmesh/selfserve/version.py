"""`duckmesh new-version`: start v<N+1> of a product and give v<N> a deprecation date
the policy accepts (P08).

When v<N> was published and has since been changed in place (its SQL or its columns
differ from the last published manifest, the change P09 refuses), the change moves
to v<N+1>: the new file gets the edited SQL, v<N> gets its published SQL back and a
column list of its own (``include: all, exclude: [...]`` plus the published
definitions of the columns that changed), so its readers see it as published."""

from __future__ import annotations

import copy
import datetime
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from duckmesh.core import yamledit, yamlio
from duckmesh.core.names import InvalidInput, check_name
from duckmesh.core.project import Mesh, MeshError, relative
from duckmesh.core.types import canonical_type
from duckmesh.governance.report import published_manifest_path
from duckmesh.selfserve import DEPRECATION_NOTICE_DAYS
from duckmesh.selfserve.product import defined_products
from duckmesh.selfserve.rules import (
    domain_dir,
    refuse_existing,
)

INCLUDE_ALL = ("all", "*")


@dataclass(frozen=True)
class NewVersion:
    domain: str
    product: str
    old_version: int
    new_version: int
    sql_path: Path
    yml_path: Path
    deprecation_date: datetime.date
    # what moved from v<N> to v<N+1> (empty: v<N> was as published, or never published)
    moved: list[str] = field(default_factory=list)
    old_sql_path: Path | None = None


def version_columns(entry: dict, version: dict) -> list[dict]:
    """The columns dbt gives one version: the model's columns its ``include`` /
    ``exclude`` element keeps, then the version's own (dbt's get_columns_for_version)."""
    include: Any = "all"
    exclude: list[str] = []
    own = []
    for column in version.get("columns") or []:
        if "include" in column or "exclude" in column:
            include, exclude = column.get("include", "all"), list(column.get("exclude") or [])
        else:
            own.append(column)
    kept = [c for c in entry.get("columns") or []
            if (include in INCLUDE_ALL or c["name"] in include) and c["name"] not in exclude]
    return kept + own


def _shape(columns: list[tuple[str, str | None]]) -> list[tuple[str, str]]:
    return [(name, canonical_type(data_type)) for name, data_type in columns]


def published_node(mesh: Mesh, folder: Path, product: str, version: int) -> dict | None:
    """The product version's node in the last published manifest, or None."""
    path = published_manifest_path(mesh)
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except ValueError as error:
        raise MeshError(f"{relative(path, mesh.root)} cannot be read as a dbt manifest "
                        f"({error}): `duckmesh publish --verify` names the damage") from error
    package = (yamlio.loads((folder / "dbt_project.yml").read_text()) or {}).get("name")
    return next((node for node in (manifest.get("nodes") or {}).values()
                 if node.get("resource_type") == "model" and node.get("name") == product
                 and node.get("package_name") == package
                 and str(node.get("version")) == str(version)), None)


def _published_column(column: dict, template: dict | None) -> dict:
    """A YAML column entry with the published name, description and data_type: the
    current entry of that name (its tests and constraints) when there is one."""
    entry = copy.deepcopy(template) if template is not None else {"name": column["name"]}
    entry["description"] = column.get("description") or ""
    entry["data_type"] = column.get("data_type")
    if template is None:
        constraints = [{"type": c["type"]} for c in column.get("constraints") or []
                       if c.get("type") and not c.get("columns")]
        if constraints:
            entry["constraints"] = constraints
    return entry


def published_column_list(entry: dict, published: dict) -> list[dict]:
    """v<N>'s own ``columns:``, which give it the published columns in their published
    order on top of the model's (edited) columns: the longest published prefix that
    the model still has unchanged and in order is included, the rest excluded and
    written out as published."""
    base = {c["name"]: c for c in entry.get("columns") or []}
    order = [c["name"] for c in entry.get("columns") or []]
    wanted = list((published.get("columns") or {}).values())
    kept: list[str] = []
    for column in wanted:
        current = base.get(column["name"])
        if current is None or canonical_type(current.get("data_type")) != \
                canonical_type(column.get("data_type")) or \
                (kept and order.index(column["name"]) < order.index(kept[-1])):
            break
        kept.append(column["name"])
    excluded = [name for name in order if name not in kept]
    own = [_published_column(c, base.get(c["name"])) for c in wanted[len(kept):]]
    if not excluded and not own:
        return []
    return ([{"include": "all", "exclude": excluded}] if excluded else []) + own


def _changes(current: list[dict], published: dict, sql: str) -> list[str]:
    """What differs between the version as it is now and as it was published."""
    found = []
    now = dict(_shape([(c["name"], c.get("data_type")) for c in current]))
    then = dict(_shape([(c["name"], c.get("data_type"))
                        for c in (published.get("columns") or {}).values()]))
    spelled = {c["name"]: c.get("data_type") for c in current}
    for name, column in (published.get("columns") or {}).items():
        if name not in now:
            found.append(f"column {name} removed")
        elif now[name] != then[name]:
            found.append(f"column {name} retyped {column.get('data_type')} -> "
                         f"{spelled[name]}")
    found += [f"column {name} added" for name in now if name not in then]
    if not found and list(now) != list(then):
        found.append("columns reordered")
    if sql.strip() != str(published.get("raw_code") or "").strip():
        found.append("SQL changed")
    return found


def new_version(mesh: Mesh, target: str, deprecation_date: datetime.date | None = None,
                force: bool = False, today: datetime.date | None = None) -> NewVersion:
    if target.count(".") != 1:
        raise InvalidInput(f"{target!r}: give DOMAIN.PRODUCT, e.g. sales.orders")
    domain, product = target.split(".")
    folder = domain_dir(mesh, domain)
    check_name("product", product, new=True)
    products_dir = folder / "models" / "products"
    declared = defined_products(products_dir) if products_dir.is_dir() else {}
    if product not in declared:
        known = ", ".join(sorted(declared)) or "none"
        raise InvalidInput(f"no product {product!r} in domain {domain!r} (products: {known}); "
                           f"create it with `duckmesh new-product {domain} {product} ...`")
    yml_path = declared[product]
    data = yamledit.load(yml_path)
    entry = next(e for e in data["models"] if e.get("name") == product)
    versions = entry.get("versions") or []
    if not versions:
        raise InvalidInput(f"{domain}.{product} is not versioned: add `versions: [{{v: 1}}]` "
                           f"and `latest_version: 1` in {relative(yml_path, mesh.root)}")
    numbers = [int(v["v"]) for v in versions]
    old = int(entry.get("latest_version") or max(numbers))
    new = max(numbers) + 1
    old_entry = next(v for v in versions if int(v["v"]) == old)
    source = products_dir / str(old_entry.get("defined_in") or f"{product}_v{old}") \
        .removesuffix(".sql")
    source = source.with_name(source.name + ".sql")
    if not source.is_file():
        raise MeshError(f"{relative(source, mesh.root)} not found: the SQL of "
                        f"{domain}.{product} v{old} must exist to copy it")
    destination = products_dir / f"{product}_v{new}.sql"
    refuse_existing([destination], force, mesh.root)
    today = today or datetime.date.today()
    minimum = today + datetime.timedelta(days=DEPRECATION_NOTICE_DAYS)
    if deprecation_date is None:
        deprecation_date = minimum
    elif deprecation_date < minimum:
        raise InvalidInput(
            f"--deprecation-date {deprecation_date} gives consumers less than "
            f"{DEPRECATION_NOTICE_DAYS} days (P08): use {minimum} or later")
    sql = source.read_text()
    published = published_node(mesh, folder, product, old)
    moved = _changes(version_columns(entry, old_entry), published, sql) if published else []
    destination.write_text(sql)
    if moved and published is not None:
        source.write_text(str(published.get("raw_code") or "").rstrip("\n") + "\n")
        own = published_column_list(entry, published)
        if own:
            old_entry["columns"] = own
        else:
            old_entry.pop("columns", None)
    entry["latest_version"] = new
    versions.insert(0, {"v": new})
    old_entry["deprecation_date"] = deprecation_date
    yamledit.dump(data, yml_path)
    return NewVersion(domain, product, old, new, destination, yml_path, deprecation_date,
                      moved, source if moved else None)
