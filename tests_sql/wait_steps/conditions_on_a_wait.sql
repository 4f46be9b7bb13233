-- Conditions apply to a wait step like to any step, against the input it would receive: unmet, the step is
-- skipped without waiting (no task); met, it waits.
begin;
select plan(6);

select pgflow.define_flow(
  'check',
  '[{"slug": "score"},
    {"slug": "review", "type": "wait", "depends_on": ["score"], "if": {"score": {"risky": true}}},
    {"slug": "done", "depends_on": ["review", "score"]}]'
);

select run_id as safe_id from pgflow.start_run('check', '{}') \gset
select pgflow_tests.complete(:'safe_id', 'score', '{"risky": false}');
select is(pgflow_tests.step_status(:'safe_id', 'review'), 'skipped', 'unmet: the wait step is skipped');
select is_empty(
  format($$select from pgflow.step_tasks where run_id = %L and step_slug = 'review'$$, :'safe_id'),
  'unmet: it has no task'
);
select is(pgflow_tests.step_status(:'safe_id', 'done'), 'started', 'unmet: its dependent runs without it');

select run_id as risky_id from pgflow.start_run('check', '{}') \gset
select pgflow_tests.complete(:'risky_id', 'score', '{"risky": true}');
select is(pgflow_tests.step_status(:'risky_id', 'review'), 'started', 'met: the wait step waits');
select is(pgflow_tests.step_status(:'risky_id', 'done'), 'created', 'met: its dependent waits too');
select ok(pgflow.signal(:'risky_id', 'review', '"ok"'), 'met: a signal completes it');

select finish();
rollback;
