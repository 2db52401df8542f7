"""`duckmesh new-version`: start v<N+1> of a product and give v<N> a deprecation date
the policy accepts (P08)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from duckmesh.core import yamledit
from duckmesh.core.names import InvalidInput, check_name
from duckmesh.core.project import Mesh, MeshError, relative
from duckmesh.selfserve import DEPRECATION_NOTICE_DAYS
from duckmesh.selfserve.product import defined_products
from duckmesh.selfserve.rules import (
    domain_dir,
    refuse_existing,
)


@dataclass(frozen=True)
class NewVersion:
    domain: str
    product: str
    old_version: int
    new_version: int
    sql_path: Path
    yml_path: Path
    deprecation_date: datetime.date


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
    destination.write_text(source.read_text())
    entry["latest_version"] = new
    versions.insert(0, {"v": new})
    old_entry["deprecation_date"] = deprecation_date
    yamledit.dump(data, yml_path)
    return NewVersion(domain, product, old, new, destination, yml_path, deprecation_date)
