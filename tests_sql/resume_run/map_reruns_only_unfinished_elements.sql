-- resume_run on a run whose map step failed part-way re-runs only the elements that did not complete: with
-- elements 0 and 2 completed and element 1 failing the run, the poll after the resume offers elements 1 and 3
-- only, the completed elements keep their outputs, and the map output is complete and in task_index order.
begin;
select plan(8);

select pgflow.define_flow(
  'resume_map',
  '[{"slug": "m", "type": "map"}, {"slug": "total", "depends_on": ["m"]}]',
  '{"max_attempts": 1}'
);
select run_id from pgflow.start_run('resume_map', '[1, 2, 3, 4]') \gset
select pgflow_tests.complete(:'run_id', 'm', '10', 0);
select pgflow_tests.complete(:'run_id', 'm', '30', 2);
select pgflow_tests.claim_and_fail(:'run_id', 'm', 'element 1 broke', 1);
select is(pgflow_tests.run_status(:'run_id'), 'failed', 'the run failed on element 1');
create temp table completed_before as
select to_jsonb(t) as row_json from pgflow.step_tasks as t
where t.run_id = :'run_id' and t.step_slug = 'm' and t.task_index in (0, 2);

select pgflow.resume_run(:'run_id');

select bag_eq(
  $$select step_slug, task_index, input from pgflow_tests.poll('resume_map')$$,
  $$values ('m', 1, '2'::jsonb), ('m', 3, '4'::jsonb)$$,
  'the poll offers elements 1 and 3 only, with their array elements as input'
);
select set_eq(
  format(
    $$select to_jsonb(t) from pgflow.step_tasks as t
      where t.run_id = %L and t.step_slug = 'm' and t.task_index in (0, 2)$$,
    :'run_id'
  ),
  'select row_json from completed_before',
  'the completed elements are untouched'
);
select ok(pgflow_tests.complete(:'run_id', 'm', '40', 3), 'element 3 completes');
select ok(pgflow_tests.complete(:'run_id', 'm', '20', 1), 'element 1 completes');
select is(
  (select output from pgflow.step_states where run_id = :'run_id' and step_slug = 'm'), '[10, 20, 30, 40]'::jsonb,
  'the map output holds every element''s output in order'
);
select is(
  (pgflow_tests.claim(:'run_id', 'total')).input, '{"m": [10, 20, 30, 40]}'::jsonb,
  'the dependent step receives the complete map output'
);
select is(
  (select count(*)::int from pgflow.step_tasks where run_id = :'run_id' and step_slug = 'm'), 4,
  'the map step still has exactly one task per element'
);

select finish();
rollback;
