-- live_workers(flow_slug, flow_version): workers not stopped, with a lease in the future, serving the flow
-- (flow_slugs null or holding it) and the version (flow_versions, recorded by their last poll, null or listing
-- it). flow_version null: the flow's current version. A poll records the versions it was given.
begin;
select plan(14);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow('lw', '[{"slug": "a"}]');
select pgflow.define_flow('lw', '[{"slug": "a"}, {"slug": "b"}]');
select is(pgflow.live_workers('lw'), 0, 'no worker');

select pgflow.heartbeat('old', array['lw']);
select count(*) from pgflow.poll_for_tasks('old', array['lw'], 0, '{"lw": [1]}');
select is(
  (select flow_versions from pgflow.workers where worker_id = 'old'), '{"lw": [1]}'::jsonb,
  'the poll recorded the versions the worker serves'
);
select is(pgflow.live_workers('lw'), 0, 'a worker of version 1 only does not serve the current version 2');
select is(pgflow.live_workers('lw', 1), 1, 'it serves version 1');

select pgflow.heartbeat('other_flow', array['elsewhere']);
select pgflow.heartbeat('any_flow', null);
select count(*) from pgflow.poll_for_tasks('any_flow', null, 0, '{"elsewhere": [1]}');
select is(pgflow.live_workers('lw', 2), 0, 'workers of other flows do not count (by flow_slugs or flow_versions)');

select pgflow.heartbeat('new', array['lw']);
select is(pgflow.live_workers('lw'), 1, 'a registered worker that never polled serves every version');
select count(*) from pgflow.poll_for_tasks('new', array['lw'], 0, '{"lw": [1, 2]}');
select is(pgflow.live_workers('lw', 2), 1, 'a worker listing version 2 serves it');
select is(pgflow.live_workers('lw', 1), 2, 'both serve version 1');
select count(*) from pgflow.poll_for_tasks('old', array['lw'], 0, null);
select is(
  (select flow_versions from pgflow.workers where worker_id = 'old'), null,
  'a poll without versions (within the same second) records null: every version'
);

select pgflow.stop_worker('new');
select pgflow_tests.set_now('2030-01-01 12:00:31+00');
select is(pgflow.live_workers('lw', 1), 0, 'stopped workers and workers whose lease ended do not count');

select throws_ok($$select pgflow.live_workers(null)$$, 'PF005', null, 'a null flow_slug is PF005');
select throws_ok($$select pgflow.live_workers('not a slug')$$, 'PF005', null, 'a bad flow_slug is PF005');
select throws_ok($$select pgflow.live_workers('lw', 0)$$, 'PF005', null, 'flow_version 0 is PF005');
select throws_ok($$select pgflow.live_workers('lw_unknown')$$, 'PF004', null, 'an unknown flow is PF004');

select finish();
rollback;
