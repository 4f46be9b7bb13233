-- A cycle is PF003 and the message shows the cycle's path, e.g. "a -> b -> c -> a" (any starting
-- step, either direction, but only the steps of the cycle). Nothing is written.
begin;
select plan(3);

select throws_ok(
  $$select pgflow.define_flow(
    'cycle_three',
    '[{"slug": "a", "depends_on": ["c"]}, {"slug": "b", "depends_on": ["a"]}, {"slug": "c", "depends_on": ["b"]}]'
  )$$,
  'PF003', null, 'a 3-cycle is PF003'
);
select pgflow_tests.error_message(
  $$select pgflow.define_flow(
    'cycle_three',
    '[{"slug": "a", "depends_on": ["c"]}, {"slug": "b", "depends_on": ["a"]}, {"slug": "c", "depends_on": ["b"]}]'
  )$$
) as msg \gset
select ok(
  pgflow_tests.cycle_path(:'msg') = any(pgflow_tests.cycle_paths('a', 'b', 'c')),
  format('the message shows the path a -> b -> c -> a (got: %s)', :'msg')
);
select is(pgflow_tests.version_count('cycle_three'), 0, 'no flow was written');

select finish();
rollback;
