-- A step object without a "slug" string (missing, null, a number) is PF001, and nothing is written.
begin;
select plan(4);

select throws_ok(
  $$select pgflow.define_flow('no_slug', '[{"depends_on": []}]')$$, 'PF001', null, 'a step without slug'
);
select throws_ok(
  $$select pgflow.define_flow('no_slug', '[{"slug": "a"}, {"slug": null}]')$$, 'PF001', null, 'a null slug'
);
select throws_ok($$select pgflow.define_flow('no_slug', '[{"slug": 7}]')$$, 'PF001', null, 'a number as slug');
select is(pgflow_tests.version_count('no_slug'), 0, 'no flow was written');

select finish();
rollback;
