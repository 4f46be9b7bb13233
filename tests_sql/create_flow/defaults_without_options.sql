-- create_flow without options gives the flow the defaults: max_attempts 3, base_delay 1, max_delay 300,
-- timeout 60.
begin;
select plan(1);

select pgflow.create_flow('created_defaults');
select results_eq(
  $$select version, max_attempts, base_delay, max_delay, timeout
    from pgflow.flows where flow_slug = 'created_defaults'$$,
  $$values (1, 3, 1::numeric, 300::numeric, 60::numeric)$$,
  'the flow gets the default options'
);

select finish();
rollback;
