-- Without pgflow.fake_now (never set, or set to an empty string) pgflow.now() is the transaction time:
-- equal to transaction_timestamp(), not the wall clock, and the same for the whole transaction.
begin;
select plan(4);

select is(pgflow.now(), transaction_timestamp(), 'unset: pgflow.now() is the transaction time');
select pg_sleep(0.01);
select isnt(pgflow.now(), clock_timestamp(), 'it is not the wall clock');
select is(pgflow.now(), transaction_timestamp(), 'it stays the transaction time later in the transaction');

select set_config('pgflow.fake_now', '2030-01-01 00:00:00+00', true);
select set_config('pgflow.fake_now', '', true);
select is(pgflow.now(), transaction_timestamp(), 'set to an empty string: the transaction time again');

select finish();
rollback;
