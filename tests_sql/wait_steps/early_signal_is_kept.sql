-- A signal that arrives before the wait step is ready is kept, and applied when the step becomes ready: the step
-- completes at once with the payload and the cascade goes on. A second signal meanwhile returns false.
begin;
select plan(9);

select pgflow_tests.set_now('2030-01-01 00:00:00+00');
select pgflow.define_flow(
  'early',
  '[{"slug": "order"}, {"slug": "payment", "type": "wait", "depends_on": ["order"], "timeout": 60},
    {"slug": "ship", "depends_on": ["payment"]}]'
);
select run_id from pgflow.start_run('early', '{}') \gset

select is(pgflow.signal(:'run_id', 'payment', '{"paid": 10}'), true, 'a signal before the step is ready is recorded');
select is(pgflow_tests.step_status(:'run_id', 'payment'), 'created', 'the step is still created');
select is(pgflow.signal(:'run_id', 'payment', '{"paid": 20}'), false, 'a second signal returns false');
select is(
  (select signal from pgflow.step_states where run_id = :'run_id' and step_slug = 'payment'), '{"paid": 10}',
  'the first signal is the one kept'
);

select pgflow_tests.set_now('2030-01-01 00:10:00+00');
select ok(pgflow_tests.complete(:'run_id', 'order', '1'), 'the dependency completes');
select is(pgflow_tests.step_status(:'run_id', 'payment'), 'completed', 'the wait step completed at once');
select results_eq(
  $$select status, attempt, output, worker_id from pgflow.step_tasks where step_slug = 'payment'$$,
  $$values ('completed'::text, 1, '{"paid": 10}'::jsonb, null::text)$$,
  'its task completed with the kept payload'
);
select results_eq(
  $$select step_slug, input from pgflow_tests.poll('early')$$,
  $$values ('ship'::text, '{"payment": {"paid": 10}}'::jsonb)$$,
  'the dependent is claimable with the payload'
);
select is(
  (select output_size from pgflow.step_states where run_id = :'run_id' and step_slug = 'payment'),
  pg_catalog.pg_column_size('{"paid": 10}'::jsonb)::bigint,
  'the output size is recorded'
);

select finish();
rollback;
