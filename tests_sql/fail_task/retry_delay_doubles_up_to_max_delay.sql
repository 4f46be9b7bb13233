-- Retry delays with base_delay 1, max_delay 3, max_attempts 5: the retry after failure n is claimable
-- min(3, 2^(n-1)) seconds later: 1 s, then 2 s, then 3 s (capped, not 4 s). A poll just before each due time
-- returns nothing; a poll at the due time returns the task as the next attempt.
begin;
select plan(12);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow(
  'retry_delays', '[{"slug": "flaky", "base_delay": 1, "max_delay": 3, "max_attempts": 5}]'
);
select run_id from pgflow.start_run('retry_delays') \gset
select is((select attempt from pgflow_tests.poll('retry_delays')), 1, 'attempt 1 starts at 12:00:00');

-- failure 1 at 12:00:00: due at 12:00:01
select ok(pgflow.fail_task(:'run_id', 'flaky', 0, 'failure 1', 1), 'attempt 1 fails');
select pgflow_tests.set_now('2030-01-01 12:00:00.9+00');
select is_empty($$select * from pgflow_tests.poll('retry_delays')$$, 'not claimable 0.9 s after failure 1');
select pgflow_tests.set_now('2030-01-01 12:00:01+00');
select is((select attempt from pgflow_tests.poll('retry_delays')), 2, 'claimable 1 s after failure 1, as attempt 2');

-- failure 2 at 12:00:01: due at 12:00:03
select ok(pgflow.fail_task(:'run_id', 'flaky', 0, 'failure 2', 2), 'attempt 2 fails');
select pgflow_tests.set_now('2030-01-01 12:00:02.9+00');
select is_empty($$select * from pgflow_tests.poll('retry_delays')$$, 'not claimable 1.9 s after failure 2');
select pgflow_tests.set_now('2030-01-01 12:00:03+00');
select is((select attempt from pgflow_tests.poll('retry_delays')), 3, 'claimable 2 s after failure 2, as attempt 3');

-- failure 3 at 12:00:03: 4 s capped to 3 s, due at 12:00:06
select ok(pgflow.fail_task(:'run_id', 'flaky', 0, 'failure 3', 3), 'attempt 3 fails');
select is(
  (pgflow_tests.task_row(:'run_id', 'flaky')).visible_at, '2030-01-01 12:00:06+00'::timestamptz,
  'the third delay is capped at max_delay: due 3 s later'
);
select pgflow_tests.set_now('2030-01-01 12:00:05.9+00');
select is_empty($$select * from pgflow_tests.poll('retry_delays')$$, 'not claimable 2.9 s after failure 3');
select pgflow_tests.set_now('2030-01-01 12:00:06+00');
select is((select attempt from pgflow_tests.poll('retry_delays')), 4, 'claimable 3 s (not 4 s) after failure 3');
select is((pgflow_tests.task_row(:'run_id', 'flaky')).status, 'started', 'attempt 4 is running');

select finish();
rollback;
