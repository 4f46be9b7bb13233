-- Outputs that fit one by one but not together as a dependent's input: the dependent step fails when it
-- becomes ready, with an error naming the limit (its when_exhausted applies), instead of a claim that cannot
-- build its input. Polls go on working: healthy tasks of other runs are claimed as before.
begin;
select plan(6);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow(
  'two_big',
  '[{"slug": "a", "depends_on": []}, {"slug": "b", "depends_on": []},
    {"slug": "join", "depends_on": ["a", "b"], "when_exhausted": "skip"},
    {"slug": "after", "depends_on": ["join"]}]'
);
select pgflow.define_flow('healthy', '[{"slug": "x"}]');
select run_id from pgflow.start_run('two_big') \gset
select count(*) from pgflow.poll_for_tasks('w', array['two_big']);

select is(pgflow.complete_task(:'run_id', 'a', 0, pg_catalog.to_jsonb(repeat('a', 40000000)), 1), true, 'a completes');
select is(pgflow.complete_task(:'run_id', 'b', 0, pg_catalog.to_jsonb(repeat('b', 40000000)), 1), true, 'b completes');
select is(pgflow_tests.step_status(:'run_id', 'join'), 'skipped', 'join cannot be given its input: it is skipped');
select alike(
  (select error from pgflow.step_states where run_id = :'run_id' and step_slug = 'join'),
  'input of step ''join'' would be % bytes (the outputs of its dependencies together), '
  || 'more than the limit of 67108864 bytes%',
  'its error names the size and the limit'
);
select is(pgflow_tests.step_status(:'run_id', 'after'), 'started', 'the dependent runs without it');
select pgflow.start_run('healthy');
select is(
  (select array_agg(step_slug order by step_slug) from pgflow.poll_for_tasks('w', null)), array['after', 'x'],
  'polls claim the other tasks as before'
);

select finish();
rollback;
