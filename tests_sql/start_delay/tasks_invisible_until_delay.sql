-- A started step with start_delay 5 has its task queued at once but invisible to poll_for_tasks until 5 seconds
-- later; a step without start_delay in the same run is claimable at once.
begin;
select plan(6);

select pgflow_tests.set_now('2030-01-01 00:00:00+00');
select pgflow.define_flow(
  'delay_invisible', '[{"slug": "slow", "start_delay": 5}, {"slug": "fast", "depends_on": []}]'
);
select run_id from pgflow.start_run('delay_invisible', '{}') \gset

select is(pgflow_tests.step_status(:'run_id', 'slow'), 'started', 'the delayed step is started');
select is(pgflow_tests.task_status(:'run_id', 'slow'), 'queued', 'its task is queued');
select results_eq(
  $$select step_slug from pgflow_tests.poll('delay_invisible')$$,
  array['fast'],
  'at once only the step without start_delay is claimable'
);

select pgflow_tests.set_now('2030-01-01 00:00:04.9+00');
select is_empty($$select * from pgflow_tests.poll('delay_invisible')$$, 'the delayed task is invisible at 4.9 s');

select pgflow_tests.set_now('2030-01-01 00:00:05+00');
select results_eq(
  $$select step_slug, attempt, input from pgflow_tests.poll('delay_invisible')$$,
  $$values ('slow', 1, '{}'::jsonb)$$,
  'the delayed task is claimable at 5 s, as its first attempt'
);
select is(pgflow_tests.task_status(:'run_id', 'slow'), 'started', 'the claimed delayed task is started');

select finish();
rollback;
