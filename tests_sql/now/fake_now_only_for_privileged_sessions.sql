-- pgflow.fake_now is a test harness's clock: honoured for a superuser or the owner of the pgflow schema,
-- ignored (the transaction time) in a session of any other role, so no session can move the clock that
-- decides deadlines and retries for everyone's work.
begin;
select plan(3);

create role pgflow_clock_tester nologin;
grant usage on schema pgflow to pgflow_clock_tester;

select set_config('pgflow.fake_now', '2030-06-07 08:09:10+00', true);
select is(pgflow.now(), '2030-06-07 08:09:10+00'::timestamptz, 'a superuser session gets the fake time');

set local session authorization pgflow_clock_tester;
select is(pgflow.now(), transaction_timestamp(), 'another role''s session gets the transaction time');
select set_config('pgflow.fake_now', 'not a time', true);
select is(pgflow.now(), transaction_timestamp(), 'even a malformed setting is ignored there');
reset session authorization;

select finish();
rollback;
