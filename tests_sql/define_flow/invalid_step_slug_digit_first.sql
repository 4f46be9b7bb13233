-- A step slug starting with a digit is PF001, and nothing is written.
begin;
select plan(3);

select throws_ok(
  $$select pgflow.define_flow('bad_step_digit', '[{"slug": "1st"}]')$$, 'PF001', null, 'a step slug "1st" is rejected'
);
select throws_ok(
  $$select pgflow.define_flow('bad_step_digit', '[{"slug": "ok"}, {"slug": "2nd", "depends_on": ["ok"]}]')$$,
  'PF001', null, 'a bad slug on a later step is rejected'
);
select is(pgflow_tests.version_count('bad_step_digit'), 0, 'no flow was written');

select finish();
rollback;
