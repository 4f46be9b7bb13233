-- start_delay on a map step delays every one of its tasks by the same amount.
begin;
select plan(2);

select pgflow_tests.set_now('2030-01-01 00:00:00+00');
select pgflow.define_flow('delay_map', '[{"slug": "each", "type": "map", "start_delay": 3}]');
select pgflow.start_run('delay_map', '[1, 2, 3]');

select pgflow_tests.set_now('2030-01-01 00:00:02.5+00');
select is_empty($$select * from pgflow_tests.poll('delay_map')$$, 'no map task is visible before 3 s');

select pgflow_tests.set_now('2030-01-01 00:00:03+00');
select results_eq(
  $$select task_index, input from pgflow_tests.poll('delay_map') order by task_index$$,
  $$values (0, '1'::jsonb), (1, '2'), (2, '3')$$,
  'every map task is claimable at 3 s'
);

select finish();
rollback;
