-- pgflow.fake_now is a test harness's clock: honoured for a superuser or the owner of the pgflow schema,
-- ignored (the transaction time) in a session of any other role, so no session can move the clock that
-- decides deadlines and retries for everyone's work: a poll of such a session with the clock set a day ahead
-- does not expire another worker's task (the poll runs with the owner's rights, the clock still follows the
-- session's user).
begin;
select plan(5);

create role pgflow_clock_tester nologin in role pgflow_worker;
-- pgflow.now() is the owner's alone; granted here to read the clock as that session sees it
grant execute on function pgflow.now(), pgflow._fake_now() to pgflow_clock_tester;

select pgflow.define_flow('clock', '[{"slug": "a"}]');
select run_id from pgflow.start_run('clock') \gset
select pgflow.heartbeat('honest');
select count(*) from pgflow.poll_for_tasks('honest', array['clock']);

select set_config('pgflow.fake_now', '2030-06-07 08:09:10+00', true);
select is(pgflow.now(), '2030-06-07 08:09:10+00'::timestamptz, 'a superuser session gets the fake time');

set local session authorization pgflow_clock_tester;
select is(pgflow.now(), transaction_timestamp(), 'another role''s session gets the transaction time');
select set_config('pgflow.fake_now', 'not a time', true);
select is(pgflow.now(), transaction_timestamp(), 'even a malformed setting is ignored there');
select set_config('pgflow.fake_now', (now() + interval '1 day')::text, true);
select is(
  (select count(*)::int from pgflow.poll_for_tasks('thief', array['clock'])), 0, 'a poll a day ahead claims nothing'
);
reset session authorization;
select is(
  (select attempt::text || ' ' || status from pgflow.step_tasks where run_id = :'run_id'), '1 started',
  'the other worker''s task was not expired'
);

select finish();
rollback;
