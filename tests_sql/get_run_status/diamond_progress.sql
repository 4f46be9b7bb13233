-- get_run_status follows a diamond run a -> (b, c) -> d: after the start 4 steps, 0 completed, 0.0 %; after a,
-- 1 and 25.0; after b and c, 3 and 75.0; at the end 4 and 100.0, status completed, the output and finished_at.
begin;
select plan(9);

select pgflow_tests.set_now('2024-03-01 12:00:00+00');
select pgflow_tests.define_diamond('status_diamond');
select run_id from pgflow.start_run('status_diamond', '{}') \gset

-- status, total_steps, completed_steps, percentage of the run, as a query for results_eq
select format(
  $$select s ->> 'status', (s ->> 'total_steps')::int, (s ->> 'completed_steps')::int, (s ->> 'percentage')::numeric
    from pgflow.get_run_status(%L) as s$$,
  :'run_id'
) as progress \gset

select results_eq(:'progress', $$values ('started', 4, 0, 0.0)$$, 'after the start: 4 steps, 0 completed, 0.0');
select pgflow_tests.complete(:'run_id', 'a', '"A"');
select results_eq(:'progress', $$values ('started', 4, 1, 25.0)$$, 'after a: 1 completed, 25.0');
select pgflow_tests.complete(:'run_id', 'b', '"B"');
select results_eq(:'progress', $$values ('started', 4, 2, 50.0)$$, 'after b: 2 completed, 50.0');
select pgflow_tests.complete(:'run_id', 'c', '"C"');
select results_eq(:'progress', $$values ('started', 4, 3, 75.0)$$, 'after b and c: 3 completed, 75.0');
select is(
  pgflow.get_run_status(:'run_id') -> 'finished_at', 'null'::jsonb, 'finished_at is null while d runs'
);
select pgflow_tests.advance(interval '3 seconds');
select pgflow_tests.complete(:'run_id', 'd', '{"merged": true}');
select results_eq(:'progress', $$values ('completed', 4, 4, 100.0)$$, 'at the end: 4 completed, 100.0, completed');
select is(
  pgflow.get_run_status(:'run_id') -> 'output', '{"d": {"merged": true}}'::jsonb, 'at the end: the run''s output'
);
select is(
  (pgflow.get_run_status(:'run_id') ->> 'finished_at')::timestamptz, '2024-03-01 12:00:03+00'::timestamptz,
  'at the end: finished_at is set'
);
select is(pgflow.get_run_status(:'run_id') -> 'error', 'null'::jsonb, 'at the end: no error');

select finish();
rollback;
