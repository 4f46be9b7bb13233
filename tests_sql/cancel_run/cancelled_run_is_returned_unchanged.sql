-- Cancelling a cancelled run returns it unchanged: same status, same finished_at (even later on the clock), same
-- reason, and its tasks and step states are not touched again.
begin;
select plan(3);

select pgflow_tests.set_now('2024-03-01 12:00:00+00');
select pgflow_tests.define_diamond('cancel_twice');
select run_id from pgflow.start_run('cancel_twice', '{}') \gset
select to_jsonb(r) as first_json from pgflow.cancel_run(:'run_id', 'first reason') as r \gset
select pgflow_tests.run_snapshot(:'run_id') as after_first \gset

select pgflow_tests.advance(interval '1 minute');
select to_jsonb(r) as second_json from pgflow.cancel_run(:'run_id', 'second reason') as r \gset

select is(:'second_json'::jsonb, :'first_json'::jsonb, 'the second cancel returns the run as the first left it');
select is(
  :'second_json'::jsonb ->> 'status', 'cancelled', 'the returned run is cancelled'
);
select is(
  pgflow_tests.run_snapshot(:'run_id'), :'after_first'::jsonb,
  'the run, its step states and its tasks are unchanged (status, finished_at, reason)'
);

select finish();
rollback;
