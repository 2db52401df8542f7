"""DuckMesh: the self-serve platform of a data mesh on dbt-core and DuckDB (docs/architecture.md)."""
