-- A poll first expires started tasks past their deadline: the attempt counts as failed with an error saying it
-- timed out, and the task is retried after the retry delay (base_delay 1 s) as attempt 2.
begin;
select plan(8);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow('expire_by_poll', '[{"slug": "slow", "timeout": 10, "max_attempts": 3}]');
select run_id from pgflow.start_run('expire_by_poll') \gset
select is((select attempt from pgflow_tests.poll('expire_by_poll')), 1, 'attempt 1 starts, deadline 12:00:10');

select pgflow_tests.set_now('2030-01-01 12:00:09+00');
select is_empty($$select * from pgflow_tests.poll('expire_by_poll')$$, 'a poll before the deadline claims nothing');
select is((pgflow_tests.task_row(:'run_id', 'slow')).status, 'started', 'and leaves the attempt running');

select pgflow_tests.set_now('2030-01-01 12:00:10.5+00');
select is_empty(
  $$select * from pgflow_tests.poll('expire_by_poll')$$,
  'a poll past the deadline does not hand it out before the delay'
);
select is((pgflow_tests.task_row(:'run_id', 'slow')).status, 'queued', 'the overdue attempt was failed and queued');
select matches(
  (pgflow_tests.task_row(:'run_id', 'slow')).error, 'timed out', 'the recorded error says the attempt timed out'
);
select is(
  (pgflow_tests.task_row(:'run_id', 'slow')).visible_at, '2030-01-01 12:00:11.5+00'::timestamptz,
  'the retry is due one second (base_delay) after the expiry'
);

select pgflow_tests.set_now('2030-01-01 12:00:11.5+00');
select is((select attempt from pgflow_tests.poll('expire_by_poll')), 2, 'the retry is claimed as attempt 2');

select finish();
rollback;
