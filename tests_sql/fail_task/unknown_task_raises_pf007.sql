-- fail_task for a task that does not exist raises PF007: an unknown run, an unknown step of a known run, and a
-- task index that the step does not have.
begin;
select plan(3);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow('fail_unknown', '[{"slug": "only"}]');
select run_id from pgflow.start_run('fail_unknown') \gset
select count(*) from pgflow_tests.poll('fail_unknown');

select throws_ok(
  $$select pgflow.fail_task('00000000-0000-0000-0000-000000000000', 'only', 0, 'boom')$$,
  'PF007', null, 'an unknown run raises PF007'
);
select throws_ok(
  format($$select pgflow.fail_task(%L, 'no_such_step', 0, 'boom')$$, :'run_id'),
  'PF007', null, 'an unknown step raises PF007'
);
select throws_ok(
  format($$select pgflow.fail_task(%L, 'only', 1, 'boom')$$, :'run_id'),
  'PF007', null, 'an unknown task index raises PF007'
);

select finish();
rollback;
