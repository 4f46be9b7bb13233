-- Re-adding an identical step is a no-op: it returns the existing step row and writes nothing.
begin;
select plan(4);

select pgflow.create_flow('add_twice');
select pgflow.add_step('add_twice', 'a');
select pgflow_tests.set_now('2030-01-01 00:00:00+00');
select (s).* from (select pgflow.add_step('add_twice', 'b', array['a'], 5) as s) as x \gset first_
select pgflow_tests.advance(interval '1 hour');
select (s).* from (select pgflow.add_step('add_twice', 'b', array['a'], 5) as s) as x \gset again_

select is(
  array[:'again_step_slug', :'again_step_index', :'again_max_attempts', :'again_created_at'],
  array[:'first_step_slug', :'first_step_index', :'first_max_attempts', :'first_created_at'],
  'the second call returns the step row written by the first'
);
select results_eq(
  $$select step_slug from pgflow.steps where flow_slug = 'add_twice' order by step_index$$,
  $$values ('a'), ('b')$$,
  'no step was added'
);
select results_eq(
  $$select dep_slug, step_slug from pgflow.deps where flow_slug = 'add_twice'$$,
  $$values ('a', 'b')$$,
  'no dependency was added'
);
select is(pgflow_tests.version_count('add_twice'), 1, 'no version was added');

select finish();
rollback;
