-- A step depending on itself is a cycle: PF003 with the path "a -> a", and nothing is written.
begin;
select plan(3);

select throws_ok(
  $$select pgflow.define_flow(
    'self_dep', '[{"slug": "root", "depends_on": []}, {"slug": "a", "depends_on": ["a"]}]'
  )$$,
  'PF003', null, 'a self-dependency is PF003'
);
select is(
  pgflow_tests.cycle_path(pgflow_tests.error_message(
    $$select pgflow.define_flow(
      'self_dep', '[{"slug": "root", "depends_on": []}, {"slug": "a", "depends_on": ["a"]}]'
    )$$
  )),
  'a -> a',
  'the message shows the path a -> a'
);
select is(pgflow_tests.version_count('self_dep'), 0, 'no flow was written');

select finish();
rollback;
