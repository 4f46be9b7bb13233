-- A cycle among later steps, away from a valid first part of the DAG, is PF003, and the path shows
-- only the cycle's steps (p -> q -> r -> p). Nothing is written.
begin;
select plan(3);

select throws_ok(
  $$select pgflow.define_flow(
    'cycle_later',
    '[{"slug": "start", "depends_on": []},
      {"slug": "next", "depends_on": ["start"]},
      {"slug": "p", "depends_on": ["next", "r"]},
      {"slug": "q", "depends_on": ["p"]},
      {"slug": "r", "depends_on": ["q"]}]'
  )$$,
  'PF003', null, 'a cycle among later steps is PF003'
);
select pgflow_tests.error_message(
  $$select pgflow.define_flow(
    'cycle_later',
    '[{"slug": "start", "depends_on": []},
      {"slug": "next", "depends_on": ["start"]},
      {"slug": "p", "depends_on": ["next", "r"]},
      {"slug": "q", "depends_on": ["p"]},
      {"slug": "r", "depends_on": ["q"]}]'
  )$$
) as msg \gset
select ok(
  pgflow_tests.cycle_path(:'msg') = any(pgflow_tests.cycle_paths('p', 'q', 'r')),
  format('the message shows the path p -> q -> r -> p (got: %s)', :'msg')
);
select is(pgflow_tests.version_count('cycle_later'), 0, 'no flow was written');

select finish();
rollback;
