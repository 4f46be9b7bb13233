-- steps must be a JSON array: an object, a string, a number, JSON null or SQL null is PF001, and
-- nothing is written.
begin;
select plan(6);

select throws_ok(
  $$select pgflow.define_flow('steps_not_array', '{"slug": "a"}')$$, 'PF001', null, 'an object'
);
select throws_ok($$select pgflow.define_flow('steps_not_array', '"a"')$$, 'PF001', null, 'a string');
select throws_ok($$select pgflow.define_flow('steps_not_array', '1')$$, 'PF001', null, 'a number');
select throws_ok($$select pgflow.define_flow('steps_not_array', 'null')$$, 'PF001', null, 'JSON null');
select throws_ok($$select pgflow.define_flow('steps_not_array', null)$$, 'PF001', null, 'SQL null');
select is(pgflow_tests.version_count('steps_not_array'), 0, 'no flow was written');

select finish();
rollback;
