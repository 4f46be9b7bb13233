-- A wait step without a timeout of its own waits for ever: the flow's timeout does not apply to it.
begin;
select plan(4);

select pgflow_tests.set_now('2030-01-01 00:00:00+00');
select pgflow.define_flow('forever', '[{"slug": "approval", "type": "wait"}]', '{"timeout": 5}');
select run_id from pgflow.start_run('forever', '{}') \gset
select pgflow.expire_tasks();  -- (the engine notices the server's start now)

select is(
  (select timeout from pgflow.steps where flow_slug = 'forever' and step_slug = 'approval'), null,
  'the step has no timeout'
);
select is(
  (select deadline from pgflow.step_tasks where run_id = :'run_id'), null, 'its task has no deadline'
);
select pgflow_tests.set_now('2031-01-02 00:00:00+00');
select is(pgflow.expire_tasks(), 0, 'a year later nothing expires');
select is(pgflow.signal(:'run_id', 'approval', '1'), true, 'and a signal still completes it');

select finish();
rollback;
