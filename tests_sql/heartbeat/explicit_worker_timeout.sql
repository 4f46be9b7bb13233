-- heartbeat(worker_timeout => ...) registers the worker's own timeout as given, whatever the session setting
-- says (behind a transaction-mode pooler session settings do not last), and refuses one outside 1 second ..
-- 1 hour with PF005, writing nothing. Null reads the session setting, as before.
begin;
select plan(6);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select set_config('pgflow.worker_timeout', 'garbage', true);
select pgflow.heartbeat('hb_explicit_w1', array['f'], interval '7 seconds');
select results_eq(
  $$select worker_timeout, expires_at from pgflow.workers where worker_id = 'hb_explicit_w1'$$,
  $$values (interval '7 seconds', '2030-01-01 12:00:07+00'::timestamptz)$$,
  'the given timeout is registered, and the session setting is not read'
);

select throws_like(
  $$select pgflow.heartbeat('hb_explicit_w2', null, interval '0.5 seconds')$$,
  'heartbeat: worker_timeout must be null or an interval from 1 second to 1 hour, got%',
  'less than a second is refused, naming the argument'
);
select throws_ok(
  $$select pgflow.heartbeat('hb_explicit_w2', null, interval '61 minutes')$$, 'PF005', null,
  'more than an hour is refused'
);
select throws_ok(
  $$select pgflow.heartbeat('hb_explicit_w2', null, interval '-5 seconds')$$, 'PF005', null,
  'a negative timeout is refused'
);
select is((select count(*)::int from pgflow.workers where worker_id = 'hb_explicit_w2'), 0, 'nothing was written');

select set_config('pgflow.worker_timeout', '12 s', true);
select pgflow.heartbeat('hb_explicit_w1', null, null);
select is(
  (select worker_timeout from pgflow.workers where worker_id = 'hb_explicit_w1'), interval '12 seconds',
  'a null timeout reads the session setting'
);

select finish();
rollback;
