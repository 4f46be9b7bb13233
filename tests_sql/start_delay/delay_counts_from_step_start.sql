-- start_delay counts from when the step starts (its dependencies finished), not from when the run started.
begin;
select plan(3);

select pgflow_tests.set_now('2030-01-01 00:00:00+00');
select pgflow.define_flow('delay_from_start', '[{"slug": "first"}, {"slug": "later", "start_delay": 5}]');
select run_id from pgflow.start_run('delay_from_start', '{}') \gset

select pgflow_tests.set_now('2030-01-01 00:00:10+00');
select ok(pgflow_tests.complete(:'run_id', 'first', '1'), 'the dependency completes at 10 s');

select pgflow_tests.set_now('2030-01-01 00:00:14+00');
select is_empty($$select * from pgflow_tests.poll('delay_from_start')$$, 'the dependent is invisible at 14 s');

select pgflow_tests.set_now('2030-01-01 00:00:15+00');
select results_eq(
  $$select step_slug, input from pgflow_tests.poll('delay_from_start')$$,
  $$values ('later', '{"first": 1}'::jsonb)$$,
  'the dependent is claimable at 15 s, 5 s after it started'
);

select finish();
rollback;
