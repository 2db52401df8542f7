"""P06 and P12 over the compiled SQL: columns followed through the parsed query.

The macro policies (p06_pii.sql, p12_lineage_access.sql) run in dbt's on-run-start
hook, before dbt compiles anything, so they follow columns by name in the raw SQL
text. Here the same two rules follow the column lineage of the compiled SQL (sqlglot,
catalog/lineage.py): an alias on the next line, a comment, a string literal holding
``--`` or a macro that renders the column cannot hide where a value comes from.

- P06: a column of a public product whose value comes, through any models and any
  alias, from a column classified PII (``meta: {pii: true}`` on a source, seed or model
  column, or ``meta: {pii: [...]}`` on a source table), other than through a masking
  form (the salted ``sha256()`` of ``pseudonymise()``; ``mask_pii()``'s ``left(x, 1)``,
  ``right(x, 2)``, ``split_part(x, '@', 2)``).
- P12: a column of a public product derived from a restricted product (its
  ``meta.consumers``) or column (``meta.restricted_to``) that goes to wider readers,
  unless released (``meta.declassified_from``). An aggregate that reads no column
  (``count(*)``) derives from the rows it counts (lineage.ROWS), so a count over a
  restricted product is restricted like the product.
"""

from __future__ import annotations

from pathlib import Path

from duckmesh.catalog.lineage import ROWS, MeshLineage, mesh_lineage
from duckmesh.core.project import MeshError
from duckmesh.governance.report import Violation
from duckmesh.publish import access, derived


def _meta(item: dict) -> dict:
    return item.get("meta") or (item.get("config") or {}).get("meta") or {}


def _label(node: dict) -> str:
    version = node.get("version")
    return node["name"] + (f" v{version}" if version is not None else "")


def _domain(node: dict) -> str:
    return str(node.get("group") or node["package_name"])


def pii_columns(manifest: dict) -> dict[tuple[str, str], str]:
    """(unique_id, lowercase column) -> where the PII is declared, for every classified
    column of a source, seed or model."""
    found: dict[tuple[str, str], str] = {}
    for uid, source in (manifest.get("sources") or {}).items():
        where = f"source {source['source_name']}.{source['name']}"
        listed = _meta(source).get("pii")
        if isinstance(listed, list):
            for name in listed:
                found[(uid, str(name).lower())] = f"{where}.{name}"
        for name, column in (source.get("columns") or {}).items():
            if _meta(column).get("pii"):
                found[(uid, name.lower())] = f"{where}.{name}"
    for uid, node in manifest["nodes"].items():
        if node["resource_type"] not in ("model", "seed", "snapshot"):
            continue
        for name, column in (node.get("columns") or {}).items():
            if _meta(column).get("pii"):
                where = (f"seed {node['name']}.{name}" if node["resource_type"] == "seed"
                         else f"classified PII on {_label(node)}")
                found[(uid, name.lower())] = where
    return found


def _origins(lineage: MeshLineage, classified: dict[tuple[str, str], str], uid: str,
             column: str) -> set[str]:
    """Where the PII in ``uid.column`` comes from (nothing: none reaches it unmasked).
    A model whose output columns are unknown (a ``select *`` over a relation of unknown
    columns) passes every name on from each relation it reads."""
    found: set[str] = set()
    stack, seen = [(uid, column)], {(uid, column)}
    while stack:
        node_id, name = stack.pop()
        model = lineage.direct.get(node_id)
        if model is None:
            continue
        inputs = model.columns.get(name)
        if inputs is None and not [c for c in model.columns if c != ROWS]:
            parents = (lineage.nodes.get(node_id) or {}).get("depends_on", {}).get("nodes", [])
            inputs = {(parent, name) for parent in parents}
        for upstream in inputs or set():
            key = (upstream[0], upstream[1].lower())
            if key in classified and key[0] != uid:
                found.add(classified[key])
            elif key not in seen and key[0] != node_id:
                seen.add(key)
                stack.append(key)
    return found


