-- get_task_input gives what a task receives, as poll_for_tasks builds it: the run input for a root step, a map
-- task's element, {dependency: output} over the completed dependencies (a skipped one absent); PF007 for a task
-- that does not exist, PF005 for null arguments.
begin;
select plan(6);

select pgflow.define_flow(
  'gti',
  '[{"slug": "root"}, {"slug": "skipped", "depends_on": [], "if": {"never": true}},
    {"slug": "join", "depends_on": ["root", "skipped"]}, {"slug": "each", "type": "map", "depends_on": ["root"]}]'
);
select run_id from pgflow.start_run('gti', '{"x": 1}') \gset
select is(pgflow.get_task_input(:'run_id', 'root', 0), '{"x": 1}'::jsonb, 'a root step receives the run input');
select ok(pgflow_tests.complete(:'run_id', 'root', '[10, 20]'), 'root completes');
select is(
  pgflow.get_task_input(:'run_id', 'join', 0), '{"root": [10, 20]}'::jsonb,
  'a dependent step receives its completed dependencies, the skipped one absent'
);
select is(pgflow.get_task_input(:'run_id', 'each', 1), '20'::jsonb, 'a map task receives its element');
select throws_ok(
  format($$select pgflow.get_task_input(%L, 'each', 7)$$, :'run_id'), 'PF007', null, 'an unknown task is PF007'
);
select throws_ok($$select pgflow.get_task_input(null, 'each', 0)$$, 'PF005', null, 'a null run is PF005');

select finish();
rollback;
