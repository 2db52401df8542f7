{#- Where a node is built. The data products (public models) of a DuckDB build go into
    the products database when the profile attaches one (alias `products`, the file
    mesh.products.duckdb beside the mesh's): that file holds nothing but products, so
    a publish copies it whole instead of writing every row again. Every other node,
    and every node on other engines or profiles without that attachment, gets dbt's
    database. A database set in config (`+database: published` for upstream products
    read from the last publish) is kept. Reached through dispatch (search_order
    [<project>, duckmesh_platform, dbt]). -#}
{% macro default__generate_database_name(custom_database_name=none, node=none) -%}
    {%- set products = duckmesh_platform.products_database() -%}
    {%- if products and node is not none and node.resource_type == 'model'
            and (node.access or '') | string == 'public'
            and custom_database_name in (none, target.database) -%}
        {{ return(products) }}
    {%- endif -%}
    {{ return(dbt.default__generate_database_name(custom_database_name, node)) }}
{%- endmacro %}


{#- The alias of the products database the target attaches ('' when none). -#}
{% macro products_database() -%}
    {%- if target.type == 'duckdb' -%}
        {%- for attached in target.get('attach') or [] -%}
            {%- if attached.get('alias') == 'products' -%}
                {{ return('products') }}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return('') }}
{%- endmacro %}
