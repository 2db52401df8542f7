"""Scale out: the same mesh on Apache Spark, compared with the DuckDB build."""
