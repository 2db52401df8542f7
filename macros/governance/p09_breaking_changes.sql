{#- P09: breaking changes ship as new versions. Every public model version in the
    last published manifest (vars.duckmesh_governance.published_manifest, default
    published/manifest.json; absent = nothing to compare) must still exist with every
    column at its published data_type, its contract enforced and public access -
    unless it was removed after its deprecation_date. Additive changes (new columns,
    new versions, new products) are allowed; `duckmesh governance diff` classifies
    every change as major / minor / patch. -#}
{% macro governance_p09_breaking_changes(ctx) %}
    {%- set found = [] -%}
    {%- set baseline = duckmesh_platform.governance_published_manifest(ctx) -%}
    {#- filters run at Python speed; the messages are built only for a violation -#}
    {%- set published = (baseline.get('nodes') or {}).values()
        | selectattr('resource_type', 'equalto', 'model') | selectattr('access', 'equalto', 'public')
        | rejectattr('package_name', 'in', ctx.cfg.ignore_packages) | sort(attribute='unique_id') -%}
    {%- for old in published if not ctx.partial or old.package_name in ctx.packages -%}
        {%- set uid = old.unique_id -%}
        {%- set new = graph.nodes.get(uid) -%}
        {%- if new is none -%}
            {%- set expired = old.deprecation_date and old.deprecation_date[:10] < ctx.today -%}
            {%- if not expired -%}
                {%- set label = duckmesh_platform.governance_label(old) -%}
                {%- do found.append(duckmesh_platform.governance_violation('P09', ctx.domains.get(old.package_name, old.package_name), uid, none,
                    'published product ' ~ label ~ ' was removed before its deprecation date (' ~ (old.deprecation_date or 'none set')[:10] ~ ')',
                    'restore ' ~ label ~ ', give it a `deprecation_date` and remove it only after that date')) -%}
            {%- endif -%}
        {%- else -%}
            {%- set changes = [] -%}
            {%- for name, column in old.columns.items() | sort -%}
                {%- set current = new.columns.get(name) -%}
                {%- if current is none -%}
                    {%- do changes.append('column ' ~ name ~ ' removed') -%}
                {#- one spelling is one type: normalised only when the spellings differ -#}
                {%- elif column.data_type != current.data_type
                        and duckmesh_platform.governance_type_of(ctx, column.data_type).normal != duckmesh_platform.governance_type_of(ctx, current.data_type).normal -%}
                    {%- do changes.append('column ' ~ name ~ ' retyped ' ~ (column.data_type or 'untyped') ~ ' -> ' ~ (current.data_type or 'untyped')) -%}
                {%- endif -%}
            {%- endfor -%}
            {%- if (old.contract or {}).get('enforced') and not (new.contract or {}).get('enforced') -%}
                {%- do changes.append('contract no longer enforced') -%}
            {%- endif -%}
            {%- if new.access != 'public' -%}
                {%- do changes.append('access lowered to ' ~ new.access) -%}
            {%- endif -%}
            {%- if changes -%}
                {%- set label = duckmesh_platform.governance_label(old) -%}
                {%- set next_version = (old.version | int + 1) if old.version is not none else none -%}
                {%- set fix = 'ship the change as v' ~ next_version ~ ': run `duckmesh new-version '
                    ~ old.package_name ~ '.' ~ old.name ~ '`, which moves it to ' ~ old.name ~ '_v' ~ next_version
                    ~ '.sql, restores v' ~ old.version ~ '\'s SQL and columns as published and gives v'
                    ~ old.version ~ ' a deprecation_date'
                    if next_version is not none else
                    'restore ' ~ label ~ ' as published, then version it (' ~ old.name ~ '_v1.sql, `versions: [{v: 1}]`) and ship the change as v2' -%}
                {%- do found.append(duckmesh_platform.governance_violation('P09', ctx.domains.get(old.package_name, old.package_name), uid, none,
                    'breaking change to published product ' ~ label ~ ' without a new version: ' ~ (changes | join('; ')),
                    fix)) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(found) }}
{% endmacro %}


{#- The last published manifest as a dict ({} when there is none), read through the
    engine (read_text_files), since dbt's Jinja has no file access. -#}
{% macro governance_published_manifest(ctx) %}
    {%- set path = ctx.cfg.published_manifest -%}
    {%- if not path or not execute -%}{{ return({}) }}{%- endif -%}
    {%- if not path.startswith('/') -%}{%- set path = ctx.project_dir ~ '/' ~ path -%}{%- endif -%}
    {%- set found = duckmesh_platform.read_text_files([path]).values() | list -%}
    {%- set parsed = fromjson(found[0]) if found else {} -%}
    {#- a baseline that cannot be read stops the check: it never passes for want of one -#}
    {%- if parsed is not mapping -%}
        {{ exceptions.raise_compiler_error('governance P09: ' ~ path ~ ' cannot be read as a '
            ~ 'dbt manifest: `duckmesh publish --verify` names the damage; `duckmesh build` '
            ~ 'repairs it from the newest intact snapshot') }}
    {%- endif -%}
    {{ return(parsed) }}
{% endmacro %}
