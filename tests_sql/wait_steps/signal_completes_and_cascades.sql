-- A signal completes a waiting step with its payload as output, and the cascade goes on in the same transaction:
-- the dependent's task is claimable right after, with the payload in its input; the run completes in the end.
begin;
select plan(10);

select pgflow_tests.set_now('2030-01-01 00:00:00+00');
select pgflow.define_flow(
  'approve',
  '[{"slug": "order"}, {"slug": "approval", "type": "wait", "depends_on": ["order"]},
    {"slug": "ship", "depends_on": ["approval", "order"]}]'
);
select run_id from pgflow.start_run('approve', '{}') \gset
select pgflow_tests.complete(:'run_id', 'order', '{"id": 7}');
select pgflow_tests.set_now('2030-01-01 00:05:00+00');

select is(pgflow.signal(:'run_id', 'approval', '{"approved": true}'), true, 'the signal is recorded');
select is(pgflow_tests.step_status(:'run_id', 'approval'), 'completed', 'the wait step completed');
select is(
  (select output from pgflow.step_states where run_id = :'run_id' and step_slug = 'approval'), '{"approved": true}',
  'its output is the payload'
);
select results_eq(
  $$select status, output, signal, signalled_at
    from pgflow.step_states where step_slug = 'approval'$$,
  $$values ('completed'::text, '{"approved": true}'::jsonb, '{"approved": true}'::jsonb,
            '2030-01-01 00:05:00+00'::timestamptz)$$,
  'the signal and its time are kept on the step state'
);
select is(pgflow_tests.task_status(:'run_id', 'approval'), 'completed', 'its task completed');
select is(pgflow_tests.step_status(:'run_id', 'ship'), 'started', 'the dependent started');
select results_eq(
  $$select step_slug, input from pgflow_tests.poll('approve')$$,
  $$values ('ship'::text, '{"order": {"id": 7}, "approval": {"approved": true}}'::jsonb)$$,
  'the dependent is claimable at once, the payload in its input'
);
select ok(pgflow.complete_task(:'run_id', 'ship', 0, '"shipped"'), 'the dependent completes');
select is(pgflow_tests.run_status(:'run_id'), 'completed', 'the run completes');
select is(
  (select output from pgflow.runs where run_id = :'run_id'), '{"ship": "shipped"}', 'with the leaf step''s output'
);

select finish();
rollback;
