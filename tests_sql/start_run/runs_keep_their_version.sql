-- A run keeps the flow version it started with: after the flow is redefined with another step, the running run
-- still has only its version's steps and completes without the new one, while a new run uses the new version.
begin;
select plan(5);

select pgflow.define_flow('keep_version', '[{"slug": "a"}]');
select run_id as old_run from pgflow.start_run('keep_version', '{}') \gset
select pgflow.define_flow('keep_version', '[{"slug": "a"}, {"slug": "b"}]');
select run_id as new_run from pgflow.start_run('keep_version', '{}') \gset

select is((select flow_version from pgflow.runs where run_id = :'old_run'), 1, 'the first run stays on version 1');
select is((select flow_version from pgflow.runs where run_id = :'new_run'), 2, 'the new run uses version 2');
select set_eq(
  format($$select step_slug from pgflow.step_states where run_id = %L$$, :'old_run'),
  array['a'],
  'the first run has only the steps of version 1'
);
select ok(pgflow_tests.complete(:'old_run', 'a', '"A"'), 'the first run''s step completes');
select is(
  (select output from pgflow.runs where run_id = :'old_run' and status = 'completed'), '{"a": "A"}'::jsonb,
  'the first run completes as version 1, without the new step'
);

select finish();
rollback;
