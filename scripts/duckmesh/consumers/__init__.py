"""Consumers: who reads which product version and which columns, and what a change does
to them. reads.py finds the reads (the mesh's own domains from the manifest and
sqlglot over their compiled SQL; outside projects from the record registry.py keeps
under consumers/), impact.py refuses a publish that would break one of them."""
