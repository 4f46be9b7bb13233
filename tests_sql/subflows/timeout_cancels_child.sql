-- A sub-flow step's own timeout is how long each child may run: past it a poll fails the attempt, cancels the child
-- and (attempts left) starts a new one. Without a step timeout, the flow's timeout never applies.
begin;
select plan(6);

select pgflow_tests.set_now('2030-01-01 00:00:00+00');
-- (a first poll notices the server's start now, so that no outage credit moves the deadlines below)
select count(*) from pgflow.poll_for_tasks('w', array['nothing']);
select pgflow.define_flow('sf_c', '[{"slug": "c"}]');
select
  pgflow.define_flow(
    'sf_p',
    '[{"slug": "sub", "flow": "sf_c", "timeout": 30, "max_attempts": 2},
      {"slug": "free", "flow": "sf_c", "depends_on": []}]',
    '{"timeout": 5}'
  );
select run_id from pgflow.start_run('sf_p', '{}') \gset
select pgflow_tests.child_run(:'run_id', 'sub') as child \gset
select is(
  (select deadline from pgflow.step_tasks where run_id = :'run_id' and step_slug = 'sub'),
  '2030-01-01 00:00:30+00'::timestamptz, 'the deadline is the step''s timeout from the start'
);

select pgflow_tests.set_now('2030-01-01 00:00:31+00');
select is_empty($$select * from pgflow.poll_for_tasks('w', array['nothing'])$$, 'a poll expires the attempt');
select is(pgflow_tests.run_status(:'child'), 'cancelled', 'the child is cancelled');
select matches(
  (select error from pgflow.step_tasks where run_id = :'run_id' and step_slug = 'sub'),
  '^attempt 1 timed out: its child run .* of flow ''sf_c'' did not finish within the step''s timeout of 30 s',
  'the task''s error names the child and the timeout'
);
select is(
  (select attempt from pgflow.step_tasks where run_id = :'run_id' and step_slug = 'sub'), 2,
  'attempt 2 is under way with a new child'
);
select is(
  pgflow_tests.step_status(:'run_id', 'free'), 'started',
  'a sub-flow step without its own timeout has no deadline (the flow''s 5 s does not apply)'
);

select finish();
rollback;
