-- Sub-flows nest at most 32 levels: each level runs inside its parent's cascade, in one transaction, bounded by
-- PostgreSQL's stack. A definition that would nest deeper is refused with PF001, counting both the flows below the
-- new definition and the flows that already contain it.
begin;
select plan(3);

select pgflow.define_flow('depth_1', '[{"slug": "leaf"}]');
do $$
begin
  for i in 2..32 loop
    perform pgflow.define_flow(
      'depth_' || i, pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('slug', 's', 'flow', 'depth_' || (i - 1)))
    );
  end loop;
end
$$;
select lives_ok(
  $$select pgflow.start_run('depth_32', '{}')$$, '32 levels are defined and a run of the outermost starts'
);
select throws_like(
  $$select pgflow.define_flow('depth_33', '[{"slug": "s", "flow": "depth_32"}]')$$,
  '%would nest runs 33 levels deep%more than the limit of 32', 'a 33rd level below is refused'
);
select pgflow.define_flow('depth_0', '[{"slug": "leaf"}]');
select throws_like(
  $$select pgflow.define_flow('depth_1', '[{"slug": "s", "flow": "depth_0"}]')$$,
  '%would nest runs 33 levels deep%', 'so is a new level under the innermost flow, counting the flows above it'
);

select finish();
rollback;
