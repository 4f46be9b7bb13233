-- A run's output is the object of its leaf steps' outputs. When those fit one by one but not together, the run
-- fails with an error naming the limit once its last step completes (its steps stay completed), instead of a
-- report that cannot be recorded; reading its status and polling go on working.
begin;
select plan(6);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow(
  'wide_leaves',
  '[{"slug": "l1", "depends_on": []}, {"slug": "l2", "depends_on": []}, {"slug": "l3", "depends_on": []}]'
);
select pgflow.define_flow('healthy', '[{"slug": "x"}]');
select run_id from pgflow.start_run('wide_leaves') \gset
select count(*) from pgflow.poll_for_tasks('w', array['wide_leaves']);

select is(pgflow.complete_task(:'run_id', 'l1', 0, pg_catalog.to_jsonb(repeat('a', 30000000)), 1), true, 'l1');
select is(pgflow.complete_task(:'run_id', 'l2', 0, pg_catalog.to_jsonb(repeat('b', 30000000)), 1), true, 'l2');
select is(
  pgflow.complete_task(:'run_id', 'l3', 0, pg_catalog.to_jsonb(repeat('c', 30000000)), 1), true,
  'the last report is recorded'
);
select alike(
  (select status || ': ' || error from pgflow.runs where run_id = :'run_id'),
  'failed: the run''s output, the outputs of its leaf steps ''l1, l2, l3'' together, would be % bytes, more than '
  || 'the limit of 67108864 bytes%',
  'the run fails, naming its leaf steps and the limit'
);
select is(
  (pgflow.get_run_status(:'run_id') -> 'completed_steps')::int, 3, 'its status is read, every step completed'
);
select pgflow.start_run('healthy');
select is(
  (select array_agg(step_slug) from pgflow.poll_for_tasks('w', null)), array['x'], 'polls claim healthy work'
);

select finish();
rollback;
