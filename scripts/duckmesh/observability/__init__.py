"""Observability: run history, SLOs, anomalies and alerts for the mesh's data products.

Everything lives in the ``mesh_observability`` schema of the mesh's DuckDB file and is
appended after every ``dbt build`` (the ``pipeline.after_build`` step) or on demand
(``duckmesh observe``) from dbt's artifacts (run_results.json and manifest.json):

- ``config``   thresholds, as-of time, alert file and webhook (root dbt_project.yml vars)
- ``store``    the tables and the connection
- ``history``  runs, node runs and test results from the artifacts; product metrics
- ``slo``      SLOs declared in each product's ``meta.slo`` and the attainment ledger
- ``anomaly``  volume, freshness-lag and null-rate anomalies (robust z-score, MAD)
- ``alerts``   one alert per open breach; delivery to a JSON-lines file, stdout, webhook
- ``report``   a standalone HTML page with inline SVG charts per product
- ``pipeline`` the whole sequence for one run
- ``cli``      ``duckmesh observe``, ``status``, ``history``, ``alerts``, ``ledger``

The values here are read by the CLI's options; this module imports nothing.
"""

SEVERITIES = ("error", "warning")  # alert severities, worst first
