"""Lineage-aware access: restrictions follow the data into the products derived from it.

A column of product P whose value comes (by the catalog's column lineage, through any
private models) from a column of product X that a consumer may not read (X's
``meta.consumers``, or the column's ``meta.restricted_to``) is masked for that consumer
in P too, unless P's owner released it: ``meta.declassified_from: [<domain>.<product>]``
on the column or on P. Restrictions chain: a column derived from such a column inherits
them in turn. Governance policy P12 reports the derivations it can see in the graph
(macros/governance/p12_lineage_access.sql); this module is what publishing enforces.

When the lineage of a product (or of a private model it reads) could not be analysed,
every column of the product is taken to derive from every restricted product upstream
of it, so a gap in the analysis never unmasks a column.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from duckmesh.catalog.lineage import ROWS, MeshLineage
from duckmesh.publish.access import Policy, may_read, sees_column


@dataclass(frozen=True)
class Origin:
    """A restricted upstream product column a product column is derived from."""

    product: str  # unique_id
    column: str  # lowercase


def label(node: dict) -> str:
    """'<domain>.<product>', as written in meta.declassified_from."""
    return f"{node.get('group') or node['package_name']}.{node['name']}".lower()


def _meta(item: dict) -> dict:
    return item.get("meta") or (item.get("config") or {}).get("meta") or {}


def _listed(value: object) -> set[str]:
    if value is None:
        return set()
    if isinstance(value, str):
        return {value.lower()}
    if isinstance(value, Iterable):
        return {str(v).lower() for v in value}
    return {str(value).lower()}


def declassified(node: dict, column: str) -> set[str]:
    """Products whose restrictions the owner of ``node`` released for ``column``."""
    released = _listed(_meta(node).get("declassified_from"))
    for name, declared in (node.get("columns") or {}).items():
        if name.lower() == column:
            released |= _listed(_meta(declared).get("declassified_from"))
    return released


def _restricted(policy: Policy, column: str) -> bool:
    """``column`` of the product is not for everyone ("*": any of its columns; ROWS: its
    rows, counted by an aggregate that reads no column, restricted by meta.consumers)."""
    if policy.consumers is not None:
        return True
    if column == ROWS:
        return False
    return any(column in ("*", c.name.lower()) and c.restricted_to is not None
               for c in policy.columns)


def _upstream(manifest: dict, unique_id: str, policies: dict[str, Policy]
              ) -> tuple[set[str], set[str]]:
    """(public products read by ``unique_id`` through private models, those models)."""
    nodes = manifest["nodes"]
    products, private, stack = set(), {unique_id}, [unique_id]
    while stack:
        for parent in (nodes.get(stack.pop(), {}).get("depends_on") or {}).get("nodes") or []:
            if parent in policies:
                products.add(parent)
            elif parent in nodes and parent not in private \
                    and nodes[parent]["resource_type"] == "model":
                private.add(parent)
                stack.append(parent)
    return products, private


def origins(manifest: dict, lineage: MeshLineage, policies: dict[str, Policy]
            ) -> dict[str, dict[str, set[Origin]]]:
    """unique_id -> column (lowercase) -> the restricted upstream columns it derives
    from, for every public product that has any."""
    nodes = manifest["nodes"]
    found: dict[str, dict[str, set[Origin]]] = {}
    for unique_id in policies:
        node = nodes.get(unique_id)
        if node is None:
            continue
        products, private = _upstream(manifest, unique_id, policies)
        analysed = all(lineage.direct.get(m) is not None and not lineage.direct[m].error
                       for m in private)
        columns: dict[str, set[Origin]] = {}
        for name in node.get("columns") or {}:
            column = name.lower()
            if analysed:
                derived = _walk(nodes, lineage, policies, unique_id, column)
            else:  # no lineage: every restricted product upstream, whole ("*"), and
                # whatever their own columns derive from
                released = declassified(node, column)
                derived = {Origin(p, "*") for p in products
                           if label(nodes[p]) not in released and _restricted(policies[p], "*")}
                for product in products:
                    for upstream_column in nodes[product].get("columns") or {}:
                        derived |= _walk(nodes, lineage, policies, product,
                                         upstream_column.lower())
            if derived:
                columns[column] = derived
        if columns:
            found[unique_id] = columns
    return found


def _walk(nodes: dict, lineage: MeshLineage, policies: dict[str, Policy], unique_id: str,
          column: str) -> set[Origin]:
    found: set[Origin] = set()
    stack, seen = [(unique_id, column)], {(unique_id, column)}
    while stack:
        node_id, name = stack.pop()
        released = declassified(nodes[node_id], name) if node_id in nodes else set()
        for upstream, upstream_column in lineage.column_inputs(node_id, name, counts=True):
            if upstream not in policies:
                continue  # a source or seed: P06 guards those
            key = (upstream, upstream_column.lower())
            if label(nodes[upstream]) not in released and _restricted(policies[upstream], key[1]):
                found.add(Origin(*key))
            if key not in seen:
                seen.add(key)
                stack.append(key)
    return found


def hidden(policies: dict[str, Policy], derived: dict[str, set[Origin]], consumer: str | None,
           groups: dict[str, tuple[str, ...]]) -> frozenset[str]:
    """Columns (lowercase) ``consumer`` may not see because of where they come from;
    ``consumer`` None: the public Parquet port, which hides every derived column."""
    out = set()
    for column, found in derived.items():
        for origin in found:
            policy = policies[origin.product]
            rules = [c for c in policy.columns if origin.column in ("*", c.name.lower())]
            if consumer is None or not may_read(policy, consumer, groups) or not all(
                    sees_column(policy, rule, consumer, groups) for rule in rules):
                out.add(column)
                break
    return frozenset(out)
