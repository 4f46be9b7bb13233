-- A step slug with characters other than letters, digits and underscores is PF001, and nothing is written.
begin;
select plan(7);

select throws_ok(
  $$select pgflow.define_flow('bad_step_chars', '[{"slug": "fetch-data"}]')$$, 'PF001', null, 'a hyphen'
);
select throws_ok($$select pgflow.define_flow('bad_step_chars', '[{"slug": "fetch data"}]')$$, 'PF001', null, 'a space');
select throws_ok($$select pgflow.define_flow('bad_step_chars', '[{"slug": "fetch.data"}]')$$, 'PF001', null, 'a dot');
select throws_ok($$select pgflow.define_flow('bad_step_chars', '[{"slug": "étape"}]')$$, 'PF001', null, 'non-ASCII');
select throws_ok(
  $$select pgflow.define_flow('bad_step_chars', '[{"slug": "fetch\ndata"}]')$$, 'PF001', null, 'a newline'
);
select throws_ok($$select pgflow.define_flow('bad_step_chars', '[{"slug": "a;b"}]')$$, 'PF001', null, 'a semicolon');
select is(pgflow_tests.version_count('bad_step_chars'), 0, 'no flow was written');

select finish();
rollback;
