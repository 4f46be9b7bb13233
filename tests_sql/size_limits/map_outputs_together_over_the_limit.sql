-- A map step whose outputs fit one by one but not together: the report that takes the step's outputs past
-- pgflow.max_output_size() fails its task without retry (the step's when_exhausted then applies), before the
-- aggregate is ever built; the reports before it are recorded.
begin;
select plan(5);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow(
  'wide_big', '[{"slug": "m", "type": "map", "max_attempts": 3}, {"slug": "after", "depends_on": ["m"]}]'
);
select run_id from pgflow.start_run('wide_big', '[0, 1, 2]') \gset
select count(*) from pgflow.poll_for_tasks('w', array['wide_big']);

-- about 30 MB each: two fit together, three do not
select is(
  pgflow.complete_task(:'run_id', 'm', 0, pg_catalog.to_jsonb(repeat('a', 30000000)), 1), true, 'first output'
);
select is(
  pgflow.complete_task(:'run_id', 'm', 1, pg_catalog.to_jsonb(repeat('b', 30000000)), 1), true, 'second output'
);
select is(
  pgflow.complete_task(:'run_id', 'm', 2, pg_catalog.to_jsonb(repeat('c', 30000000)), 1), false,
  'the third would take the step past the limit: not recorded'
);
select alike(
  (select error from pgflow.runs where run_id = :'run_id'),
  '%output of wide_big.m is too large to store: with it the outputs of step ''m'' would add up to % bytes, '
  || 'more than the limit of 67108864 bytes%',
  'the run fails with an error naming the map step and the limit'
);
select is(pgflow_tests.run_status(:'run_id'), 'failed', 'when_exhausted fail fails the run at the first attempt');

select finish();
rollback;
