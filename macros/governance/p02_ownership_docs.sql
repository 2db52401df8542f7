{#- P02: every domain has a group with an owner name and e-mail; every public model
    and every one of its columns has a description. -#}
{% macro governance_p02_ownership_docs(ctx) %}
    {%- set found = [] -%}
    {%- set email = modules.re.compile('^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$') -%}
    {%- for package in ctx.packages -%}
        {%- set group = ctx.groups.get(package) -%}
        {%- if group is none -%}
            {%- do found.append(duckmesh_platform.governance_violation('P02', package, 'package.' ~ package, none,
                'domain ' ~ package ~ ' defines no group, so its models have no owner',
                'add models/_groups.yml to ' ~ package ~ ' with a group named after the domain and `owner: {name: <team>, email: <address>}`')) -%}
        {%- else -%}
            {%- set owner = group.owner or {} -%}
            {%- if not owner.get('name') -%}
                {%- do found.append(duckmesh_platform.governance_violation('P02', group.name, group.unique_id, none,
                    'group ' ~ group.name ~ ' has no owner name',
                    'set `owner: {name: <owning team>}` on group ' ~ group.name ~ ' in ' ~ group.original_file_path)) -%}
            {%- endif -%}
            {%- if not email.match(owner.get('email') or '') -%}
                {%- do found.append(duckmesh_platform.governance_violation('P02', group.name, group.unique_id, none,
                    'group ' ~ group.name ~ ' has no valid owner e-mail (got ' ~ (owner.get('email') or 'none') ~ ')',
                    'set `owner: {email: <team address>}` on group ' ~ group.name ~ ' in ' ~ group.original_file_path)) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for node in ctx.public -%}
        {%- set undocumented = node['columns'].values() | rejectattr('description') | list -%}
        {%- if undocumented or not (node['description'] or '') | trim -%}
            {%- set domain = ctx.domains[node.package_name] -%}
            {%- set label = duckmesh_platform.governance_label(node) -%}
            {%- set yml = duckmesh_platform.governance_yml(node) -%}
            {%- if not (node.description or '') | trim -%}
                {%- do found.append(duckmesh_platform.governance_violation('P02', domain, node.unique_id, none,
                    'public model ' ~ label ~ ' has no description',
                    'add a `description:` to ' ~ node.name ~ ' in ' ~ (yml or 'a yml file beside the model'))) -%}
            {%- endif -%}
            {%- for column in undocumented -%}
                {%- do found.append(duckmesh_platform.governance_violation('P02', domain, node.unique_id, column.name,
                    'column ' ~ column.name ~ ' of public model ' ~ label ~ ' has no description',
                    'add a `description:` to column ' ~ column.name ~ ' in ' ~ yml)) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(found) }}
{% endmacro %}
