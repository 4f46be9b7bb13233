-- Time: every timestamp and due-time comparison in the engine reads pgflow.now(), so tests
-- and simulations control time with the session setting pgflow.fake_now instead of sleeping.

-- Called by every engine function that reads the clock. Like the other one-line helpers of this file it
-- has no "set search_path" (every name in it is qualified): PostgreSQL then inlines it into the
-- caller's query, where a function with a SET clause would be planned anew at every call.
create or replace function pgflow.now()
returns timestamptz
language sql
stable
parallel safe
as $$
  select coalesce(
    nullif(pg_catalog.current_setting('pgflow.fake_now', true), '')::timestamptz,
    pg_catalog.transaction_timestamp()
  )
$$;

comment on function pgflow.now() is
'The engine''s clock: the session setting pgflow.fake_now when set, else the transaction time.';

-- Called by poll_for_tasks, expire_tasks and workers (to pace their heartbeats): how long a worker may go
-- without a heartbeat before its tasks are taken back, the session setting pgflow.worker_timeout.
create or replace function pgflow.worker_timeout()
returns interval
language sql
stable
parallel safe
as $$
  select coalesce(nullif(pg_catalog.current_setting('pgflow.worker_timeout', true), ''), '30 seconds')::interval
$$;

-- Called wherever a number of seconds becomes an interval (once per task created).
create or replace function pgflow._seconds(seconds numeric)
returns interval
language sql
immutable
parallel safe
as $$
  select pg_catalog.make_interval(secs => _seconds.seconds::double precision)
$$;

-- Called by fail_task: the delay before retrying after the n-th failed attempt (n >= 1),
-- min(max_delay, base_delay * 2^(n-1)).
create or replace function pgflow._retry_delay(base_delay numeric, max_delay numeric, failed_attempts int)
returns numeric
language sql
immutable
parallel safe
as $$
  select least(
    _retry_delay.max_delay,
    _retry_delay.base_delay * pg_catalog.power(2::numeric, least(greatest(_retry_delay.failed_attempts, 1) - 1, 64))
  )
$$;

comment on function pgflow.worker_timeout() is
'How long a worker may go without a heartbeat before its tasks are taken back: the session setting '
'pgflow.worker_timeout, 30 seconds when unset.';

-- Called by the task reports, start_run and the cascade, and by workers (to fail a result too large to
-- send before sending it): the largest JSON value, in bytes of its stored (jsonb) form, that a task may
-- report as its output, that a map step's outputs may add up to, that the engine builds as a step's input
-- (the object of its dependencies' outputs) and that a run may take as input. 64 MiB: a quarter of
-- jsonb's own limit of 256 MiB per value, so that no value the engine builds from stored ones can reach it.
create or replace function pgflow.max_output_size()
returns bigint
language sql
immutable
parallel safe
as $$
  select 67108864::bigint
$$;

comment on function pgflow.max_output_size() is
'The largest output a task may report, in bytes of its stored jsonb form (64 MiB); also the limit on a map '
'step''s outputs together, on the input built for a step from its dependencies'' outputs, and on a run input.';
