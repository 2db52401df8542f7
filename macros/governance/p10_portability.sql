{#- P10: a product's contract holds on every engine the mesh runs on (docs/scale-out.md).
    - Every contract data_type is one the mesh renders per engine (duckmesh_platform.mesh_type(): a
      logical type, its canonical spelling, or decimal(p,s)).
    - Every constraint is proven by a data test, because engines enforce different
      subsets: Spark's Parquet tables enforce none, DuckDB's primary keys are not
      indexed (macros/products/contract_constraints.sql). not_null -> a not_null test;
      primary_key / unique -> unique and not_null tests on each key column;
      foreign_key -> a relationships test; check -> none exists: an error until it is
      expressed as a data test and exempted.
    - Engine notes (warn): an incremental product the engine cannot run incrementally
      (merge on Spark Parquet) is rebuilt in full at every run.
    Every part but the last evaluates the same on every engine. -#}
{% macro governance_p10_portability(ctx) %}
    {%- set found = [] -%}
    {%- set portable = ['text', 'integer', 'bigint', 'double', 'boolean', 'date', 'money', 'timestamp_tz', 'timestamp'] -%}
    {%- set decimal_re = modules.re.compile('^decimal\\(\\d+,\\d+\\)$') -%}
    {%- for node in ctx.models if (node.config.contract or {}).get('enforced') -%}
        {%- set domain = ctx.domains[node.package_name] -%}
        {#- the node's label and yml are looked up only for a violation (two macro calls per node fewer) -#}
        {%- set node_tests = duckmesh_platform.governance_node_tests(ctx, node.unique_id) -%}
        {%- set proofs = [] -%}
        {%- for constraint in node.constraints or [] -%}
            {%- do proofs.append({'constraint': constraint, 'columns': constraint.columns or []}) -%}
        {%- endfor -%}
        {%- for column in node.columns.values() -%}
            {#- a known spelling straight from the check's memo: no macro call per column -#}
            {%- set logical = (ctx.types.get(column.data_type or '') or duckmesh_platform.governance_type_of(ctx, column.data_type or '')).logical -%}
            {%- if column.data_type and logical not in portable and not decimal_re.match(logical) -%}
                {%- do found.append(duckmesh_platform.governance_violation('P10', domain, node.unique_id, column.name,
                    'column ' ~ column.name ~ ' of ' ~ duckmesh_platform.governance_label(node) ~ ' has type ' ~ column.data_type ~ ', which the mesh cannot render on every engine',
                    'use one of ' ~ (portable | join(', ')) ~ ' or decimal(p,s) in ' ~ (duckmesh_platform.governance_yml(node) or 'its yml') ~ ' (see macros/portability/mesh_type.sql), or add the type to mesh_type() for every engine')) -%}
            {%- endif -%}
            {%- for constraint in column.constraints or [] -%}
                {%- do proofs.append({'constraint': constraint, 'columns': [column.name]}) -%}
            {%- endfor -%}
        {%- endfor -%}
        {%- for proof in proofs -%}
            {%- set kind = proof.constraint.type -%}
            {%- set needed = [] -%}
            {%- for column in proof.columns -%}
                {%- set name = column | lower -%}
                {%- if kind in ['primary_key', 'unique'] -%}
                    {%- do needed.extend(['unique:' ~ name] + (['not_null:' ~ name] if kind == 'primary_key' else [])) -%}
                {%- elif kind == 'not_null' -%}
                    {%- do needed.append('not_null:' ~ name) -%}
                {%- elif kind == 'foreign_key' -%}
                    {%- do needed.append('relationships:' ~ name) -%}
                {%- endif -%}
            {%- endfor -%}
            {%- set missing = needed | reject('in', node_tests) | list -%}
            {%- set where = (proof.columns | join(', ')) or 'the model' -%}
            {%- if kind == 'check' -%}
                {%- do found.append(duckmesh_platform.governance_violation('P10', domain, node.unique_id, proof.columns[0] if proof.columns | length == 1 else none,
                    'check constraint ' ~ (proof.constraint.expression or '') ~ ' on ' ~ duckmesh_platform.governance_label(node) ~ ' is not enforced on every engine (Spark Parquet enforces no constraint) and no test stands for it',
                    'write the check as a data test on ' ~ node.name ~ ', then add an exemption {policy: P10, node: ' ~ node.unique_id ~ ', reason: <the test>} to vars.duckmesh_governance.exemptions')) -%}
            {%- elif kind in ['primary_key', 'unique'] and proof.columns | length > 1 -%}
                {%- do found.append(duckmesh_platform.governance_violation('P10', domain, node.unique_id, none,
                    kind ~ ' constraint on (' ~ where ~ ') of ' ~ duckmesh_platform.governance_label(node) ~ ' is not enforced on every engine and no test proves a key of several columns',
                    'add a surrogate key column with unique and not_null data_tests, or a singular data test of the key and an exemption {policy: P10, node: ' ~ node.unique_id ~ '}')) -%}
            {%- elif missing -%}
                {%- do found.append(duckmesh_platform.governance_violation('P10', domain, node.unique_id, proof.columns[0] if proof.columns | length == 1 else none,
                    kind ~ ' constraint on ' ~ where ~ ' of ' ~ duckmesh_platform.governance_label(node) ~ ' is not enforced on every engine (Spark Parquet enforces none; DuckDB does not index primary keys) and has no ' ~ (missing | map('replace', ':', ' test on ') | join(', ')),
                    'add ' ~ (missing | map('replace', ':' ~ (proof.columns[0] | lower), '') | unique | join(' and ')) ~ ' to data_tests of ' ~ where ~ ' in ' ~ (duckmesh_platform.governance_yml(node) or 'its yml'))) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {#- the models that asked for the mesh's fallback (duckmesh_platform.incremental_full_refresh()) and got it -#}
    {%- for node in ctx.models if node.config.materialized == 'incremental' and node.config.full_refresh is true
            and ('merge_incremental(' in (node.raw_code or '') or 'incremental_full_refresh(' in (node.raw_code or '')) -%}
        {%- do found.append(duckmesh_platform.governance_violation('P10', ctx.domains[node.package_name], node.unique_id, none,
            'incremental model ' ~ duckmesh_platform.governance_label(node) ~ (' (merged on ' ~ node.config.unique_key ~ ')' if node.config.unique_key else '') ~ ' is rebuilt in full at every run on ' ~ target.type ~ ' with ' ~ (node.config.file_format or 'its default') ~ ' tables, which have no MERGE',
            'on a cluster with Delta, Iceberg or Hudi set vars.duckmesh_spark_file_format to it, so merge runs incrementally; or exempt P10 for ' ~ node.unique_id,
            'warn')) -%}
    {%- endfor -%}
    {{ return(found) }}
{% endmacro %}
