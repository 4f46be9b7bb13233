-- start_flow(flow_slug, input, run_id, priority) is the pgflow-compatible alias of start_run (priority, last and
-- defaulted, keeps pgflow's positional calls working): it returns setof pgflow.runs with the one started run,
-- which has its step states and root tasks like any run.
begin;
select plan(6);

select pgflow_tests.define_diamond('start_flow_alias');

select function_returns(
  'pgflow', 'start_flow', array['text', 'jsonb', 'uuid', 'integer'], 'setof pgflow.runs',
  'start_flow returns setof pgflow.runs'
);

create temp table started on commit drop as
select * from pgflow.start_flow('start_flow_alias', '{"n": 7}');

select is((select count(*)::int from started), 1, 'start_flow returns one row');
select is(
  (select count(*)::int from pgflow.runs where flow_slug = 'start_flow_alias'), 1, 'one run is created'
);
select results_eq(
  $$select run_id, status, input from started$$,
  $$select run_id, status, input from pgflow.runs where flow_slug = 'start_flow_alias'$$,
  'the returned row is the stored started run with its input'
);
select is(
  (select count(*)::int from pgflow.step_states where run_id = (select run_id from started)), 4,
  'the run has one step state per step'
);
select results_eq(
  $$select step_slug, input from pgflow_tests.poll('start_flow_alias')$$,
  $$values ('a', '{"n": 7}'::jsonb)$$,
  'the root task is claimable with the run input'
);

select finish();
rollback;
