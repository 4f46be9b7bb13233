-- Every element of steps must be an object: a string, a number, null or an array is PF001, and
-- nothing is written.
begin;
select plan(5);

select throws_ok($$select pgflow.define_flow('step_not_object', '["a", "b"]')$$, 'PF001', null, 'strings');
select throws_ok($$select pgflow.define_flow('step_not_object', '[{"slug": "a"}, 2]')$$, 'PF001', null, 'a number');
select throws_ok($$select pgflow.define_flow('step_not_object', '[{"slug": "a"}, null]')$$, 'PF001', null, 'null');
select throws_ok($$select pgflow.define_flow('step_not_object', '[["a"]]')$$, 'PF001', null, 'an array');
select is(pgflow_tests.version_count('step_not_object'), 0, 'no flow was written');

select finish();
rollback;
