{#- Shared PII handling. duckmesh_platform.pseudonymise(): a stable, salted one-way hash, so a
    product can join on a person without carrying who they are. The salt is a var
    so a mesh can rotate it. -#}
{% macro pseudonymise(column_expression) -%}
    {{ return(adapter.dispatch('pseudonymise', 'duckmesh_platform')(column_expression)) }}
{%- endmacro %}

{% macro default__pseudonymise(column_expression) -%}
    sha256({{ duckmesh_platform.pseudonymise_input(column_expression) }})
{%- endmacro %}

{#- Spark's sha2(.., 256) gives the same lowercase hex digest as DuckDB's sha256(). -#}
{% macro spark__pseudonymise(column_expression) -%}
    sha2({{ duckmesh_platform.pseudonymise_input(column_expression) }}, 256)
{%- endmacro %}

{% macro pseudonymise_input(column_expression) -%}
    {{ dbt.concat(["'" ~ var("pii_salt", "duckmesh") ~ "'",
        "lower(trim(cast(" ~ column_expression ~ " as " ~ duckmesh_platform.mesh_type('text') ~ ")))"]) }}
{%- endmacro %}
