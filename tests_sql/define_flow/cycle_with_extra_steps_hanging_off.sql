-- A cycle with steps hanging off it (steps after it, listed first, and a step feeding into it) is
-- PF003, and the path shows the cycle alone: a -> b -> c -> a, not the steps around it. A 2-cycle
-- elsewhere in the same kind of DAG shows x -> y -> x. Nothing is written.
begin;
select plan(5);

select throws_ok(
  $$select pgflow.define_flow(
    'cycle_hanging',
    '[{"slug": "tail2", "depends_on": ["tail1"]},
      {"slug": "tail1", "depends_on": ["c"]},
      {"slug": "feed", "depends_on": []},
      {"slug": "a", "depends_on": ["feed", "c"]},
      {"slug": "b", "depends_on": ["a"]},
      {"slug": "c", "depends_on": ["b"]},
      {"slug": "side", "depends_on": ["b"]}]'
  )$$,
  'PF003', null, 'a cycle with steps around it is PF003'
);
select pgflow_tests.error_message(
  $$select pgflow.define_flow(
    'cycle_hanging',
    '[{"slug": "tail2", "depends_on": ["tail1"]},
      {"slug": "tail1", "depends_on": ["c"]},
      {"slug": "feed", "depends_on": []},
      {"slug": "a", "depends_on": ["feed", "c"]},
      {"slug": "b", "depends_on": ["a"]},
      {"slug": "c", "depends_on": ["b"]},
      {"slug": "side", "depends_on": ["b"]}]'
  )$$
) as msg \gset
select ok(
  pgflow_tests.cycle_path(:'msg') = any(pgflow_tests.cycle_paths('a', 'b', 'c')),
  format('the message shows the path a -> b -> c -> a only (got: %s)', :'msg')
);

select pgflow_tests.error_message(
  $$select pgflow.define_flow(
    'cycle_hanging',
    '[{"slug": "after", "depends_on": ["y"]},
      {"slug": "x", "depends_on": ["y", "before"]},
      {"slug": "y", "depends_on": ["x"]},
      {"slug": "before", "depends_on": []}]'
  )$$
) as msg2 \gset
select ok(
  pgflow_tests.cycle_path(:'msg2') = any(pgflow_tests.cycle_paths('x', 'y')),
  format('a 2-cycle shows the path x -> y -> x (got: %s)', :'msg2')
);
select throws_ok(
  $$select pgflow.define_flow(
    'cycle_hanging',
    '[{"slug": "after", "depends_on": ["y"]},
      {"slug": "x", "depends_on": ["y", "before"]},
      {"slug": "y", "depends_on": ["x"]},
      {"slug": "before", "depends_on": []}]'
  )$$,
  'PF003', null, 'the 2-cycle is PF003'
);
select is(pgflow_tests.version_count('cycle_hanging'), 0, 'no flow was written');

select finish();
rollback;
