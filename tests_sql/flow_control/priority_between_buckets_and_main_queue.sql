-- Priority holds between the flow-controlled buckets and the main queue: a high-priority task of an uncapped step is
-- claimed before lower-priority capped tasks, and capped tasks of the main queue's top priority or more go first.
begin;
select plan(3);

select pgflow.define_flow('plain', '[{"slug": "s"}]');
select pgflow.define_flow('capped', '[{"slug": "s", "concurrency": 100}]');
select pgflow.start_run('capped', '{}', priority => -5) from pg_catalog.generate_series(1, 3);
select pgflow.start_run('plain', '{}', priority => 1000);
select results_eq(
  $$select flow_slug from pgflow.poll_for_tasks('w', null, 1)$$,
  $$values ('plain')$$,
  'the priority-1000 task of the main queue before the priority -5 capped ones'
);

select pgflow.start_run('plain', '{}', priority => 0);
select pgflow.start_run('capped', '{}', priority => 7);
select results_eq(
  $$select flow_slug from pgflow.poll_for_tasks('w', null, 1)$$,
  $$values ('capped')$$,
  'a priority-7 capped task before the priority-0 task of the main queue'
);
select results_eq(
  $$select flow_slug, pg_catalog.count(*)::int from pgflow.poll_for_tasks('w', null, 10) group by 1 order by 1$$,
  $$values ('capped', 3), ('plain', 1)$$,
  'with room left after the main queue, the lower-priority capped tasks fill the batch'
);

select finish();
rollback;
