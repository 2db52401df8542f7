{#- Post-hook for data products: the latest version of a product is also
    addressable without its suffix, as a view <domain>.<product> over <product>_v<N>. -#}
{% macro create_latest_alias() -%}
    {%- if model.version is not none and model.version == model.latest_version -%}
        {%- set latest = api.Relation.create(
            database=this.database, schema=this.schema, identifier=model.name, type='view') -%}
        create or replace view {{ latest }} as
        select * from {{ this }}
    {%- endif -%}
{%- endmacro %}
