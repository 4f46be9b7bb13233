-- resume_run keeps completed steps: in a -> (b, c) -> d where a and c completed and b failed the run, a and c stay
-- completed with their outputs and their tasks untouched, no new task is created for them, and the poll after the
-- resume offers only b.
begin;
select plan(5);

select pgflow_tests.define_diamond('resume_keeps', '{"max_attempts": 1}');
select run_id from pgflow.start_run('resume_keeps', '{}') \gset
select pgflow_tests.complete(:'run_id', 'a', '"A"');
select pgflow_tests.complete(:'run_id', 'c', '"C"');
select pgflow_tests.claim_and_fail(:'run_id', 'b', 'b broke');
create temp table completed_before as
select to_jsonb(t) as row_json from pgflow.step_tasks as t
where t.run_id = :'run_id' and t.step_slug in ('a', 'c');

select pgflow.resume_run(:'run_id');

select results_eq(
  format(
    $$select step_slug, status, output from pgflow.step_states where run_id = %L and step_slug in ('a', 'c')
      order by step_slug$$,
    :'run_id'
  ),
  $$values ('a', 'completed', '"A"'::jsonb), ('c', 'completed', '"C"'::jsonb)$$,
  'a and c stay completed with their outputs'
);
select set_eq(
  format(
    $$select to_jsonb(t) from pgflow.step_tasks as t where t.run_id = %L and t.step_slug in ('a', 'c')$$,
    :'run_id'
  ),
  'select row_json from completed_before',
  'the completed tasks of a and c are untouched (status, attempt, output)'
);
select results_eq(
  format(
    $$select step_slug, count(*)::int from pgflow.step_tasks where run_id = %L group by step_slug order by step_slug$$,
    :'run_id'
  ),
  $$values ('a', 1), ('b', 1), ('c', 1)$$,
  'no new task is created for a or c (and d has none yet)'
);
select results_eq(
  $$select step_slug, task_index, input from pgflow_tests.poll('resume_keeps')$$,
  $$values ('b', 0, '{"a": "A"}'::jsonb)$$,
  'the poll after the resume offers only b, with the stored output of a as input'
);
select ok(pgflow_tests.complete(:'run_id', 'b', '"B"'), 'b completes');

select finish();
rollback;
