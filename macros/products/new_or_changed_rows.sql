{#- Incremental products merged on their key: on an incremental run keep only the rows
    that are new or differ from what the table holds. The table's columns are the
    contract's, listed in the contract's order, so the set difference compares like
    with like. dbt.except() spells the set difference per engine (BigQuery: except
    distinct, the same rows as the others' except). -#}
{% macro new_or_changed_rows(cte_name) -%}
    select * from {{ cte_name }}
    {%- if is_incremental() %}
        {{ dbt.except() }}
        select
            {{ model.columns.keys() | join(',\n            ') }}
        from {{ this }}
    {%- endif %}
{%- endmacro %}
