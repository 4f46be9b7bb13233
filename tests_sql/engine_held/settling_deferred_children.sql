-- A child run whose end its parent task has not taken yet (its parent's rows were busy when it ended) is settled
-- by expire_tasks() as by a poll, so a deployment where nothing polls (waits and sub-flows need no worker) goes on.
-- It is settled before expiry: a child that finished before its sub-flow step's deadline completes the parent task
-- even when the poll comes after the deadline. prune_runs keeps it until it is settled.
begin;
select plan(8);

select pgflow_tests.set_now('2030-01-01 00:00:00+00');
select pgflow.define_flow('ehs_c', '[{"slug": "c"}]');
select pgflow.define_flow('ehs_p', '[{"slug": "sub", "flow": "ehs_c", "timeout": 30}, {"slug": "next"}]');

-- the child ends at 10 s as it does when its parent was busy: finished, its result not taken
create function pg_temp.end_unsettled(child uuid) returns void language sql as $$
  update pgflow.step_tasks set status = 'completed', output = '"w"', finished_at = pgflow.now() where run_id = child;
  update pgflow.step_states set status = 'completed', remaining_tasks = 0, output = '"w"', finished_at = pgflow.now()
  where run_id = child;
  update pgflow.runs set status = 'completed', output = '{"c": "w"}', remaining_steps = 0, finished_at = pgflow.now()
  where run_id = child;
$$;

select run_id as run1 from pgflow.start_run('ehs_p', '{}') \gset
select pgflow_tests.child_run(:'run1', 'sub') as child1 \gset
select pgflow_tests.set_now('2030-01-01 00:00:10+00');
select pg_temp.end_unsettled(:'child1');

select pgflow_tests.set_now('2031-01-01 00:00:00+00');
select is(pgflow.prune_runs('1 day'), 0, 'prune_runs keeps a finished child that is not settled');
select pgflow.expire_tasks();
select is(
  (select output from pgflow.step_states where run_id = :'run1' and step_slug = 'sub'), '{"c": "w"}'::jsonb,
  'expire_tasks() settled it: the parent task completed with the child''s output'
);
select is(pgflow_tests.task_status(:'run1', 'next'), 'queued', 'and the parent''s cascade ran');
select is(pgflow.prune_runs('1 day'), 1, 'once settled, the child can be pruned');

-- the same child finished in time, but the first poll comes after the sub-flow step's deadline
select pgflow_tests.set_now('2032-01-01 00:00:00+00');
select run_id as run2 from pgflow.start_run('ehs_p', '{}') \gset
select pgflow_tests.child_run(:'run2', 'sub') as child2 \gset
select pgflow_tests.set_now('2032-01-01 00:00:10+00');
select pg_temp.end_unsettled(:'child2');
select pgflow_tests.set_now('2032-01-01 00:01:00+00');
select is_empty($$select * from pgflow.poll_for_tasks('w', array['nothing'])$$, 'a poll at 60 s, past the deadline');
select is(pgflow_tests.step_status(:'run2', 'sub'), 'completed', 'the step completed with the child, in time');
select is(
  (select error from pgflow.step_tasks where run_id = :'run2' and step_slug = 'sub'), null,
  'no timeout was recorded'
);
select is(pgflow_tests.child_count(:'run2'), 1, 'and no new child was started');

select finish();
rollback;
