-- One output too large to store (over pgflow.max_output_size()) in a batch of completions: that report fails
-- its task at once, without retry, with an error naming the limit, and the batch's other reports are recorded.
begin;
select plan(7);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow('big_one', '[{"slug": "m", "type": "map", "max_attempts": 3, "when_exhausted": "skip"}]');
select run_id from pgflow.start_run('big_one', '[0, 1, 2, 3]') \gset
select count(*) from pgflow.poll_for_tasks('w', array['big_one']);

select is(
  pgflow.complete_tasks(
    array[:'run_id', :'run_id', :'run_id', :'run_id']::uuid[], array['m', 'm', 'm', 'm'], array[0, 1, 2, 3],
    array['0', pg_catalog.to_jsonb(repeat('x', pgflow.max_output_size()::int)), '2', '3']::jsonb[],
    array[1, 1, 1, 1]
  ),
  array[true, false, true, true],
  'the oversized report is not recorded, the three others are'
);
select is(pgflow_tests.task_status(:'run_id', 'm', 1), 'failed', 'its task failed at its first attempt of three');
select alike(
  (select error from pgflow.step_tasks where run_id = :'run_id' and step_slug = 'm' and task_index = 1),
  'output of big_one.m is too large to store: % bytes, more than the limit of 67108864 bytes%',
  'the error names the size and the limit'
);
select is(
  (select array_agg(status order by task_index) from pgflow.step_tasks where run_id = :'run_id'),
  array['completed', 'failed', 'completed', 'completed'],
  'the other tasks completed'
);
select is(pgflow_tests.step_status(:'run_id', 'm'), 'skipped', 'when_exhausted skip applies');
select is(pgflow_tests.run_status(:'run_id'), 'completed', 'the run goes on without the step');
select is(
  pgflow.complete_task(:'run_id', 'm', 1, '1', 1), false, 'a second report for the failed task is refused'
);

select finish();
rollback;
