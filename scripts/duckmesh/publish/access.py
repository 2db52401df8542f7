"""Consumer access: who may read which product, and which columns they see masked.

DuckDB has no GRANTs, so access is enforced by what each consumer is given: a database
file holding only the products it may read. Declared in the product's yml:

    config:
      meta:
        consumers: [analytics, marketing, reporting]   # domains, consumers or groups
    columns:
      - name: email_hash
        config:
          meta: {restricted_to: [marketing], mask: "null"}   # others see the mask

No ``consumers`` means every consumer. The owning domain always reads its own products.
Named consumers outside the domains, and the groups they belong to, are config in the
root dbt_project.yml (``vars.duckmesh_consumers``: name -> list of groups).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from duckmesh.core import yamlio
from duckmesh.core.names import InvalidInput, check_name
from duckmesh.core.project import Mesh, MeshError
from duckmesh.core.sql import quote_ident
from duckmesh.governance import offline

MASKS = ("null", "hash", "redact")


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str
    restricted_to: tuple[str, ...] | None  # None: every reader of the product
    mask: str = "null"


@dataclass(frozen=True)
class Policy:
    unique_id: str
    owner: str  # the owning domain (group)
    consumers: tuple[str, ...] | None  # None: everyone
    columns: tuple[Column, ...]


def check_consumer(value: object, kind: str = "consumer") -> str:
    """A consumer (or domain) name given by a user or a project: the mesh's name rule."""
    try:
        return check_name(kind, value)
    except InvalidInput as error:
        raise MeshError(f"invalid {kind} name {value!r}: {error}") from error


def _names(value: object, where: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise MeshError(f"{where} must be a list of consumer names, got {value!r}")
    return tuple(check_consumer(str(v)) for v in value)


def policies(manifest: dict) -> dict[str, Policy]:
    """The access policy of every public model version, by unique_id."""
    found = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] != "model" or node.get("access") != "public":
            continue
        meta = node.get("meta") or node.get("config", {}).get("meta") or {}
        where = f"meta.consumers of {node['unique_id']}"
        columns = []
        for name, column in (node.get("columns") or {}).items():
            column_meta = column.get("meta") or column.get("config", {}).get("meta") or {}
            mask = str(column_meta.get("mask", "null"))
            if mask not in MASKS:
                raise MeshError(f"column {name} of {node['unique_id']}: mask must be one of "
                                f"{MASKS}, got {mask!r}")
            columns.append(Column(name, column.get("data_type") or "varchar",
                                  _names(column_meta.get("restricted_to"),
                                         f"meta.restricted_to of {node['unique_id']}.{name}"),
                                  mask))
        found[node["unique_id"]] = Policy(
            node["unique_id"], node.get("group") or node["package_name"],
            _names(meta.get("consumers"), where), tuple(columns))
    return found


def consumer_groups(root: Path) -> dict[str, tuple[str, ...]]:
    """Named consumers (root dbt_project.yml vars.duckmesh_consumers) and their groups."""
    project = yamlio.loads((root / "dbt_project.yml").read_text()) or {}
    declared = (project.get("vars") or {}).get("duckmesh_consumers") or {}
    if not isinstance(declared, dict):
        raise MeshError("vars.duckmesh_consumers in dbt_project.yml must map consumer "
                        "names to lists of groups")
    return {check_consumer(str(name)): _names(groups or [], f"groups of {name}") or ()
            for name, groups in declared.items()}


def identities(consumer: str, groups: dict[str, tuple[str, ...]]) -> set[str]:
    return {consumer, *groups.get(consumer, ())}


def may_read(policy: Policy, consumer: str, groups: dict[str, tuple[str, ...]]) -> bool:
    if policy.consumers is None or consumer == policy.owner:
        return True
    return bool(identities(consumer, groups) & set(policy.consumers))


def sees_column(policy: Policy, column: Column, consumer: str | None,
                groups: dict[str, tuple[str, ...]]) -> bool:
    """``consumer`` None: the public Parquet port, which no restricted column reaches."""
    if column.restricted_to is None or consumer == policy.owner:
        return True
    if consumer is None:
        return False
    return bool(identities(consumer, groups) & set(column.restricted_to))


def known_consumers(manifest: dict, groups: dict[str, tuple[str, ...]]) -> set[str]:
    domains = {n.get("group") or n["package_name"] for n in manifest["nodes"].values()
               if n["resource_type"] == "model"}
    return domains | set(groups)


def yml_path(manifest: dict, node: dict) -> str:
    """Where the product's properties live, from the mesh root (domains/<package>/...)."""
    package, _, path = (node.get("patch_path") or "").partition("://")
    if not path:
        package, path = node["package_name"], node["original_file_path"]
    root = manifest.get("metadata", {}).get("project_name")
    return path if package == root else f"domains/{package}/{path}"


# where hash_template puts the column in the macro's rendering
_COLUMN = "__duckmesh_hashed_column__"


def hash_template(mesh: Mesh, manifest: dict, salt_file: str | None) -> str | None:
    """``mask: hash``: the column's pseudonym, rendered by the macro that models call,
    ``duckmesh_platform.pseudonymise()`` (macros/privacy/pseudonymise.sql), for DuckDB
    (publish writes with DuckDB) with the installation's salt file: the same salted
    SHA-256 (salt, then the trimmed, lower-case text), so a consumer can join it with
    pseudonymised columns but not look a value up in a dictionary. The engine reads the
    salt from its file when the port or file is written: the select list, which
    publish.json records, names only the path. A template over ``_COLUMN``
    (select_list puts each column in); None without a salt file (those are null)."""
    if salt_file is None:
        return None
    try:
        return offline.render(mesh, manifest, "pseudonymise", _COLUMN, adapter_type="duckdb",
                              env={"DUCKMESH_PII_SALT_FILE": salt_file})
    except offline.Unsupported as error:
        raise MeshError(f"cannot render duckmesh_platform.pseudonymise() for `mask: hash` "
                        f"({error}): build the mesh again (`duckmesh build`), then "
                        "publish") from error


def select_list(policy: Policy, consumer: str | None, groups: dict[str, tuple[str, ...]],
                columns: list[tuple[str, str]], hidden: frozenset[str] = frozenset(),
                hashed: str | None = None) -> str:
    """SQL select list for ``consumer`` (None: the public Parquet port): restricted
    columns it may not see are masked, and so are ``hidden`` ones (lowercase names:
    derived from data it may not read, publish.derived) as null. ``hashed``: the
    pseudonym of ``mask: hash`` columns (hash_template; without it those are null).

    ``columns`` are (name, duckdb type) as found in the published table; names are
    quoted identifiers, so nothing from user input is spliced in as SQL.
    """
    declared = {c.name.lower(): c for c in policy.columns}
    parts = []
    for name, data_type in columns:
        quoted = quote_ident(name)
        column = declared.get(name.lower())
        if name.lower() in hidden and (column is None
                                       or sees_column(policy, column, consumer, groups)):
            parts.append(f"cast(null as {data_type}) as {quoted}")
        elif column is None or sees_column(policy, column, consumer, groups):
            parts.append(quoted)
        elif column.mask == "hash" and data_type.upper() == "VARCHAR" and hashed:
            parts.append(f"{hashed.replace(_COLUMN, quoted)} as {quoted}")
        elif column.mask == "redact" and data_type.upper() == "VARCHAR":
            parts.append(f"case when {quoted} is null then null else '***' end as {quoted}")
        else:
            parts.append(f"cast(null as {data_type}) as {quoted}")
    return ", ".join(parts)
