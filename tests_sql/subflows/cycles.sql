-- A flow that would contain itself through sub-flow steps is PF003, with the path: itself (a -> a), two flows, three
-- flows, and through an older version of a flow (any version may become current again).
begin;
select plan(5);

select throws_ok(
  $$select pgflow.define_flow('sf_a', '[{"slug": "s", "flow": "sf_a"}]')$$, 'PF003',
  'flow ''sf_a'' would contain itself: sf_a -> sf_a (each flow runs the next as a sub-flow)', 'a flow naming itself'
);

select pgflow.define_flow('sf_b', '[{"slug": "x"}]');
select pgflow.define_flow('sf_a', '[{"slug": "s", "flow": "sf_b"}]');
select throws_ok(
  $$select pgflow.define_flow('sf_b', '[{"slug": "s", "flow": "sf_a"}]')$$, 'PF003',
  'flow ''sf_b'' would contain itself: sf_b -> sf_a -> sf_b (each flow runs the next as a sub-flow)', 'two flows'
);

select pgflow.define_flow('sf_c', '[{"slug": "x"}]');
select pgflow.define_flow('sf_b', '[{"slug": "s", "flow": "sf_c"}]');
select throws_ok(
  $$select pgflow.define_flow('sf_c', '[{"slug": "s", "flow": "sf_a"}]')$$, 'PF003',
  'flow ''sf_c'' would contain itself: sf_c -> sf_a -> sf_b -> sf_c (each flow runs the next as a sub-flow)',
  'three flows'
);

-- sf_a's current version (2) names no child, but its version 1 names sf_b
select pgflow.define_flow('sf_a', '[{"slug": "plain"}]');
select throws_ok(
  $$select pgflow.define_flow('sf_c', '[{"slug": "s", "flow": "sf_a"}]')$$, 'PF003', null,
  'an older version''s sub-flow counts'
);
select lives_ok(
  $$select pgflow.define_flow('sf_d', '[{"slug": "s1", "flow": "sf_c"}, {"slug": "s2", "flow": "sf_b"}]')$$,
  'two sub-flow steps reaching one flow twice is no cycle'
);

select finish();
rollback;
