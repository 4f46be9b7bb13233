-- Resuming a run that does not exist raises PF006.
begin;
select plan(1);

select throws_ok(
  $$select pgflow.resume_run('00000000-0000-4000-8000-00000000beef')$$, 'PF006', null,
  'resuming an unknown run: PF006'
);

select finish();
rollback;
