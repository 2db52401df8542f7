"""What each published copy of a product may hold: the select list for a consumer's file
and for the public Parquet port.

A Parquet port is one file for everyone allowed to open it, so it holds only what every
consumer may see: a column restricted to some readers (``meta.restricted_to``) or derived
from a product some consumer may not read (publish.derived) is masked there; the
consumers that may see it read it in their own file (published/consumers/<name>/).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from duckmesh.catalog.lineage import MeshLineage, mesh_lineage
from duckmesh.catalog.store import db_columns, lineage_cache
from duckmesh.core import builddb
from duckmesh.core.project import Mesh
from duckmesh.publish import access, derived


@dataclass
class Guard:
    """The access rules of one publish: policies, consumer groups, lineage."""

    manifest: dict
    policies: dict[str, access.Policy]
    groups: dict[str, tuple[str, ...]]
    origins: dict[str, dict[str, set[derived.Origin]]] = field(default_factory=dict)
    lineage: MeshLineage | None = None
    # source relation -> columns, shared with the build's other steps (catalog.store)
    source_columns: dict[str, list[str]] | None = None
    # the pseudonym of `mask: hash` columns over the installation's PII salt file
    # (access.hash_template); None: they are masked to null
    hashed: str | None = None

    def read_lineage(self, con: duckdb.DuckDBPyConnection, mesh: Mesh,
                     previous_manifest: Path | None = None) -> None:
        """Column lineage as the catalog computed it (same inputs, so its cache answers).
        A model this build did not compile (skipped after a failure: its product is
        carried) is read with the SQL of the publish that wrote its table."""
        manifest = with_previous_sql(self.manifest, previous_manifest)
        self.lineage = mesh_lineage(manifest,
                                    db_columns(con, self.manifest, self.source_columns),
                                    lineage_cache(mesh))
        self.origins = derived.origins(self.manifest, self.lineage, self.policies)

    def select(self, unique_id: str, consumer: str | None, columns: list[tuple[str, str]]
               ) -> str:
        """The select list of ``consumer`` (None: the public port) over the product."""
        policy = self.policies[unique_id]
        hidden = derived.hidden(self.policies, self.origins.get(unique_id, {}), consumer,
                                self.groups)
        return access.select_list(policy, consumer, self.groups, columns, hidden,
                                  self.hashed)


def with_previous_sql(manifest: dict, previous: Path | None) -> dict:
    """``manifest`` with the compiled SQL of the previous publish for the models that
    have none (not compiled by this build). A snapshot keeps its manifest so filled: the
    SQL of a carried product's table passes from snapshot to snapshot, and a second
    failing build in a row still knows its lineage (without it, every column a consumer
    sees of it through lineage was masked)."""
    nodes = manifest["nodes"]
    missing = [u for u, n in nodes.items()
               if n["resource_type"] == "model" and not n.get("compiled_code")]
    if not missing or previous is None or not previous.is_file():
        return manifest
    try:
        earlier = json.loads(previous.read_text())["nodes"]
    except (OSError, ValueError, KeyError):
        return manifest  # no lineage for them: derived.origins masks them whole
    renames = builddb.relation_renames(earlier, nodes)  # its products: builddb.served
    filled = {u: {**nodes[u], "compiled_code": builddb.renamed(earlier[u]["compiled_code"],
                                                               renames)}
              for u in missing if (earlier.get(u) or {}).get("compiled_code")}
    return {**manifest, "nodes": {**nodes, **filled}} if filled else manifest
