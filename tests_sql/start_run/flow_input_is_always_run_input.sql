-- Every claimed task, whatever its step (root single, dependent single, map element), carries the run input as
-- flow_input (SPEC 3.3).
begin;
select plan(4);

select pgflow.define_flow(
  'flow_input_always',
  '[{"slug": "root"},
    {"slug": "dependent", "depends_on": ["root"]},
    {"slug": "each", "type": "map", "depends_on": ["root"]}]'
);
select run_id from pgflow.start_run('flow_input_always', '{"tenant": "acme"}') \gset

select is(
  (select flow_input from pgflow_tests.poll('flow_input_always') where step_slug = 'root'), '{"tenant": "acme"}'::jsonb,
  'the root task carries the run input'
);
select pgflow.complete_task(:'run_id', 'root', 0, '["x", "y"]');

create temp table polled on commit drop as
select * from pgflow_tests.poll('flow_input_always');

select is(
  (select flow_input from polled where step_slug = 'dependent'), '{"tenant": "acme"}'::jsonb,
  'the dependent task carries the run input'
);
select is(
  (select count(*)::int from polled where step_slug = 'each'), 2, 'both map tasks are claimed'
);
select ok(
  (select bool_and(flow_input = '{"tenant": "acme"}'::jsonb) from polled where step_slug = 'each'),
  'every map task carries the run input'
);

select finish();
rollback;
