{#- Text files read by the engine, since dbt's Jinja has no file access (governance
    reads the domains' dbt_project.yml and the last published manifest). paths are
    absolute; a path may hold a glob. Returns {path: content} of the files found; a
    path that matches nothing is simply absent. -#}
{% macro read_text_files(paths) -%}
    {%- if not execute or not paths -%}{{ return({}) }}{%- endif -%}
    {{ return(adapter.dispatch('read_text_files', 'duckmesh_platform')(paths)) }}
{%- endmacro %}

{% macro default__read_text_files(paths) -%}
    {%- set quoted = [] -%}
    {%- for path in paths -%}{%- do quoted.append("'" ~ (path | replace("'", "''")) ~ "'") -%}{%- endfor -%}
    {%- set files = run_query("select file from glob([" ~ (quoted | join(', ')) ~ "])").columns[0].values() -%}
    {%- set found = {} -%}
    {%- if files | length > 0 -%}
        {%- set listed = [] -%}
        {%- for file in files -%}{%- do listed.append("'" ~ (file | replace("'", "''")) ~ "'") -%}{%- endfor -%}
        {%- for row in run_query("select filename, content from read_text([" ~ (listed | join(', ')) ~ "])") -%}
            {%- do found.update({row[0]: row[1]}) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(found) }}
{%- endmacro %}

{#- Spark: a temporary text view with wholetext (one row per file). Spark refuses a
    path that matches nothing, so the paths are read as one Hadoop glob {a,b,...}
    that always includes the root project's own dbt_project.yml (and so matches). -#}
{% macro spark__read_text_files(paths) -%}
    {%- set anchor = (invocation_args_dict.get('project_dir') or '.') ~ '/dbt_project.yml' -%}
    {%- set absolute = anchor.startswith('/') -%}
    {%- set members = [] -%}
    {%- for path in paths + [anchor] -%}
        {%- if path.startswith('/') != absolute -%}
            {{ exceptions.raise_compiler_error("read_text_files: mix of absolute and relative paths " ~ paths ~ "; pass paths under the project directory " ~ anchor[:-16]) }}
        {%- endif -%}
        {%- do members.append(path[1:] if absolute else path) -%}
    {%- endfor -%}
    {#- Hadoop expands {a,b} only after a fixed prefix: '/' for absolute paths -#}
    {%- set glob = ('/' if absolute else '') ~ '{' ~ (members | join(',')) ~ '}' -%}
    {%- call statement('mesh_read_text_files') -%}
        create or replace temporary view mesh_read_text_files
        using text options (path '{{ glob | replace("'", "\\'") }}', wholetext 'true')
    {%- endcall -%}
    {%- set wanted = duckmesh_platform.text_file_pattern(paths) -%}
    {%- set found = {} -%}
    {%- for row in run_query("select input_file_name(), value from mesh_read_text_files") -%}
        {%- set path = modules.re.sub('^file:(//)?', '', row[0]) -%}
        {%- if wanted.search(path) -%}{%- do found.update({path: row[1]}) -%}{%- endif -%}
    {%- endfor -%}
    {{ return(found) }}
{%- endmacro %}


{#- Snowflake and BigQuery read the copies `duckmesh warehouse build` loaded into
    warehouse_meta_relation('text_files'): one row per line (absolute path, line
    number from 1, the line's text), which any warehouse's CSV loader takes as it is.
    First the paths, matched here as the globs match files, then the lines of those
    only, joined again. -#}
{% macro snowflake__read_text_files(paths) -%}
    {{ return(duckmesh_platform.warehouse_read_text_files(paths)) }}
{%- endmacro %}

{% macro bigquery__read_text_files(paths) -%}
    {{ return(duckmesh_platform.warehouse_read_text_files(paths)) }}
{%- endmacro %}

{% macro warehouse_read_text_files(paths) -%}
    {%- set table = duckmesh_platform.warehouse_meta_relation('text_files') -%}
    {%- set wanted = duckmesh_platform.text_file_pattern(paths) -%}
    {%- set matched = [] -%}
    {%- for path in run_query('select distinct path from ' ~ table).columns[0].values() if wanted.search(path) -%}
        {%- do matched.append("'" ~ (path | replace('\\', '\\\\') | replace("'", "\\'")) ~ "'") -%}
    {%- endfor -%}
    {%- set lines = {} -%}
    {%- if matched -%}
        {%- for row in run_query('select path, line from ' ~ table ~ ' where path in (' ~ (matched | join(', ')) ~ ') order by path, line_number') -%}
            {%- do lines.setdefault(row[0], []).append(row[1] or '') -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set found = {} -%}
    {%- for path, text in lines.items() -%}
        {%- do found.update({path: text | join('\n')}) -%}
    {%- endfor -%}
    {{ return(found) }}
{%- endmacro %}


{#- One regular expression matching a file path against any of ``paths`` (relative
    globs, './' allowed, '*' within one folder), as the engines' globs match files. -#}
{% macro text_file_pattern(paths) -%}
    {%- set wanted = [] -%}
    {%- for path in paths -%}
        {%- set tail = path[2:] if path.startswith('./') else path -%}
        {%- do wanted.append('(^|/)' ~ (modules.re.escape(tail) | replace('\\*', '[^/]*')) ~ '$') -%}
    {%- endfor -%}
    {{ return(modules.re.compile(wanted | join('|'))) }}
{%- endmacro %}
