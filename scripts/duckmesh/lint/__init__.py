"""SQL style: sqlfluff with the dbt templater over every domain."""
