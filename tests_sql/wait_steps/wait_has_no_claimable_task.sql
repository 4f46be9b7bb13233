-- A ready wait step has one task, held by the engine: started, with no worker, never queued, so no poll claims it;
-- its deadline is its own timeout from when it became ready.
begin;
select plan(7);

select pgflow_tests.set_now('2030-01-01 00:00:00+00');
select pgflow.define_flow(
  'approve',
  '[{"slug": "order"}, {"slug": "approval", "type": "wait", "depends_on": ["order"], "timeout": 3600},
    {"slug": "ship", "depends_on": ["approval"]}]'
);
select run_id from pgflow.start_run('approve', '{}') \gset
select pgflow_tests.set_now('2030-01-01 00:10:00+00');
select ok(pgflow_tests.complete(:'run_id', 'order', '{"id": 7}'), 'the step before the wait completes');

select is(pgflow_tests.step_status(:'run_id', 'approval'), 'started', 'the wait step is started');
select results_eq(
  $$select status, attempt, worker_id, started_at, deadline, fair_round, flow_key
    from pgflow.step_tasks where step_slug = 'approval'$$,
  $$values ('started'::text, 1, null::text, '2030-01-01 00:10:00+00'::timestamptz,
            '2030-01-01 01:10:00+00'::timestamptz, null::bigint, null::text)$$,
  'its task is started, by no worker, with a deadline one hour after the step became ready'
);
select is_empty($$select * from pgflow_tests.poll('approve')$$, 'a poll returns nothing');
select pgflow_tests.set_now('2030-01-01 00:59:59+00');
select is_empty($$select * from pgflow_tests.poll('approve')$$, 'a poll later returns nothing either');
select is(pgflow_tests.task_status(:'run_id', 'approval'), 'started', 'the wait task is still started');
select is(
  (select remaining_tasks from pgflow.step_states where run_id = :'run_id' and step_slug = 'approval'), 1,
  'the step has one remaining task'
);

select finish();
rollback;
