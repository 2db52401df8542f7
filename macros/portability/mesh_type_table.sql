{#- The one table of harmonised field types. Read by the platform's macros
    (mesh_type_aliases, mesh_logical_type, mesh_type, governance_normalise_type) and by
    the Python platform (duckmesh.core.types renders this macro with Jinja2), so P05,
    P09, `governance diff`, the contracts and the catalog fold type names alike.
    Per logical type: its canonical DuckDB spelling (the one contracts write), its
    ODCS logicalType, the ODCS physicalType when outside tools (datacontract-cli) do
    not read the DuckDB spelling, and the other spellings that mean it. Spellings are
    compared in lower case with single spaces, no spaces around ( , ) and numeric read
    as decimal (mesh_type_spelling). A dict literal, not YAML: macros call it per column. -#}
{% macro mesh_type_table() %}
    {{ return({
        'text': {'duckdb': 'varchar', 'odcs': 'string', 'aliases': ['string', 'char', 'bpchar']},
        'integer': {'duckdb': 'integer', 'odcs': 'integer', 'aliases': ['int', 'int4']},
        'bigint': {'duckdb': 'bigint', 'odcs': 'integer', 'aliases': ['int8', 'long']},
        'double': {'duckdb': 'double', 'odcs': 'number', 'aliases': ['float8', 'double precision']},
        'boolean': {'duckdb': 'boolean', 'odcs': 'boolean', 'aliases': ['bool', 'logical']},
        'date': {'duckdb': 'date', 'odcs': 'date', 'aliases': []},
        'money': {'duckdb': 'decimal(18,2)', 'odcs': 'number', 'aliases': []},
        'timestamp_tz': {'duckdb': 'timestamp with time zone', 'odcs': 'timestamp',
                         'odcs_physical': 'timestamp_tz', 'aliases': ['timestamptz']},
        'timestamp': {'duckdb': 'timestamp', 'odcs': 'timestamp',
                      'odcs_physical': 'timestamp_ntz', 'aliases': ['timestamp without time zone']}
    }) }}
{% endmacro %}
