-- get_run_status lists steps in a topological order of the DAG even when neither the definition order nor the
-- the alphabetical order (either way) is one: a chain mid -> zeta -> alpha defined alpha, zeta, mid comes out mid,
-- zeta, alpha, and in a diamond m_root -> (z_left, b_right) -> k_merge defined k_merge, z_left, m_root, b_right
-- every step comes after its dependencies.
begin;
select plan(4);

select pgflow.define_flow(
  'status_topo_chain',
  '[{"slug": "alpha", "depends_on": ["zeta"]},
    {"slug": "zeta", "depends_on": ["mid"]},
    {"slug": "mid", "depends_on": []}]'
);
select run_id as chain_run_id from pgflow.start_run('status_topo_chain', '{}') \gset
select pgflow.define_flow(
  'status_topo_diamond',
  '[{"slug": "k_merge", "depends_on": ["z_left", "b_right"]},
    {"slug": "z_left", "depends_on": ["m_root"]},
    {"slug": "m_root", "depends_on": []},
    {"slug": "b_right", "depends_on": ["m_root"]}]'
);
select run_id as diamond_run_id from pgflow.start_run('status_topo_diamond', '{}') \gset

select is(
  pgflow_tests.status_step_order(:'chain_run_id'), array['mid', 'zeta', 'alpha'],
  'the chain is listed in dependency order'
);
select is((pgflow_tests.status_step_order(:'diamond_run_id'))[1], 'm_root', 'the diamond''s root comes first');
select is((pgflow_tests.status_step_order(:'diamond_run_id'))[4], 'k_merge', 'the diamond''s merge step comes last');
select is_empty(
  format(
    $$
      select edge.dep, edge.step
      from (
        values ('m_root', 'z_left'), ('m_root', 'b_right'), ('z_left', 'k_merge'), ('b_right', 'k_merge')
      ) as edge (dep, step)
      where coalesce(array_position(pgflow_tests.status_step_order(%1$L), edge.dep), 99)
        >= coalesce(array_position(pgflow_tests.status_step_order(%1$L), edge.step), -1)
    $$,
    :'diamond_run_id'
  ),
  'every step of the diamond is listed after its dependencies'
);

select finish();
rollback;
