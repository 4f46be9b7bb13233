-- cancel_run keeps its reason on the run: the returned row, the stored run and get_run_status's error all carry
-- it. Without a reason the run is still cancelled.
begin;
select plan(4);

select pgflow_tests.define_diamond('cancel_reason');
select run_id from pgflow.start_run('cancel_reason', '{}') \gset
select run_id as plain_run_id from pgflow.start_run('cancel_reason', '{}') \gset

select error as returned_error from pgflow.cancel_run(:'run_id', 'operator stopped it: wrong input') \gset

select matches(:'returned_error'::text, 'operator stopped it: wrong input', 'the returned row carries the reason');
select matches(
  (select error from pgflow.runs where run_id = :'run_id'), 'operator stopped it: wrong input',
  'the stored run carries the reason'
);
select matches(
  pgflow.get_run_status(:'run_id') ->> 'error', 'operator stopped it: wrong input',
  'get_run_status shows the reason as the run''s error'
);
select is((pgflow.cancel_run(:'plain_run_id')).status, 'cancelled', 'a cancel without a reason works too');

select finish();
rollback;
