{#- P06: PII never reaches a public product unmasked.
    PII starts at columns classified `meta: {pii: true}` (on a source, seed or model
    column; or listed in a source table's `meta: {pii: [col, ...]}`) and follows the
    columns through every model that selects them, by name and by alias, with
    `select *` passing everything on. A column wrapped in a masking macro
    (vars.duckmesh_governance.masking_macros: pseudonymise, mask_pii) is clean.
    A public model whose output carries a PII column is a violation. -#}
{% macro governance_p06_pii(ctx) %}
    {%- set found = [] -%}
    {%- set re = modules.re -%}
    {%- set masking = re.compile('\\{\\{-?\\s*(?:duckmesh_platform\\.)?(?:' ~ (ctx.cfg.masking_macros | join('|')) ~ ')\\s*\\(.*?\\}\\}(?:\\s+as\\s+\\w+)?', re.S) -%}
    {#- comments and string literals go first, in one pass, left to right, so '--' in a
        literal is no comment; Jinja expressions are kept (group 1): their strings name
        columns (utc_date('opened_at')) -#}
    {%- set literals = re.compile('(\\{\\{.*?\\}\\})|\\{#.*?#\\}|/\\*.*?\\*/|--[^\\n]*|\'(?:[^\'\\n]|\'\')*\'', re.S) -%}
    {%- set noise = re.compile('\\{\\{-?\\s*(?:ref|source)\\s*\\(.*?\\}\\}', re.S) -%}
    {%- set star = re.compile('\\bselect\\s+(?:distinct\\s+)?\\*|\\w\\.\\*') -%}

    {#- seeds of PII: classified columns of sources, seeds and models -#}
    {%- set pii = {} -%}
    {%- set queue = [] -%}
    {%- for source in graph.sources.values() -%}
        {%- set listed = (source['meta'] or {}).get('pii') or ((source['config'] or {}).get('meta') or {}).get('pii') -%}
        {%- set columns = (source['columns'].values() | selectattr('meta.pii') | list)
            + (source['columns'].values() | selectattr('config.meta.pii') | list) -%}
        {%- if columns or listed -%}
            {%- set carried = {} -%}
            {%- for name in (listed if listed is iterable and listed is not string else []) -%}
                {%- do carried.update({name | lower: 'source ' ~ source.source_name ~ '.' ~ source.name ~ '.' ~ name}) -%}
            {%- endfor -%}
            {%- for column in columns -%}
                {%- do carried.update({column.name | lower: 'source ' ~ source.source_name ~ '.' ~ source.name ~ '.' ~ column.name}) -%}
            {%- endfor -%}
            {%- do pii.update({source.unique_id: carried}) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set classified = {} -%}
    {%- for node in graph.nodes.values() | selectattr('resource_type', 'in', ['model', 'snapshot', 'seed']) | selectattr('columns') -%}
        {#- cheap prefilter: the repr of the columns must mention pii at all -#}
        {%- set columns = [] if 'pii' not in (node['columns'] | string) else
            (node['columns'].values() | selectattr('meta.pii') | list)
            + (node['columns'].values() | selectattr('config.meta.pii') | list) -%}
        {%- if columns -%}
            {%- set where = ('seed ' ~ node.name ~ '.') if node.resource_type == 'seed' else ('classified PII on ' ~ duckmesh_platform.governance_label(node)) -%}
            {%- set own = {} -%}
            {%- for column in columns -%}
                {%- do own.update({column.name | lower: where ~ (column.name if node.resource_type == 'seed' else '')}) -%}
            {%- endfor -%}
            {%- do classified.update({node.unique_id: own}) -%}
            {%- if node.resource_type == 'seed' -%}{%- do pii.update({node.unique_id: own}) -%}
            {%- else -%}{%- do queue.append(node.unique_id) -%}{%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if not pii and not queue -%}{{ return(found) }}{%- endif -%}

    {#- follow PII downstream: a node is (re)computed whenever a parent's PII changes -#}
    {%- set children = {} -%}
    {%- for node in graph.nodes.values() | selectattr('resource_type', 'in', ['model', 'snapshot']) -%}
        {%- for parent in node['depends_on']['nodes'] -%}
            {%- do children.setdefault(parent, []).append(node['unique_id']) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- for uid in pii -%}{%- do queue.extend(children.get(uid) or []) -%}{%- endfor -%}
    {%- for uid in queue -%}
        {%- set node = graph.nodes[uid] -%}
        {%- set upstream = {} -%}
        {%- for parent in node['depends_on']['nodes'] -%}
            {%- do upstream.update(pii.get(parent) or {}) -%}
        {%- endfor -%}
        {%- set carried = {} -%}
        {%- if upstream -%}
            {%- set code = noise.sub(' ', literals.sub('\\1 ', masking.sub(' ', node.raw_code or ''))) | lower -%}
            {%- set escaped = [] -%}
            {%- for name in upstream -%}{%- do escaped.append(re.escape(name)) -%}{%- endfor -%}
            {%- set alternatives = '(' ~ (escaped | join('|')) ~ ')' -%}
            {%- for name in re.findall('\\b' ~ alternatives ~ '\\b', code) -%}
                {%- do carried.update({name: upstream[name]}) -%}
            {%- endfor -%}
            {%- for name, alias in re.findall('\\b' ~ alternatives ~ '\\b(?:(?!\\bfrom\\b|\\bselect\\b)[^,])*?\\bas\\s+"?([a-z_][a-z0-9_$]*)', code) -%}
                {%- do carried.update({alias: upstream[name]}) -%}
            {%- endfor -%}
            {%- if star.search(code) -%}{%- do carried.update(upstream) -%}{%- endif -%}
            {%- if (node.contract or {}).get('enforced') and node.columns -%}
                {#- an enforced contract is the model's output: keep only its columns -#}
                {%- set declared = {} -%}
                {%- for column in node.columns.values() if (column.name | lower) in carried -%}
                    {%- do declared.update({column.name | lower: carried[column.name | lower]}) -%}
                {%- endfor -%}
                {%- set carried = declared -%}
            {%- endif -%}
        {%- endif -%}
        {%- for name, origin in (classified.get(uid) or {}).items() if name not in carried -%}
            {%- do carried.update({name: origin}) -%}
        {%- endfor -%}
        {%- if carried != (pii.get(uid) or {}) -%}
            {%- do pii.update({uid: carried}) -%}
            {%- do queue.extend(children.get(uid) or []) -%}
        {%- endif -%}
    {%- endfor -%}

    {%- for node in ctx.public -%}
        {%- set domain = ctx.domains[node.package_name] -%}
        {%- for column, origin in (pii.get(node.unique_id) or {}).items() | sort -%}
            {%- do found.append(duckmesh_platform.governance_violation('P06', domain, node.unique_id, column,
                'column ' ~ column ~ ' of public model ' ~ duckmesh_platform.governance_label(node) ~ ' carries PII (' ~ origin ~ ') unmasked',
                'select it through `{{ duckmesh_platform.pseudonymise(\'' ~ column ~ '\') }}` or `{{ duckmesh_platform.mask_pii(\'' ~ column ~ '\') }}` in ' ~ node.original_file_path ~ ', or drop it from the product')) -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(found) }}
{% endmacro %}
