-- complete_tasks takes parallel arrays: arrays of different lengths are PF005, and nothing is recorded.
begin;
select plan(2);

select pgflow_tests.define_diamond('batch_mismatch');
select run_id from pgflow.start_run('batch_mismatch', '{}') \gset
select pgflow_tests.claim(:'run_id', 'a');

select throws_ok(
  format(
    $$select pgflow.complete_tasks(array[%L]::uuid[], array['a'], array[0, 1], array['1']::jsonb[])$$, :'run_id'
  ),
  'PF005',
  'complete_tasks needs arrays of the same length: run_ids, step_slugs, task_indexes, outputs and attempts '
  || '(or null attempts)',
  'arrays of different lengths are refused'
);
select is(pgflow_tests.task_status(:'run_id', 'a'), 'started', 'nothing was recorded');

select finish();
rollback;
