-- The shapes that used to block polls for good: two root outputs of about 140 MB each under a step that depends
-- on both, and a map of 300 outputs of 1 MB. Each output over the limit fails its own task when reported; the
-- map's report that takes its outputs past the limit fails its task; the runs end as when_exhausted says, and
-- polls go on claiming healthy work.
begin;
select plan(8);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow(
  'two_huge',
  '[{"slug": "a", "depends_on": []}, {"slug": "b", "depends_on": []}, {"slug": "both", "depends_on": ["a", "b"]}]'
);
select pgflow.define_flow('many_mb', '[{"slug": "m", "type": "map"}, {"slug": "agg", "depends_on": ["m"]}]');
select pgflow.define_flow('healthy', '[{"slug": "x"}]');

select run_id as huge from pgflow.start_run('two_huge') \gset
select count(*) from pgflow.poll_for_tasks('w', array['two_huge']);
select is(
  pgflow.complete_task(:'huge', 'a', 0, pg_catalog.to_jsonb(repeat('a', 140000000)), 1), false,
  'a 140 MB output is refused'
);
select is(pgflow_tests.run_status(:'huge'), 'failed', 'and fails the run (when_exhausted fail)');
select is(
  pgflow.complete_task(:'huge', 'b', 0, pg_catalog.to_jsonb(repeat('b', 140000000)), 1), false,
  'the other report is refused: its run has ended'
);

select run_id as wide from pgflow.start_run('many_mb', (select jsonb_agg(i) from generate_series(1, 300) as i)) \gset
select count(*) from pgflow.poll_for_tasks('w', array['many_mb'], 300);
select is(
  (
    select count(*)::int
    from generate_series(0, 299) as i
    where pgflow.complete_task(:'wide', 'm', i, pg_catalog.to_jsonb(repeat('m', 1000000)), 1)
  ),
  (pgflow.max_output_size() / pgflow._json_size(pg_catalog.to_jsonb(repeat('m', 1000000))))::int,
  'the outputs of 1 MB are recorded until the next would take the step past 64 MiB'
);
select is(
  (select count(*)::int from pgflow.step_tasks where run_id = :'wide' and status = 'failed'), 1,
  'that one fails its task'
);
select is(pgflow_tests.run_status(:'wide'), 'failed', 'and its run');
select is(
  (select count(*)::int from pgflow.step_tasks where run_id = :'wide' and status in ('queued', 'started')), 0,
  'nothing of the run is left to claim'
);

select pgflow.start_run('healthy');
select is(
  (select array_agg(step_slug) from pgflow.poll_for_tasks('w', null)), array['x'], 'polls claim healthy work'
);

select finish();
rollback;
