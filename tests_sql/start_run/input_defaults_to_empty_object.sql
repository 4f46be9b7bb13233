-- start_run without an input stores the default input {} and hands it to the root step.
begin;
select plan(2);

select pgflow.define_flow('input_default', '[{"slug": "a"}]');
select run_id from pgflow.start_run('input_default') \gset

select is((select input from pgflow.runs where run_id = :'run_id'), '{}'::jsonb, 'the run input defaults to {}');
select is((select input from pgflow_tests.poll('input_default')), '{}'::jsonb, 'the root step receives {}');

select finish();
rollback;
