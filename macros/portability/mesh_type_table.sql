{#- The one table of harmonised field types. Read by the platform's macros
    (mesh_type_aliases, mesh_logical_type, mesh_type, governance_normalise_type) and by
    the Python platform (duckmesh.core.types renders this macro with Jinja2), so P05,
    P09, `governance diff`, the contracts and the catalog fold type names alike.
    Per logical type: its canonical DuckDB spelling (the one contracts write), its
    name on the warehouses (snowflake, bigquery: mesh_type() there), its ODCS logicalType, the ODCS physicalType when outside tools (datacontract-cli) do
    not read the DuckDB spelling, and the other spellings that mean it. Spellings are
    compared in lower case with single spaces, no spaces around ( , ) and numeric read
    as decimal (mesh_type_spelling). A dict literal, not YAML: macros call it per column. -#}
{% macro mesh_type_table() %}
    {{ return({
        'text': {'duckdb': 'varchar', 'snowflake': 'varchar', 'bigquery': 'string', 'odcs': 'string', 'aliases': ['string', 'char', 'bpchar']},
        'integer': {'duckdb': 'integer', 'snowflake': 'integer', 'bigquery': 'int64', 'odcs': 'integer', 'aliases': ['int', 'int4']},
        'bigint': {'duckdb': 'bigint', 'snowflake': 'bigint', 'bigquery': 'int64', 'odcs': 'integer', 'aliases': ['int8', 'long']},
        'double': {'duckdb': 'double', 'snowflake': 'float', 'bigquery': 'float64', 'odcs': 'number', 'aliases': ['float8', 'double precision']},
        'boolean': {'duckdb': 'boolean', 'snowflake': 'boolean', 'bigquery': 'bool', 'odcs': 'boolean', 'aliases': ['bool', 'logical']},
        'date': {'duckdb': 'date', 'snowflake': 'date', 'bigquery': 'date', 'odcs': 'date', 'aliases': []},
        'money': {'duckdb': 'decimal(18,2)', 'snowflake': 'number(18,2)', 'bigquery': 'numeric(18,2)', 'odcs': 'number', 'aliases': []},
        'timestamp_tz': {'duckdb': 'timestamp with time zone', 'snowflake': 'timestamp_tz', 'bigquery': 'timestamp', 'odcs': 'timestamp',
                         'odcs_physical': 'timestamp_tz', 'aliases': ['timestamptz']},
        'timestamp': {'duckdb': 'timestamp', 'snowflake': 'timestamp_ntz', 'bigquery': 'datetime', 'odcs': 'timestamp',
                      'odcs_physical': 'timestamp_ntz', 'aliases': ['timestamp without time zone']}
    }) }}
{% endmacro %}
