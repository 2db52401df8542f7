{#- numerator / denominator rounded to `digits` decimals, half away from zero, with
    the same result on every engine. round(x, 2) does not travel: DuckDB rounds the
    double nearest x (23.705 -> 23.70), Spark's decimal arithmetic rounds x itself
    (-> 23.71). Here both engines make the same IEEE double operations and round a
    value that is exactly on the half when the true quotient is. null when the
    denominator is 0 or null. -#}
{% macro divide_rounded(numerator, denominator, digits) -%}
    {%- set scale = 10 ** digits -%}
    round(
        cast({{ numerator }} as {{ duckmesh_platform.mesh_type('double') }}) * {{ scale }}
        / nullif(cast({{ denominator }} as {{ duckmesh_platform.mesh_type('double') }}), 0)
    ) / {{ scale }}
{%- endmacro %}
