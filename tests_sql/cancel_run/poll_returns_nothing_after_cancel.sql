-- After cancel_run, poll_for_tasks returns nothing of the run: neither its tasks that were queued and due, nor
-- a task whose start_delay had not passed, nor a task waiting for its retry delay.
begin;
select plan(4);

select pgflow_tests.set_now('2024-03-01 12:00:00+00');
select pgflow.define_flow(
  'cancel_poll',
  '[{"slug": "retried", "depends_on": []},
    {"slug": "due_a", "depends_on": [], "start_delay": 5},
    {"slug": "due_b", "depends_on": [], "start_delay": 5},
    {"slug": "later", "depends_on": [], "start_delay": 30}]',
  '{"max_attempts": 3, "base_delay": 10}'
);
select run_id from pgflow.start_run('cancel_poll', '{}') \gset
select pgflow_tests.claim_and_fail(:'run_id', 'retried');
select pgflow_tests.advance(interval '5 seconds');

select is(
  (
    select array_agg(step_slug order by step_slug) from pgflow.step_tasks
    where run_id = :'run_id' and status = 'queued' and visible_at <= pgflow.now()
  ),
  array['due_a', 'due_b'],
  'before the cancel, due_a and due_b are queued and due'
);
select is(
  (select count(*)::int from pgflow.step_tasks where run_id = :'run_id' and status = 'queued'), 4,
  'before the cancel, all four tasks are queued'
);

select pgflow.cancel_run(:'run_id');

select is_empty($$select * from pgflow_tests.poll('cancel_poll')$$, 'a poll right after the cancel returns nothing');
select pgflow_tests.advance(interval '1 hour');
select is_empty(
  $$select * from pgflow_tests.poll('cancel_poll')$$,
  'a poll after every start delay and retry delay has passed returns nothing'
);

select finish();
rollback;
