-- A report of an attempt past its deadline, with no poll in between to expire it, is not recorded: the attempt is
-- expired by the report itself, exactly as the next expiry pass would do it (same error, retried while attempts
-- are left, else exhausted), and complete_task returns false.
begin;
select plan(9);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow('late_report', '[{"slug": "only", "timeout": 1, "max_attempts": 2, "base_delay": 0}]');
select run_id as by_report from pgflow.start_run('late_report') \gset
select run_id as by_expiry from pgflow.start_run('late_report') \gset
select is((select count(*)::int from pgflow_tests.poll('late_report')), 2, 'both attempts 1 start (1 s timeout)');

-- 25 s later, no poll came: the handler of one run reports, the other run is expired by an expiry pass
select pgflow_tests.set_now('2030-01-01 12:00:25+00');
select is(pgflow.complete_task(:'by_report', 'only', 0, '"late"', 1), false, 'the late report returns false');
select is(pgflow.expire_tasks(), 1, 'the expiry pass finds only the other run''s attempt');
select results_eq(
  format($$select status, attempt, error, visible_at, output from pgflow.step_tasks where run_id = %L$$, :'by_report'),
  format($$select status, attempt, error, visible_at, output from pgflow.step_tasks where run_id = %L$$, :'by_expiry'),
  'the late report left its task exactly as the expiry pass left the other'
);
select results_eq(
  format($$select status, error from pgflow.step_tasks where run_id = %L$$, :'by_report'),
  $$values ('queued', 'attempt 1 timed out: no result by its deadline 2030-01-01 12:00:01+00')$$,
  'queued again for its retry, with the expiry''s error'
);
select is(pgflow_tests.step_status(:'by_report', 'only'), 'started', 'the step is not completed');
select is(pgflow_tests.run_status(:'by_report'), 'started', 'the run is not completed');

-- attempt 2 is late too: it was the last, so the step and the run fail as on expiry
select count(*) from pgflow_tests.poll('late_report');
select pgflow_tests.set_now('2030-01-01 12:00:30+00');
select is(pgflow.complete_task(:'by_report', 'only', 0, '"late again"', null), false, 'a late report without attempt');
select results_eq(
  format($$select status, error from pgflow.runs where run_id = %L$$, :'by_report'),
  $$values ('failed', 'step ''only'' failed after 2 attempt(s): attempt 2 timed out: no result by its deadline '
            '2030-01-01 12:00:26+00')$$,
  'the last attempt is exhausted: the run fails as it would on expiry'
);

select finish();
rollback;
