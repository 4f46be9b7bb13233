-- A step whose `if` pattern is contained in its input runs normally: it starts, its task is claimable with its
-- usual input, and the run completes with its output.
begin;
select plan(5);

select pgflow.define_flow(
  'cond_if_met',
  '[{"slug": "check"}, {"slug": "notify", "depends_on": ["check"], "if": {"check": {"ok": true}}}]'
);
select run_id from pgflow.start_run('cond_if_met', '{}') \gset

select pgflow_tests.complete(:'run_id', 'check', '{"ok": true, "score": 9}');
select is(pgflow_tests.step_status(:'run_id', 'notify'), 'started', 'the step starts');
select is(pgflow_tests.task_status(:'run_id', 'notify'), 'queued', 'its task is queued');
select is(
  (select input from pgflow_tests.poll('cond_if_met') where step_slug = 'notify'),
  '{"check": {"ok": true, "score": 9}}'::jsonb,
  'it receives its usual input'
);
select ok(pgflow.complete_task(:'run_id', 'notify', 0, '"sent"'), 'it completes');
select is(
  (select output from pgflow.runs where run_id = :'run_id'), '{"notify": "sent"}'::jsonb,
  'the run completes with its output'
);

select finish();
rollback;
