-- A task already started is not claimed again, by the same worker or another one, while its attempt runs.
begin;
select plan(4);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow('claimed_once', '[{"slug": "only"}]');
select run_id from pgflow.start_run('claimed_once') \gset

select is(
  (select count(*)::int from pgflow.poll_for_tasks('first_worker', array['claimed_once'])), 1,
  'the first poll claims it'
);
select pgflow_tests.advance(interval '5 seconds');
select is_empty(
  $$select * from pgflow.poll_for_tasks('first_worker', array['claimed_once'])$$,
  'the same worker does not get it again'
);
select is_empty(
  $$select * from pgflow.poll_for_tasks('second_worker', null)$$, 'another worker does not get it either'
);
select results_eq(
  format($$select worker_id, attempt from pgflow.step_tasks where run_id = %L$$, :'run_id'),
  $$values ('first_worker', 1)$$,
  'the task stays with the first worker, attempt 1'
);

select finish();
rollback;
