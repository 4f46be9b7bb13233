-- `if_not`: the step runs only when its input does not contain the pattern; when it does, the step is skipped.
begin;
select plan(4);

select pgflow.define_flow('cond_if_not', '[{"slug": "send_email", "if_not": {"opt_out": true}}]');
select run_id as plain_run from pgflow.start_run('cond_if_not', '{"email": "a@x"}') \gset
select run_id as false_run from pgflow.start_run('cond_if_not', '{"email": "b@x", "opt_out": false}') \gset
select run_id as out_run from pgflow.start_run('cond_if_not', '{"email": "c@x", "opt_out": true}') \gset

select is(pgflow_tests.step_status(:'plain_run', 'send_email'), 'started', 'an input without the key runs');
select is(
  pgflow_tests.step_status(:'false_run', 'send_email'), 'started', 'an input with another value runs'
);
select is(pgflow_tests.step_status(:'out_run', 'send_email'), 'skipped', 'an input containing the pattern skips');
select set_eq(
  $$select input from pgflow_tests.poll('cond_if_not')$$,
  $$values ('{"email": "a@x"}'::jsonb), ('{"email": "b@x", "opt_out": false}')$$,
  'only the runs without the pattern have a claimable task'
);

select finish();
rollback;
