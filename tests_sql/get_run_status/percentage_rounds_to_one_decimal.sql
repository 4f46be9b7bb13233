-- get_run_status rounds percentage to one decimal: 1 of 3 steps is 33.3, 2 of 3 is 66.7.
begin;
select plan(2);

select pgflow.define_flow(
  'status_thirds',
  '[{"slug": "one", "depends_on": []}, {"slug": "two", "depends_on": []}, {"slug": "three", "depends_on": []}]'
);
select run_id from pgflow.start_run('status_thirds', '{}') \gset

select pgflow_tests.complete(:'run_id', 'one', '1');
select is(pgflow.get_run_status(:'run_id') -> 'percentage', '33.3'::jsonb, '1 of 3 steps: 33.3');
select pgflow_tests.complete(:'run_id', 'two', '2');
select is(pgflow.get_run_status(:'run_id') -> 'percentage', '66.7'::jsonb, '2 of 3 steps: 66.7');

select finish();
rollback;
