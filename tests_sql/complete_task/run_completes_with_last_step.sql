-- The run stays started while a step is left and completes when its last step completes: status completed,
-- finished_at = now, output {leaf_slug: output}.
begin;
select plan(5);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow('last_step', '[{"slug": "first"}, {"slug": "last"}]');
select run_id from pgflow.start_run('last_step') \gset

select ok(pgflow_tests.complete(:'run_id', 'first', '"F"'), 'first completes');
select is(pgflow_tests.run_status(:'run_id'), 'started', 'the run is still started while last is left');

select pgflow_tests.set_now('2030-01-01 12:00:07+00');
select ok(pgflow_tests.complete(:'run_id', 'last', '"L"'), 'last completes');
select results_eq(
  format($$select status, finished_at from pgflow.runs where run_id = %L$$, :'run_id'),
  $$values ('completed', '2030-01-01 12:00:07+00'::timestamptz)$$,
  'the run is completed, finished now'
);
select is(
  (select output from pgflow.runs where run_id = :'run_id'), '{"last": "L"}'::jsonb, 'its output is the leaf''s'
);

select finish();
rollback;
