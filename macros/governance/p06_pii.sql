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
    {%- set masking = re.compile('\\{\\{-?\\s*(?:' ~ (ctx.cfg.masking_macros | join('|')) ~ ')\\s*\\(.*?\\}\\}(?:\\s+as\\s+\\w+)?', re.S) -%}
    {%- set noise = re.compile('\\{#.*?#\\}|/\\*.*?\\*/|--[^\\n]*|\\{\\{-?\\s*(?:ref|source)\\s*\\(.*?\\}\\}', re.S) -%}
    {%- set star = re.compile('\\bselect\\s+(?:distinct\\s+)?\\*|\\w\\.\\*') -%}

    {#- pii[unique_id] = {column: origin} for every resolved node -#}
    {%- set pii = {} -%}
    {%- for source in graph.sources.values() -%}
        {%- set columns = {} -%}
        {%- set listed = (source.meta or {}).get('pii') or (source.config.meta or {}).get('pii') or [] -%}
        {%- for name in (listed if listed is iterable and listed is not string else []) -%}
            {%- do columns.update({name | lower: 'source ' ~ source.source_name ~ '.' ~ source.name ~ '.' ~ name}) -%}
        {%- endfor -%}
        {%- for column in source.columns.values() -%}
            {%- if (column.meta or {}).get('pii') or ((column.config or {}).get('meta') or {}).get('pii') -%}
                {%- do columns.update({column.name | lower: 'source ' ~ source.source_name ~ '.' ~ source.name ~ '.' ~ column.name}) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- do pii.update({source.unique_id: columns}) -%}
    {%- endfor -%}
    {%- set pending = [] -%}
    {%- for node in graph.nodes.values() -%}
        {%- if node.resource_type in ('model', 'snapshot') -%}
            {%- do pending.append(node) -%}
        {%- elif node.resource_type == 'seed' -%}
            {%- set columns = {} -%}
            {%- for column in node.columns.values() -%}
                {%- if (column.meta or {}).get('pii') or ((column.config or {}).get('meta') or {}).get('pii') -%}
                    {%- do columns.update({column.name | lower: 'seed ' ~ node.name ~ '.' ~ column.name}) -%}
                {%- endif -%}
            {%- endfor -%}
            {%- do pii.update({node.unique_id: columns}) -%}
        {%- endif -%}
    {%- endfor -%}

    {#- resolve models parents-first: each pass resolves those whose parents are known -#}
    {%- set state = namespace(pending=pending) -%}
    {%- for _ in range(state.pending | length + 1) if state.pending -%}
        {%- set waiting = [] -%}
        {%- for node in state.pending -%}
            {%- set parents = node.depends_on.nodes | select('in', graph.nodes) | list -%}
            {%- set unresolved = parents | reject('in', pii) | list -%}
            {%- if unresolved -%}
                {%- do waiting.append(node) -%}
            {%- else -%}
                {%- set upstream = {} -%}
                {%- for parent in node.depends_on.nodes -%}
                    {%- do upstream.update(pii.get(parent) or {}) -%}
                {%- endfor -%}
                {%- set carried = {} -%}
                {%- if upstream -%}
                    {%- set code = noise.sub(' ', masking.sub(' ', node.raw_code or '')) | lower -%}
                    {%- set names = upstream.keys() | map('lower') | list -%}
                    {%- set escaped = [] -%}
                    {%- for name in names -%}{%- do escaped.append(re.escape(name)) -%}{%- endfor -%}
                    {%- set alternatives = '(' ~ (escaped | join('|')) ~ ')' -%}
                    {%- set passes_all = star.search(code) -%}
                    {%- for name in re.findall('\\b' ~ alternatives ~ '\\b', code) -%}
                        {%- do carried.update({name: upstream[name]}) -%}
                    {%- endfor -%}
                    {%- for name, alias in re.findall('\\b' ~ alternatives ~ '\\b[^,\\n]*?\\bas\\s+"?([a-z_][a-z0-9_$]*)', code) -%}
                        {%- do carried.update({alias: upstream[name]}) -%}
                    {%- endfor -%}
                    {%- if passes_all -%}{%- do carried.update(upstream) -%}{%- endif -%}
                    {%- if (node.contract or {}).get('enforced') and node.columns -%}
                        {#- an enforced contract is the model's output: keep only its columns -#}
                        {%- set declared = {} -%}
                        {%- for column in node.columns.values() if (column.name | lower) in carried -%}
                            {%- do declared.update({column.name | lower: carried[column.name | lower]}) -%}
                        {%- endfor -%}
                        {%- set carried = declared -%}
                    {%- endif -%}
                {%- endif -%}
                {%- for column in node.columns.values() -%}
                    {%- if (column.name | lower) not in carried and ((column.meta or {}).get('pii')
                            or ((column.config or {}).get('meta') or {}).get('pii')) -%}
                        {%- do carried.update({column.name | lower: 'classified PII on ' ~ governance_label(node)}) -%}
                    {%- endif -%}
                {%- endfor -%}
                {%- do pii.update({node.unique_id: carried}) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- set state.pending = waiting -%}
    {%- endfor -%}

    {%- for node in ctx.public -%}
        {%- set domain = ctx.domains[node.package_name] -%}
        {%- for column, origin in (pii.get(node.unique_id) or {}).items() | sort -%}
            {%- do found.append(governance_violation('P06', domain, node.unique_id, column,
                'column ' ~ column ~ ' of public model ' ~ governance_label(node) ~ ' carries PII (' ~ origin ~ ') unmasked',
                'select it through `{{ pseudonymise(\'' ~ column ~ '\') }}` or `{{ mask_pii(\'' ~ column ~ '\') }}` in ' ~ node.original_file_path ~ ', or drop it from the product')) -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(found) }}
{% endmacro %}
