"""The catalog: product descriptors (ODCS / ODPS), column lineage, the mesh_catalog
tables, the static site."""
