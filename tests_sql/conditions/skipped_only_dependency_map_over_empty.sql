-- A dependent map step whose only dependency was skipped maps over []: it completes at once with output [] and no
-- task, and its own dependent starts with {"map_slug": []}.
begin;
select plan(5);

select pgflow.define_flow(
  'cond_skip_to_map',
  '[{"slug": "list", "if": {"has_items": true}},
    {"slug": "each", "type": "map", "depends_on": ["list"]},
    {"slug": "total", "depends_on": ["each"]}]'
);
select run_id from pgflow.start_run('cond_skip_to_map', '{"has_items": false}') \gset

select is(pgflow_tests.step_status(:'run_id', 'list'), 'skipped', 'the dependency is skipped');
select results_eq(
  format($$select status, output from pgflow.step_states where run_id = %L and step_slug = 'each'$$, :'run_id'),
  $$values ('completed', '[]'::jsonb)$$,
  'the map step completes with []'
);
select is(
  (select count(*)::int from pgflow.step_tasks where run_id = :'run_id' and step_slug = 'each'), 0,
  'the map step has no task'
);
select is(
  (select input from pgflow_tests.poll('cond_skip_to_map') where step_slug = 'total'), '{"each": []}'::jsonb,
  'the map step''s dependent receives {"each": []}'
);
select is(pgflow_tests.run_status(:'run_id'), 'started', 'the run goes on');

select finish();
rollback;
