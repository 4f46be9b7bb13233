-- A version that already has a run cannot change: add_step is PF008 and adds nothing; the run keeps
-- its steps. define_flow can still create a new version.
begin;
select plan(4);

select pgflow.create_flow('add_after_run');
select pgflow.add_step('add_after_run', 'a');
select pgflow.start_run('add_after_run');

select throws_ok(
  $$select pgflow.add_step('add_after_run', 'b', array['a'])$$, 'PF008', null, 'adding to a version with a run is PF008'
);
select results_eq(
  $$select step_slug from pgflow.steps where flow_slug = 'add_after_run'$$, $$values ('a')$$, 'b was not added'
);
select is(
  (pgflow.define_flow('add_after_run', '[{"slug": "a"}, {"slug": "b"}]')).version, 2,
  'define_flow creates version 2'
);
select is(
  (select count(*)::int from pgflow.steps where flow_slug = 'add_after_run' and flow_version = 1), 1,
  'version 1 still has its one step'
);

select finish();
rollback;
