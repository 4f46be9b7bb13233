-- Two steps with the same slug are PF001 (in both the shorthand and the explicit form), and nothing is written.
begin;
select plan(3);

select throws_ok(
  $$select pgflow.define_flow('dup_step', '[{"slug": "a"}, {"slug": "b"}, {"slug": "a"}]')$$,
  'PF001', null, 'a repeated slug in the sequential shorthand'
);
select throws_ok(
  $$select pgflow.define_flow(
    'dup_step',
    '[{"slug": "a", "depends_on": []}, {"slug": "a", "depends_on": []}]'
  )$$,
  'PF001', null, 'a repeated slug with identical definitions'
);
select is(pgflow_tests.version_count('dup_step'), 0, 'no flow was written');

select finish();
rollback;
