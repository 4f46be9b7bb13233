-- A dependent single step receives an object {dep_slug: dep_output} over its dependencies only (SPEC 3.3): not
-- the run input, not the outputs of steps further upstream, whatever JSON type each output has.
begin;
select plan(3);

select pgflow.define_flow(
  'dep_input',
  '[{"slug": "fetch"},
    {"slug": "count", "depends_on": ["fetch"]},
    {"slug": "label", "depends_on": ["fetch"]},
    {"slug": "merge", "depends_on": ["count", "label"]}]'
);
select run_id from pgflow.start_run('dep_input', '{"run": "input"}') \gset

select ok(pgflow_tests.complete(:'run_id', 'fetch', '{"body": "text"}'), 'fetch completes');
select is(
  (select input from pgflow_tests.poll('dep_input') where step_slug = 'count'), '{"fetch": {"body": "text"}}'::jsonb,
  'a step with one dependency receives {dep: output}'
);
select pgflow_tests.complete(:'run_id', 'count', '3');
select pgflow_tests.complete(:'run_id', 'label', 'null');
select is(
  (select input from pgflow_tests.poll('dep_input') where step_slug = 'merge'), '{"count": 3, "label": null}'::jsonb,
  'a step with two dependencies receives both outputs (a null output included) and nothing from further up'
);

select finish();
rollback;
