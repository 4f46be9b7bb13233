-- The cap counts started tasks only: cancelling the run of a started task frees its slot at once, and resuming
-- that run queues its task again, claimed only when the cap allows it.
begin;
select plan(7);

select pgflow.define_flow('cap_cancel', '[{"slug": "work", "concurrency": 1}]');
select run_id as first_run from pgflow.start_run('cap_cancel', '{"n": 1}') \gset
select run_id as second_run from pgflow.start_run('cap_cancel', '{"n": 2}') \gset

select results_eq(
  $$select run_id from pgflow_tests.poll('cap_cancel')$$, array[:'first_run'::uuid],
  'the first run''s task is claimed, the second waits for the cap'
);

select pgflow.cancel_run(:'first_run');
select results_eq(
  $$select run_id from pgflow_tests.poll('cap_cancel')$$, array[:'second_run'::uuid],
  'cancelling the first run freed the slot: the second run''s task is claimed'
);

select is((pgflow.resume_run(:'first_run')).status, 'started', 'the first run is resumed');
select is(pgflow_tests.task_status(:'first_run', 'work'), 'queued', 'its task is queued again');
select is(pgflow_tests.poll_all('cap_cancel'), 0, 'but not claimed while the second run''s task is started');

select is(pgflow_tests.complete_started('cap_cancel'), 1, 'the second run''s task completes');
select results_eq(
  $$select run_id from pgflow_tests.poll('cap_cancel')$$, array[:'first_run'::uuid],
  'then the resumed task is claimed'
);

select finish();
rollback;
