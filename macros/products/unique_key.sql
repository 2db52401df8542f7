{#- A product's key column is unique and never null, in one query: the rows of each key
    value that is null or appears more than once. Governance counts it as both a
    `unique` and a `not_null` test (governance_node_tests), so P10 accepts it for a
    primary_key, unique or not_null constraint; one node and one scan instead of two. -#}
{% test unique_key(model, column_name) %}
    select
        {{ column_name }} as key_value,
        count(*) as key_rows
    from {{ model }}
    group by {{ column_name }}
    having {{ column_name }} is null or count(*) > 1
{% endtest %}
