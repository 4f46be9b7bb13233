-- pgflow.now() returns the session setting pgflow.fake_now when it is set, follows it when it changes,
-- and engine writes use it (a run's started_at).
begin;
select plan(4);

select set_config('pgflow.fake_now', '2030-06-07 08:09:10+00', true);
select is(pgflow.now(), '2030-06-07 08:09:10+00'::timestamptz, 'pgflow.now() returns pgflow.fake_now');

select set_config('pgflow.fake_now', '1999-12-31 23:59:59.5+00', true);
select is(pgflow.now(), '1999-12-31 23:59:59.5+00'::timestamptz, 'a new value is followed, also in the past');

select pgflow_tests.advance(interval '2 seconds');
select is(pgflow.now(), '2000-01-01 00:00:01.5+00'::timestamptz, 'advancing the fake clock moves pgflow.now()');

select pgflow.define_flow('fake_clock', '[{"slug": "a"}]');
select is(
  (pgflow.start_run('fake_clock')).started_at, '2000-01-01 00:00:01.5+00'::timestamptz,
  'the engine stamps a run with pgflow.now()'
);

select finish();
rollback;
