-- A second signal, or a signal to a step that finished (completed, skipped), returns false and changes nothing.
begin;
select plan(5);

select pgflow.define_flow(
  'done_waits',
  '[{"slug": "a", "type": "wait"}, {"slug": "b", "type": "wait", "if": {"skip_b": false}},
    {"slug": "c", "depends_on": ["a", "b"]}]'
);
select run_id from pgflow.start_run('done_waits', '{"skip_b": true}') \gset

select is(pgflow_tests.step_status(:'run_id', 'b'), 'skipped', 'b is skipped (its condition is not met)');
select is(pgflow.signal(:'run_id', 'b', '1'), false, 'a signal to a skipped wait step returns false');
select is(pgflow.signal(:'run_id', 'a', '"first"'), true, 'the first signal to a is recorded');
select is(pgflow.signal(:'run_id', 'a', '"second"'), false, 'a second signal to a returns false');
select is(
  (select output from pgflow.step_states where run_id = :'run_id' and step_slug = 'a'), '"first"',
  'a keeps the first payload'
);

select finish();
rollback;
