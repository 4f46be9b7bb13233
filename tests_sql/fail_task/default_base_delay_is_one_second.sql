-- Without delay options the first retry comes after the default base_delay of 1 s, the second after 2 s.
begin;
select plan(6);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow('default_delay', '[{"slug": "flaky"}]');
select run_id from pgflow.start_run('default_delay') \gset

select ok(pgflow_tests.fail(:'run_id', 'flaky', 'failure 1'), 'attempt 1 fails at 12:00:00');
select pgflow_tests.set_now('2030-01-01 12:00:00.9+00');
select is_empty($$select * from pgflow_tests.poll('default_delay')$$, 'not claimable 0.9 s later');
select pgflow_tests.set_now('2030-01-01 12:00:01+00');
select is((select attempt from pgflow_tests.poll('default_delay')), 2, 'claimable 1 s later, as attempt 2');

select ok(pgflow.fail_task(:'run_id', 'flaky', 0, 'failure 2', 2), 'attempt 2 fails at 12:00:01');
select pgflow_tests.set_now('2030-01-01 12:00:02.9+00');
select is_empty($$select * from pgflow_tests.poll('default_delay')$$, 'not claimable 1.9 s later');
select pgflow_tests.set_now('2030-01-01 12:00:03+00');
select is((select attempt from pgflow_tests.poll('default_delay')), 3, 'claimable 2 s later, as attempt 3');

select finish();
rollback;
