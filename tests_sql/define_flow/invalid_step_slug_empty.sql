-- An empty step slug is PF001, and nothing is written.
begin;
select plan(2);

select throws_ok(
  $$select pgflow.define_flow('bad_step_empty', '[{"slug": ""}]')$$, 'PF001', null, 'an empty step slug is rejected'
);
select is(pgflow_tests.version_count('bad_step_empty'), 0, 'no flow was written');

select finish();
rollback;
