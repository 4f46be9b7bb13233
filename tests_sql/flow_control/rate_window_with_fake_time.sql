-- rate_limit {"limit": 2, "per": 10}: at most 2 claims per window of 10 s. A window starts at the first claim
-- after the previous window ended (fixed windows, not sliding ones), whether or not the earlier tasks completed.
begin;
select plan(8);

select pgflow_tests.set_now('2030-01-01 00:00:00+00');
select pgflow.define_flow('rated', '[{"slug": "call", "rate_limit": {"limit": 2, "per": 10}}]');
select pgflow.start_run('rated', pg_catalog.jsonb_build_object('n', n)) from pg_catalog.generate_series(1, 6) as n;

select is(pgflow_tests.poll_all('rated'), 2, 'at 0 s: two claims, the window''s limit');
select is(pgflow_tests.complete_started('rated'), 2, 'they complete');

select pgflow_tests.set_now('2030-01-01 00:00:09.9+00');
select is(pgflow_tests.poll_all('rated'), 0, 'at 9.9 s: none, the window started at 0 s still runs');

select pgflow_tests.set_now('2030-01-01 00:00:13+00');
select is(pgflow_tests.poll_all('rated'), 2, 'at 13 s: a new window starts with this claim, two claims');

select pgflow_tests.set_now('2030-01-01 00:00:20+00');
select is(pgflow_tests.poll_all('rated'), 0, 'at 20 s: none (the window runs from 13 s to 23 s), tasks started or not');

select pgflow_tests.set_now('2030-01-01 00:00:23+00');
select is(pgflow_tests.poll_all('rated'), 2, 'at 23 s: two more');
select is(
  (select row(b.window_started_at, b.window_claims)::text from pgflow.flow_buckets as b where b.flow_slug = 'rated'),
  row('2030-01-01 00:00:23+00'::timestamptz, 2)::text,
  'the bucket records the window and its claims'
);

select pgflow_tests.set_now('2030-01-01 00:01:00+00');
select is(pgflow_tests.poll_all('rated'), 0, 'every task was claimed');

select finish();
rollback;
