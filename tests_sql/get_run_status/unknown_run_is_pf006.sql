-- get_run_status of a run that does not exist raises PF006.
begin;
select plan(1);

select throws_ok(
  $$select pgflow.get_run_status('00000000-0000-4000-8000-0000000fade0')$$, 'PF006', null,
  'status of an unknown run: PF006'
);

select finish();
rollback;
