-- A claimed task of a root single step receives the run input as its input (SPEC 3.3), whatever its JSON type.
begin;
select plan(3);

select pgflow.define_flow('root_input', '[{"slug": "root"}]');
select run_id as obj_run from pgflow.start_run('root_input', '{"url": "https://x", "n": [1, 2]}') \gset
select run_id as arr_run from pgflow.start_run('root_input', '[1, "two", null]') \gset
select run_id as str_run from pgflow.start_run('root_input', '"plain"') \gset

create temp table polled on commit drop as
select * from pgflow_tests.poll('root_input');

select is(
  (select input from polled where run_id = :'obj_run'), '{"url": "https://x", "n": [1, 2]}'::jsonb,
  'an object run input is the root input'
);
select is(
  (select input from polled where run_id = :'arr_run'), '[1, "two", null]'::jsonb,
  'an array run input is the root input'
);
select is(
  (select input from polled where run_id = :'str_run'), '"plain"'::jsonb, 'a scalar run input is the root input'
);

select finish();
rollback;
