-- Dependencies naming steps that do not exist are PF002, and the message names every one of them:
-- two unknown dependencies named by two steps, and two named by one step, all appear. Nothing is written.
begin;
select plan(7);

select throws_ok(
  $$select pgflow.define_flow(
    'unknown_deps',
    '[{"slug": "a", "depends_on": []}, {"slug": "b", "depends_on": ["a", "ghost"]}, {"slug": "c", "depends_on": ["phantom"]}]'
  )$$,
  'PF002', null, 'unknown dependencies of two steps are PF002'
);
select pgflow_tests.error_message(
  $$select pgflow.define_flow(
    'unknown_deps',
    '[{"slug": "a", "depends_on": []}, {"slug": "b", "depends_on": ["a", "ghost"]}, {"slug": "c", "depends_on": ["phantom"]}]'
  )$$
) as msg \gset
select matches(:'msg'::text, '\mghost\M', 'the message names ghost (needed by b)');
select matches(:'msg'::text, '\mphantom\M', 'the message names phantom (needed by c)');

select throws_ok(
  $$select pgflow.define_flow('unknown_deps', '[{"slug": "a", "depends_on": ["x_missing", "y_missing"]}]')$$,
  'PF002', null, 'two unknown dependencies of one step are PF002'
);
select pgflow_tests.error_message(
  $$select pgflow.define_flow('unknown_deps', '[{"slug": "a", "depends_on": ["x_missing", "y_missing"]}]')$$
) as msg \gset
select matches(:'msg'::text, '\mx_missing\M', 'the message names x_missing');
select matches(:'msg'::text, '\my_missing\M', 'the message names y_missing');

select is(pgflow_tests.version_count('unknown_deps'), 0, 'no flow was written');

select finish();
rollback;
