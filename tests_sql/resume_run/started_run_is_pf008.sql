-- Resuming a started run raises PF008 and changes nothing.
begin;
select plan(3);

select pgflow_tests.define_diamond('resume_started');
select run_id from pgflow.start_run('resume_started', '{}') \gset
select pgflow_tests.claim(:'run_id', 'a');

select throws_ok(format('select pgflow.resume_run(%L)', :'run_id'), 'PF008', null, 'resuming a started run: PF008');
select is(pgflow_tests.run_status(:'run_id'), 'started', 'the run stays started');
select is(pgflow_tests.task_status(:'run_id', 'a'), 'started', 'its started task stays started');

select finish();
rollback;
