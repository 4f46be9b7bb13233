-- A second start_run with the same flow and idempotency_key returns the first run (with its input) and creates
-- nothing: no run, no step state, no task.
begin;
select plan(6);

select pgflow_tests.define_diamond('idem_first_run');
select run_id as first_id from pgflow.start_run('idem_first_run', '{"n": 1}', idempotency_key => 'order-42') \gset
select count(*) as states_before from pgflow.step_states \gset
select count(*) as tasks_before from pgflow.step_tasks \gset

select * from pgflow.start_run('idem_first_run', '{"n": 2}', idempotency_key => 'order-42') \gset second_

select is(:'second_run_id'::uuid, :'first_id'::uuid, 'the second call returns the first run');
select is(:'second_input'::jsonb, '{"n": 1}'::jsonb, 'the returned run carries the first input');
select is(:'second_status'::text, 'started', 'the returned run is the started first run');
select is(
  (select count(*)::int from pgflow.runs where flow_slug = 'idem_first_run'), 1, 'no second run is created'
);
select is((select count(*) from pgflow.step_states), :states_before::bigint, 'no step state is created');
select is((select count(*) from pgflow.step_tasks), :tasks_before::bigint, 'no task is created');

select finish();
rollback;
