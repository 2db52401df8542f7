"""The core every capability uses: the mesh and its settings, the one dbt runner,
artifacts, SQL quoting, names, output, templates."""
