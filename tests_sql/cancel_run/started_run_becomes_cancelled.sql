-- cancel_run on a started run returns the run's row, now cancelled with finished_at set to the engine's clock,
-- and the stored run says the same.
begin;
select plan(6);

select pgflow_tests.set_now('2024-03-01 12:00:00+00');
select pgflow_tests.define_diamond('cancel_started');
select run_id from pgflow.start_run('cancel_started', '{}') \gset
select pgflow_tests.advance(interval '5 seconds');

select
  run_id as returned_run_id,
  status as returned_status,
  finished_at as returned_finished_at
from pgflow.cancel_run(:'run_id') \gset

select is(:'returned_run_id'::uuid, :'run_id'::uuid, 'cancel_run returns the row of the cancelled run');
select is(:'returned_status'::text, 'cancelled', 'the returned row is cancelled');
select is(
  :'returned_finished_at'::timestamptz, '2024-03-01 12:00:05+00'::timestamptz,
  'the returned row has finished_at set to the time of the cancel'
);
select is(pgflow_tests.run_status(:'run_id'), 'cancelled', 'the stored run is cancelled');
select is(
  (select finished_at from pgflow.runs where run_id = :'run_id'), '2024-03-01 12:00:05+00'::timestamptz,
  'the stored run has finished_at set'
);
select is(
  (pgflow.get_run_status(:'run_id') ->> 'status'), 'cancelled', 'get_run_status reports the run as cancelled'
);

select finish();
rollback;
