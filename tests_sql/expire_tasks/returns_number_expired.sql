-- expire_tasks() expires every started task past its deadline and returns how many it expired; tasks whose
-- deadline is ahead keep running, and a second call finds nothing.
begin;
select plan(5);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow(
  'expire_count',
  '[{"slug": "t5", "depends_on": [], "timeout": 5},
    {"slug": "t6", "depends_on": [], "timeout": 6},
    {"slug": "t100", "depends_on": [], "timeout": 100}]'
);
select run_id from pgflow.start_run('expire_count') \gset
select is((select count(*)::int from pgflow_tests.poll('expire_count')), 3, 'the three tasks start');

select pgflow_tests.set_now('2030-01-01 12:00:07+00');
select is(pgflow.expire_tasks(), 2, 'expire_tasks expires the two overdue attempts and says so');
select results_eq(
  format($$select step_slug, status from pgflow.step_tasks where run_id = %L order by step_slug$$, :'run_id'),
  $$values ('t100', 'started'), ('t5', 'queued'), ('t6', 'queued')$$,
  'the overdue tasks are queued for a retry, the other keeps running'
);
select is(
  (select count(*)::int from pgflow.step_tasks where run_id = :'run_id' and error like '%timed out%'), 2,
  'both expired tasks carry an error saying they timed out'
);
select is(pgflow.expire_tasks(), 0, 'a second call expires nothing');

select finish();
rollback;
