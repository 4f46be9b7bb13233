-- A child run that ended while its parent's rows were busy is left unsettled (parent_settled_at null); a poll settles
-- it: the parent task completes and cascades. A finished child whose parent task moved on (a later attempt) changes
-- nothing, and is marked settled.
begin;
select plan(7);

select pgflow.define_flow('sf_c', '[{"slug": "c"}]');
select pgflow.define_flow('sf_p', '[{"slug": "sub", "flow": "sf_c"}, {"slug": "next"}]');
select run_id from pgflow.start_run('sf_p', '{}') \gset
select pgflow_tests.child_run(:'run_id', 'sub') as child \gset

-- the child ends as it does when its parent was busy: finished, its result not taken
update pgflow.step_tasks set status = 'completed', output = '"w"', finished_at = pgflow.now() where run_id = :'child';
update pgflow.step_states set status = 'completed', remaining_tasks = 0, output = '"w"', finished_at = pgflow.now()
where run_id = :'child';
update pgflow.runs set status = 'completed', output = '{"c": "w"}', remaining_steps = 0, finished_at = pgflow.now()
where run_id = :'child';
select is((select parent_settled_at from pgflow.runs where run_id = :'child'), null, 'the finished child is unsettled');
select is(pgflow_tests.step_status(:'run_id', 'sub'), 'started', 'its parent task still waits');

select is_empty($$select * from pgflow.poll_for_tasks('w', array['nothing'])$$, 'a poll (of any flow) runs');
select is(
  (select output from pgflow.step_states where run_id = :'run_id' and step_slug = 'sub'), '{"c": "w"}'::jsonb,
  'the parent task completed with the child''s output'
);
select is(pgflow_tests.task_status(:'run_id', 'next'), 'queued', 'and the parent''s cascade ran');
select isnt((select parent_settled_at from pgflow.runs where run_id = :'child'), null, 'the child is settled');

-- an obsolete child: its parent task is at a later attempt
select run_id as run2 from pgflow.start_run('sf_p', '{}') \gset
select pgflow_tests.child_run(:'run2', 'sub') as old \gset
update pgflow.runs set parent_attempt = 0 where run_id = :'old';
select pgflow.cancel_run(:'old');
select ok(
  (select parent_settled_at is not null from pgflow.runs where run_id = :'old')
  and pgflow_tests.step_status(:'run2', 'sub') = 'started' and pgflow_tests.task_status(:'run2', 'sub') = 'started',
  'a child whose parent task moved on is settled and changes nothing'
);

select finish();
rollback;
