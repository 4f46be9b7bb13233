-- The flow-control options are checked with the definition (PF001, naming the option, nothing written), by
-- define_flow and add_step; a priority outside -1000..1000 is PF005.
begin;
select plan(19);

select throws_like(
  $$select pgflow.define_flow('bad_fc', '[{"slug": "a", "concurrency": 0}]')$$,
  '%option concurrency must be an integer from 1%', 'concurrency 0'
);
select throws_ok($$select pgflow.define_flow('bad_fc', '[{"slug": "a", "concurrency": 1.5}]')$$, 'PF001', null, '1.5');
select throws_ok($$select pgflow.define_flow('bad_fc', '[{"slug": "a", "concurrency": "2"}]')$$, 'PF001', null, '"2"');
select throws_like(
  $$select pgflow.define_flow('bad_fc', '[{"slug": "a", "concurrency": 2, "concurrency_key": "tenant"}]')$$,
  '%option concurrency_key must be a path into the run input%', 'a key path that is not an array'
);
select throws_ok(
  $$select pgflow.define_flow('bad_fc', '[{"slug": "a", "concurrency": 2, "concurrency_key": []}]')$$,
  'PF001', null, 'an empty key path'
);
select throws_ok(
  $$select pgflow.define_flow('bad_fc', '[{"slug": "a", "concurrency": 2, "concurrency_key": ["a", 1]}]')$$,
  'PF001', null, 'a key path with a number'
);
select throws_like(
  $$select pgflow.define_flow('bad_fc', '[{"slug": "a", "concurrency_key": ["tenant"]}]')$$,
  '%concurrency_key needs concurrency or rate_limit%', 'concurrency_key alone'
);
select throws_like(
  $$select pgflow.define_flow('bad_fc', '[{"slug": "a", "rate_limit": {"limit": 5}}]')$$,
  '%option rate_limit must be a JSON object {"limit": n, "per": seconds}%', 'rate_limit without per'
);
select throws_ok(
  $$select pgflow.define_flow('bad_fc', '[{"slug": "a", "rate_limit": {"limit": 5, "per": 1, "burst": 2}}]')$$,
  'PF001', null, 'rate_limit with an unknown key'
);
select throws_ok(
  $$select pgflow.define_flow('bad_fc', '[{"slug": "a", "rate_limit": [5, 1]}]')$$, 'PF001', null, 'an array'
);
select throws_like(
  $$select pgflow.define_flow('bad_fc', '[{"slug": "a", "rate_limit": {"limit": 0, "per": 1}}]')$$,
  '%limit must be an integer from 1%', 'limit 0'
);
select throws_like(
  $$select pgflow.define_flow('bad_fc', '[{"slug": "a", "rate_limit": {"limit": 1, "per": 0}}]')$$,
  '%per must be a number of seconds from 0.001%', 'per 0'
);
select throws_like(
  $$select pgflow.define_flow(
    'bad_fc',
    '[{"slug": "a", "concurrency": 1, "concurrency_key": ["t"], "rate_limit": {"limit": 1, "per": 1, "key": ["u"]}}]'
  )$$,
  '%must be the same path%', 'two different key paths'
);
select is(pgflow_tests.version_count('bad_fc'), 0, 'no flow was written');

select pgflow.create_flow('bad_fc_steps');
select throws_ok(
  $$select pgflow.add_step('bad_fc_steps', 'a', concurrency => 0)$$, 'PF001', null, 'add_step: concurrency 0'
);
select throws_ok(
  $$select pgflow.add_step('bad_fc_steps', 'a', concurrency_key => array['t'])$$, 'PF001', null,
  'add_step: concurrency_key alone'
);

select pgflow.define_flow('prio_bad', '[{"slug": "a"}]');
select throws_like(
  $$select pgflow.start_run('prio_bad', '{}', priority => 1001)$$,
  '%start_run: priority must be an integer from -1000 to 1000, got ''1001''%', 'priority 1001'
);
select throws_ok($$select pgflow.start_run('prio_bad', '{}', priority => null)$$, 'PF005', null, 'priority null');
select is(
  (select pg_catalog.count(*)::int from pgflow.runs where flow_slug = 'prio_bad'), 0, 'no run was started'
);

select finish();
rollback;