def p06(manifest: dict, lineage: MeshLineage, packages: set[str] | None) -> list[Violation]:
    classified = pii_columns(manifest)
    if not classified:
        return []
    found = []
    for uid, node in sorted(manifest["nodes"].items()):
        if node["resource_type"] != "model" or node.get("access") != "public" or (
                packages is not None and node["package_name"] not in packages):
            continue
        model = lineage.direct.get(uid)
        if model is None or model.error:
            continue  # not analysable: the macro's text check (p06_pii.sql) stands
        for column in sorted(c for c in model.columns if c != ROWS):
            origins = _origins(lineage, classified, uid, column)
            if (uid, column) in classified:
                origins.discard(classified[(uid, column)])
            if not origins:
                continue
            found.append(Violation(
                "P06", "error", _domain(node), uid, column,
                f"column {column} of public model {_label(node)} carries PII "
                f"({', '.join(sorted(origins))}) unmasked",
                f"select it through `{{{{ duckmesh_platform.pseudonymise('<column>') }}}}` or "
                f"`{{{{ duckmesh_platform.mask_pii('<column>') }}}}` in "
                f"{node.get('original_file_path')}, or drop it from the product"))
    return found


def _listed(value: object) -> list[str] | None:
    if value is None:
        return None
    return [str(value)] if isinstance(value, str) else [str(v) for v in value]  # type: ignore[attr-defined]


def p12(manifest: dict, lineage: MeshLineage, packages: set[str] | None) -> list[Violation]:
    try:
        policies = access.policies(manifest)
    except MeshError:
        return []  # a malformed meta: publishing reports it
    nodes = manifest["nodes"]
    found = []
    for uid, columns in sorted(derived.origins(manifest, lineage, policies).items()):
        node = nodes[uid]
        if packages is not None and node["package_name"] not in packages:
            continue
        product_readers = _listed(_meta(node).get("consumers"))
        declared = {name.lower(): column for name, column in (node.get("columns") or {}).items()}
        for column, origins in sorted(columns.items()):
            column_meta = _meta(declared.get(column) or {})
            own = _listed(column_meta.get("restricted_to"))
            readers = own if own is not None else product_readers
            for origin in sorted(origins, key=lambda o: (o.product, o.column)):
                upstream = policies[origin.product]
                rule = next((c for c in upstream.columns if c.name.lower() == origin.column),
                            None)
                allowed = {upstream.owner}
                if upstream.consumers is not None:
                    allowed |= {c for c in upstream.consumers
                                if rule is None or rule.restricted_to is None
                                or c in rule.restricted_to}
                elif rule is not None and rule.restricted_to is not None:
                    allowed |= set(rule.restricted_to)
                wider = ["every consumer"] if readers is None else sorted(
                    r for r in readers if r not in allowed)
                if not wider:
                    continue
                name = derived.label(nodes[origin.product])
                what = ("counts the rows of" if origin.column == ROWS
                        else f"comes from column {origin.column} of")
                found.append(Violation(
                    "P12", "error", _domain(node), uid, column,
                    f"column {column} of {_label(node)} {what} {name} "
                    f"v{nodes[origin.product].get('version')}, which only "
                    f"{sorted(allowed)} may read, but {_label(node)} gives it to "
                    f"{', '.join(wider)}: publishing masks it for them",
                    f"declare its readers with `meta: {{restricted_to: [...]}}` (at most those) "
                    f"on column {column} in {node.get('patch_path', '').split('://')[-1]}, or, "
                    f"with the {upstream.owner} team, release it with `meta: "
                    f"{{declassified_from: [{name}]}}`"))
                break
    return found


def violations(manifest: dict, packages: set[str] | None = None,
               cache_dir: Path | None = None) -> list[Violation]:
    """P06 and P12 over the manifest's compiled SQL; ``cache_dir``: where the lineage of
    each query is kept between runs (only changed SQL is parsed again)."""
    def cache(name: str) -> Path | None:
        return cache_dir / name if cache_dir is not None else None

    unmasked = mesh_lineage(manifest, unmasked=True, cache_path=cache("lineage_pii.json"))
    found = p06(manifest, unmasked, packages)
    return found + p12(manifest, mesh_lineage(manifest, cache_path=cache("lineage.json")),
                       packages)
