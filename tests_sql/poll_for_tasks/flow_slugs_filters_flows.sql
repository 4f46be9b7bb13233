-- flow_slugs restricts a poll to the listed flows; null (the default) claims tasks of any flow.
begin;
select plan(5);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow('filter_a', '[{"slug": "s"}]');
select pgflow.define_flow('filter_b', '[{"slug": "s"}]');
select pgflow.define_flow('filter_c', '[{"slug": "s"}]');
select pgflow.start_run('filter_a');
select pgflow.start_run('filter_b');
select pgflow.start_run('filter_c');

select is_empty(
  $$select * from pgflow.poll_for_tasks('filter_worker', array['filter_none'])$$,
  'a list naming no flow with tasks claims nothing'
);
select bag_eq(
  $$select flow_slug from pgflow.poll_for_tasks('filter_worker', array['filter_a', 'filter_c'])$$,
  $$values ('filter_a'), ('filter_c')$$,
  'a list claims tasks of the listed flows only'
);
select is(
  (select status from pgflow.step_tasks where flow_slug = 'filter_b'), 'queued',
  'the unlisted flow''s task stays queued'
);
select bag_eq(
  $$select flow_slug from pgflow.poll_for_tasks('filter_worker', null)$$,
  $$values ('filter_b')$$,
  'null claims tasks of any flow'
);
select is(
  (select count(*)::int from pgflow.step_tasks where flow_slug like 'filter_%' and status = 'queued'), 0,
  'nothing is left queued'
);

select finish();
rollback;
