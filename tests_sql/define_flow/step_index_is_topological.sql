-- pgflow.steps.step_index is a topological order of the DAG: the indexes are 0..n-1 and every step
-- comes after all of its dependencies, whatever order the steps were listed in.
begin;
select plan(4);

select pgflow.define_flow(
  'topo_order',
  '[{"slug": "merge", "depends_on": ["left", "right", "extra"]},
    {"slug": "right", "depends_on": ["split"]},
    {"slug": "left", "depends_on": ["split"]},
    {"slug": "split", "depends_on": ["load"]},
    {"slug": "extra", "depends_on": []},
    {"slug": "report", "depends_on": ["merge", "load"]},
    {"slug": "load", "depends_on": []}]'
);

select results_eq(
  $$select step_index from pgflow.steps where flow_slug = 'topo_order' order by step_index$$,
  $$select generate_series(0, 6)$$,
  'the step indexes are 0..6'
);
select is(
  (select count(*)::int from pgflow.deps where flow_slug = 'topo_order'), 8, 'all 8 edges are stored'
);
select is_empty(
  $$select d.dep_slug, d.step_slug
    from pgflow.deps as d
    join pgflow.steps as dep
      on (dep.flow_slug, dep.flow_version, dep.step_slug) = (d.flow_slug, d.flow_version, d.dep_slug)
    join pgflow.steps as s
      on (s.flow_slug, s.flow_version, s.step_slug) = (d.flow_slug, d.flow_version, d.step_slug)
    where d.flow_slug = 'topo_order' and dep.step_index >= s.step_index$$,
  'no step comes before one of its dependencies'
);

select pgflow.define_flow(
  'topo_reverse_chain',
  '[{"slug": "d", "depends_on": ["c"]}, {"slug": "c", "depends_on": ["b"]},
    {"slug": "b", "depends_on": ["a"]}, {"slug": "a", "depends_on": []}]'
);
select results_eq(
  $$select step_slug from pgflow.steps where flow_slug = 'topo_reverse_chain' order by step_index$$,
  $$values ('a'), ('b'), ('c'), ('d')$$,
  'a chain listed backwards is indexed in execution order'
);

select finish();
rollback;
