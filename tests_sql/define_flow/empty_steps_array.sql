-- A flow needs at least one step: an empty steps array is PF001, and nothing is written.
begin;
select plan(2);

select throws_ok($$select pgflow.define_flow('empty_steps', '[]')$$, 'PF001', null, 'an empty array is rejected');
select is(pgflow_tests.version_count('empty_steps'), 0, 'no flow was written');

select finish();
rollback;
