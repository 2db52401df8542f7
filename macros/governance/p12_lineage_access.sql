{#- P12: lineage-aware access. A column of a public product that comes from a product some
    consumers may not read (its meta.consumers), or from a column restricted to some
    readers (meta.restricted_to), must say so: either the same readers or fewer
    (meta.restricted_to on the column, or meta.consumers on the product), or a release
    by the owner (meta.declassified_from: [<domain>.<product>] on the column or the
    product). Followed through private models to the upstream products, by column name
    (as P06 does); publishing enforces the same rule with the catalog's column lineage,
    masking such columns for every consumer that may not read their origin
    (scripts/duckmesh/publish/derived.py). A meta.declassified_from that names a product
    the model does not read is an error too. -#}
{% macro governance_p12_lineage_access(ctx) %}
    {%- set found = [] -%}
    {%- set by_id = {} -%}
    {%- for node in ctx.public -%}{%- do by_id.update({node.unique_id: node}) -%}{%- endfor -%}
    {#- cheap prefilter: nothing to follow unless some product restricts or declassifies -#}
    {%- set text = ctx.public | map(attribute='config') | map('string') | join
        ~ ctx.public | map(attribute='columns') | map('string') | join -%}
    {%- if 'consumers' not in text and 'restricted_to' not in text and 'declassified_from' not in text -%}
        {{ return(found) }}
    {%- endif -%}
    {%- for node in ctx.public -%}
        {%- set meta = node.meta or node.config.meta or {} -%}
        {%- set label = duckmesh_platform.governance_label(node) -%}
        {%- set owner = node.group or node.package_name -%}
        {%- set yml = duckmesh_platform.governance_yml(node) -%}
        {#- the public products this one reads, through its private models -#}
        {%- set upstream = [] -%}
        {%- set upstream_ids = [] -%}
        {%- set queue = [node.unique_id] -%}
        {%- for current in queue -%}
            {%- for parent in ((graph.nodes.get(current) or {}).get('depends_on') or {}).get('nodes') or [] if parent not in queue and parent not in upstream_ids -%}
                {%- if parent in by_id -%}
                    {%- do upstream_ids.append(parent) -%}
                    {%- do upstream.append(by_id[parent]) -%}
                {%- elif parent in graph.nodes and graph.nodes[parent].resource_type == 'model' -%}
                    {%- do queue.append(parent) -%}
                {%- endif -%}
            {%- endfor -%}
        {%- endfor -%}
        {%- set reads = [] -%}
        {%- for product in upstream -%}
            {%- do reads.append(((product.group or product.package_name) ~ '.' ~ product.name) | lower) -%}
        {%- endfor -%}
        {#- every declassified_from must name a product this one reads -#}
        {%- set declared = [(none, meta.get('declassified_from'))] -%}
        {%- for name, column in (node.columns or {}).items() -%}
            {%- set column_meta = column.meta or (column.config or {}).get('meta') or {} -%}
            {%- do declared.append((name, column_meta.get('declassified_from'))) -%}
        {%- endfor -%}
        {%- for column, listed in declared if listed is not none -%}
            {%- for entry in ([listed] if listed is string else listed) if (entry | string | lower) not in reads -%}
                {%- do found.append(duckmesh_platform.governance_violation('P12', owner, node.unique_id, column,
                    'meta.declassified_from of ' ~ label ~ ' names ' ~ entry ~ ', which ' ~ label
                    ~ ' does not read (it reads ' ~ (reads | unique | sort | join(', ') or 'no product') ~ ')',
                    'name a product as <domain>.<product> (one of those it reads) in ' ~ yml ~ ', or remove the entry')) -%}
            {%- endfor -%}
        {%- endfor -%}
        {#- columns named like a restricted column of a product it reads -#}
        {%- set product_readers = meta.get('consumers') -%}
        {%- for product in upstream -%}
            {%- set upstream_meta = product.meta or product.config.meta or {} -%}
            {%- set upstream_consumers = upstream_meta.get('consumers') -%}
            {%- set upstream_owner = product.group or product.package_name -%}
            {%- set upstream_name = (upstream_owner ~ '.' ~ product.name) | lower -%}
            {%- set rules = {} -%}
            {%- for name, column in (product.columns or {}).items() -%}
                {%- set column_meta = column.meta or (column.config or {}).get('meta') or {} -%}
                {%- do rules.update({name | lower: column_meta.get('restricted_to')}) -%}
            {%- endfor -%}
            {%- for name, column in (node.columns or {}).items() if (name | lower) in rules -%}
                {%- set restricted_to = rules[name | lower] -%}
                {%- if upstream_consumers is not none or restricted_to is not none -%}
                    {%- set column_meta = column.meta or (column.config or {}).get('meta') or {} -%}
                    {%- set released = [] -%}
                    {%- for listed in [meta.get('declassified_from'), column_meta.get('declassified_from')] if listed is not none -%}
                        {%- for entry in ([listed] if listed is string else listed) -%}{%- do released.append(entry | string | lower) -%}{%- endfor -%}
                    {%- endfor -%}
                    {%- set allowed = [upstream_owner] -%}
                    {%- for reader in (upstream_consumers if upstream_consumers is not none else restricted_to) -%}
                        {%- if upstream_consumers is none or restricted_to is none or reader in restricted_to -%}
                            {%- do allowed.append(reader) -%}
                        {%- endif -%}
                    {%- endfor -%}
                    {%- set readers = column_meta.get('restricted_to') if column_meta.get('restricted_to') is not none else product_readers -%}
                    {%- set wider = [] -%}
                    {%- if readers is none -%}
                        {%- do wider.append('every consumer') -%}
                    {%- else -%}
                        {%- for reader in ([readers] if readers is string else readers) if reader not in allowed -%}{%- do wider.append(reader) -%}{%- endfor -%}
                    {%- endif -%}
                    {%- if upstream_name not in released and wider -%}
                        {%- do found.append(duckmesh_platform.governance_violation('P12', owner, node.unique_id, name,
                            'column ' ~ name ~ ' of ' ~ label ~ ' comes from ' ~ upstream_name ~ ' v' ~ product.version
                            ~ ', which only ' ~ (allowed | unique | list) ~ ' may read, but ' ~ label ~ ' gives it to '
                            ~ (wider | join(', ')) ~ ': publishing masks it for them',
                            'declare its readers with `meta: {restricted_to: [...]}` (at most those) on column ' ~ name
                            ~ ' in ' ~ yml ~ ', or, with the ' ~ upstream_owner ~ ' team, release it with `meta: {declassified_from: ['
                            ~ upstream_name ~ ']}`')) -%}
                    {%- endif -%}
                {%- endif -%}
            {%- endfor -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(found | unique(attribute='message') | list) }}
{% endmacro %}
