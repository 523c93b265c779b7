"""The one judge (thpds.verdict), rule by rule, on recorded kunit.py runs.

Each test names the rule it holds the judge to; removing the rule from
verdict.judge() makes that test fail.
"""

import dataclasses
import unittest

from tests import recordings
from thpds import console
from thpds.verdict import Case, Expectation, Outcome, RunRecord, Status, judge

RACE = 'thp_deferred_split_race.thp_ds_test_race_reclaim_scan'
LOCK = 'thp_deferred_split.thp_ds_test_free_reclaim_lock'
RECLAIM = 'thp_deferred_split.thp_ds_test_free_reclaim'


def failed(verdict):
	return {j.name: j.why for j in verdict.judgements if j.outcome == Outcome.FAILED}


class ShippedTest(unittest.TestCase):
	def test_a_run_where_every_case_ran_and_passed_passes(self):
		_, rec = recordings.load('6.12-shipped')
		v = judge(rec)
		self.assertTrue(v.ok, v.reasons)
		self.assertEqual(v.tally(), (21, 0, 0))
		self.assertEqual(v.exit_code, 0)

	def test_kunit_exiting_non_zero_without_a_failing_case_fails(self):
		_, rec = recordings.load('6.12-shipped')
		v = judge(dataclasses.replace(rec, kunit_returncode=1))
		self.assertFalse(v.ok)
		self.assertIn('kunit.py exited 1 without a failing case', v.reasons)
		self.assertEqual(v.tally(), (21, 1, 0))	# the run-level failure is counted

	def test_a_suite_missing_from_the_results_fails(self):
		_, rec = recordings.load('no-suite', filter_glob=None)
		v = judge(rec)
		self.assertFalse(v.ok)
		self.assertIn("suite thp_deferred_split has no result in kunit.py's output", v.reasons)
		self.assertIn("suite thp_deferred_split_race has no result in kunit.py's output",
			      v.reasons)
		self.assertTrue(all(j.status == Status.NOTRUN for j in v.judgements))
		self.assertIn('no case passed: the run proves nothing', v.reasons)

	def test_a_case_that_never_ran_fails_the_run(self):
		_, rec = recordings.load('6.12-shipped')
		rec = dataclasses.replace(rec, cases=tuple(c for c in rec.cases if c.name != LOCK))
		self.assertIn(LOCK, failed(judge(rec)))
		self.assertIn('did not run', failed(judge(rec))[LOCK])

	def test_an_unexplained_oops_fails(self):
		_, rec = recordings.load('param-crash')
		v = judge(rec)
		self.assertIn('the guest crashed: BUG: kernel NULL pointer dereference, address: '
			      '0000000000000000 (at thp_ds_test_free_reclaim+0x7b/0x310)', v.reasons)

	def test_a_guest_stopped_by_the_timeout_fails(self):
		_, rec = recordings.load('timeout')
		v = judge(rec)
		self.assertTrue(rec.timed_out)
		self.assertIn('the guest was stopped by the timeout before the suite finished',
			      v.reasons)
		self.assertEqual(failed(v)[RACE], 'the guest stopped in it (the guest stopped in '
				 'this case)')

	def test_ktap_that_kunit_py_could_not_follow_fails(self):
		# every case passed in the guest, but an unrelated kernel line between
		# "KTAP version 1" and "# Subtest:" threw kunit.py's parser off
		_, rec = recordings.load('parse-error', port='7.2')
		v = judge(rec)
		self.assertFalse(v.ok)
		self.assertTrue(any(r.startswith("kunit.py's reading of the guest's KTAP output cannot")
				    for r in v.reasons), v.reasons)

	def test_a_variant_whose_guest_died_without_an_oops_in_an_allowed_case(self):
		info = recordings.about('6.12-seed-reclaim-race-crash')
		exp = Expectation(frozenset(info['expect_fail']), frozenset({RACE}))
		_, rec = recordings.load('6.12-seed-reclaim-race-crash', expect=exp)
		v = judge(dataclasses.replace(rec, oops=''))
		self.assertTrue(v.ok, v.reasons)
		self.assertFalse(judge(dataclasses.replace(rec, oops='', timed_out=True)).ok)

	def test_an_arm64_race_crash_where_the_variant_allows_it(self):
		# 6.12 seed-reclaim on arm64-64k: May-Crash and May-Fail-On the race
		_, rec = recordings.load('6.12-arm64-64k-race-crash')
		self.assertTrue(judge(rec).ok, judge(rec).reasons)
		strict = dataclasses.replace(rec.expect, may_crash=frozenset())
		self.assertFalse(judge(dataclasses.replace(rec, expect=strict)).ok)

	def test_a_filter_that_selects_only_a_race_the_variant_may_fail(self):
		# repeat --filter 'thp_deferred_split_race.*' of seed-reclaim on
		# arm64-64k: the race may pass or fail there; the run is still judged
		# against the variant (its WARN is the bug's, not a stray report)
		_, rec = recordings.load('6.12-arm64-64k-race-crash',
					 filter_glob='thp_deferred_split_race.*')
		v = judge(rec)
		self.assertTrue(v.ok, v.reasons)
		self.assertTrue(v.summary().startswith('PASS: as declared (no selected case must '
						       'fail here: 1 failed where the variant allows it'),
				v.summary())
		race = 'thp_deferred_split_race.thp_ds_test_race_reclaim_scan'
		passed = dataclasses.replace(rec, oops='', kunit_returncode=0, cases=tuple(
			dataclasses.replace(c, status=Status.PASS) if c.name == race else c
			for c in rec.cases))
		self.assertTrue(judge(passed).ok, judge(passed).reasons)
		self.assertIn('0 failed where the variant allows it, 1 other cases passed',
			      judge(passed).summary())

	def test_kernel_reports_fail_a_shipped_run(self):
		_, rec = recordings.load('6.12-shipped')
		v = judge(dataclasses.replace(rec, kernel_reports=('KASAN slab-use-after-free in x',)))
		self.assertIn('the kernel reported: KASAN slab-use-after-free in x', v.reasons)

	def test_compiler_warnings_and_teardown_errors_fail(self):
		_, rec = recordings.load('6.12-shipped')
		v = judge(dataclasses.replace(rec, suite_warnings=('a.c:1:2: warning: x',),
					      teardown_errors=('could not remove thp_ds_kunit-1',)))
		self.assertEqual(len(v.reasons), 2)

	def test_a_kernel_that_did_not_build_is_no_verdict(self):
		_, rec = recordings.load('6.12-shipped')
		v = judge(dataclasses.replace(rec, built=False, cases=()))
		self.assertTrue(v.infrastructure)
		self.assertEqual(v.exit_code, 3)
		self.assertTrue(v.summary().startswith('no verdict'))


class SkipTest(unittest.TestCase):
	def test_skips_keep_their_reason(self):
		_, rec = recordings.load('one-cpu')
		skipped = {c.name: c.reason for c in rec.cases if c.status == Status.SKIP}
		self.assertEqual(skipped, {LOCK: 'needs two online CPUs (QEMU -smp 2)',
					   RACE: 'needs two online CPUs (QEMU -smp 2)'})

	def test_a_skip_the_port_does_not_allow_fails(self):
		_, rec = recordings.load('one-cpu')
		v = judge(rec)
		self.assertFalse(v.ok)
		self.assertIn('never skips on this tree', failed(v)[LOCK])

	def test_a_skip_the_port_allows_is_counted_apart(self):
		allow = Expectation(may_skip=(('*_lock', 'two online CPUs'), ('*race*', 'two online')))
		_, rec = recordings.load('one-cpu', expect=allow)
		v = judge(rec)
		self.assertTrue(v.ok, v.reasons)
		self.assertEqual(v.tally(), (19, 0, 2))

	def test_a_skip_with_another_reason_is_not_allowed(self):
		allow = Expectation(may_skip=(('*', 'no anonymous mTHP'),))
		_, rec = recordings.load('one-cpu', expect=allow)
		self.assertFalse(judge(rec).ok)

	def test_a_run_where_everything_skipped_fails(self):
		allow = Expectation(may_skip=(('*', 'two online CPUs'),))
		_, rec = recordings.load('one-cpu-lock-only', expect=allow)
		v = judge(rec)
		self.assertEqual(v.tally(), (0, 1, 1))
		self.assertIn('no case passed: the run proves nothing', v.reasons)


class FilterTest(unittest.TestCase):
	def test_only_the_selected_cases_are_judged(self):
		_, rec = recordings.load('filter-reclaim')
		self.assertEqual(rec.selected, (RECLAIM, LOCK))
		v = judge(rec)
		self.assertTrue(v.ok, v.reasons)
		self.assertEqual(v.tally(), (4, 0, 0))

	def test_a_variant_under_a_filter_is_held_to_the_selected_declarations(self):
		exp = Expectation(frozenset({RECLAIM, RACE}))
		_, rec = recordings.load('filter-reclaim', expect=exp)
		v = judge(rec)	# the race case is outside the filter: not required
		self.assertEqual(set(failed(v)), {f'{RECLAIM}.order 9', f'{RECLAIM}.order 4',
						  f'{RECLAIM}.order 2'})


class VariantTest(unittest.TestCase):
	def test_declared_failures_and_an_allowed_crash_are_caught(self):
		info = recordings.about('6.12-seed-reclaim-race-crash')
		exp = Expectation(frozenset(info['expect_fail']), frozenset({RACE}))
		_, rec = recordings.load('6.12-seed-reclaim-race-crash', expect=exp)
		v = judge(rec)
		self.assertTrue(v.ok, (v.reasons, failed(v)))
		self.assertEqual(v.tally(), (21, 0, 0))

	def test_the_rewritten_suite_on_its_seed_variant(self):
		_, rec = recordings.load('6.12-seed-reclaim')
		v = judge(rec)
		self.assertTrue(v.ok, (v.reasons, failed(v)))
		self.assertEqual(v.tally(), (20, 0, 0))
		self.assertTrue(rec.oops.startswith('BUG: kernel NULL pointer dereference'))

	def test_a_crash_the_variant_does_not_allow_fails(self):
		_, rec = recordings.load('6.12-seed-reclaim-race-crash')
		v = judge(rec)
		self.assertIn('MISSED: declared to fail, but the guest crashed in it',
			      failed(v)[RACE])
		self.assertTrue(any(r.startswith('the guest crashed') for r in v.reasons))

	def test_a_declared_case_that_passes_is_missed(self):
		exp = Expectation(frozenset({'thp_deferred_split.thp_ds_test_migrate'}))
		_, rec = recordings.load('6.12-shipped', expect=exp)
		v = judge(rec)
		self.assertEqual(failed(v), {'thp_deferred_split.thp_ds_test_migrate':
					     'MISSED: declared to fail, but PASS'})

	def test_an_undeclared_failure_is_unexpected(self):
		info = recordings.about('6.12-seed-reclaim-race-crash')
		exp = Expectation(frozenset(info['expect_fail']) - {LOCK}, frozenset({RACE}))
		_, rec = recordings.load('6.12-seed-reclaim-race-crash', expect=exp)
		self.assertEqual(failed(judge(rec)), {LOCK: 'UNEXPECTED: failed'})

	def test_a_variant_whose_kernel_dies_early_fails(self):
		# the old rule ("declared cases failed") passed this: the declared
		# case crashed, and the cases after it, the race suite with them,
		# never ran
		exp = Expectation(frozenset({RECLAIM}), frozenset({RECLAIM}))
		_, rec = recordings.load('param-crash', expect=exp)
		v = judge(rec)
		self.assertFalse(v.ok)
		self.assertIn(RACE, failed(v))
		self.assertIn(LOCK, failed(v))
		self.assertIn("suite thp_deferred_split_race has no result in kunit.py's output",
			      v.reasons)


class CrashPinningTest(unittest.TestCase):
	def test_a_crash_in_a_parameterised_case_is_pinned_on_it(self):
		out, _ = recordings.load('param-crash')
		status = {c.name: (c.status, c.reason) for c in out.cases}
		self.assertEqual(status[RECLAIM], (Status.ERROR, "the guest stopped in this case "
						    "after parameter 'order 9'"))
		self.assertEqual(status[f'{RECLAIM}.order 9'][0], Status.PASS)
		self.assertEqual(status[LOCK][0], Status.NOTRUN)
		self.assertEqual(sum(1 for c in out.cases if c.status == Status.ERROR), 1)

	def test_a_crash_between_cases_is_pinned_on_the_running_one(self):
		out, _ = recordings.load('6.12-seed-reclaim-race-crash')
		self.assertEqual({c.name for c in out.cases if c.status == Status.ERROR}, {RACE})


class RecordTest(unittest.TestCase):
	def test_json_round_trip(self):
		_, rec = recordings.load('one-cpu')
		again = RunRecord.from_json(rec.to_json())
		self.assertEqual(again, rec)

	def test_a_declaration_of_a_case_covers_its_parameters(self):
		exp = Expectation(frozenset({RECLAIM}))
		self.assertTrue(exp.declares_fail(f'{RECLAIM}.order 4'))
		self.assertFalse(exp.declares_fail(f'{RECLAIM}_lock'))

	def test_a_declaration_of_one_parameter_holds_the_others_to_pass(self):
		exp = Expectation(frozenset({f'{RECLAIM}.order 9'}))
		rec = RunRecord('t', 'o', 'v', 'k', 'p', 'seed-reclaim', (RECLAIM,),
				(Case(f'{RECLAIM}.order 9', Status.FAIL),
				 Case(f'{RECLAIM}.order 4', Status.PASS)), expect=exp)
		v = judge(rec)
		self.assertTrue(v.ok, (v.reasons, failed(v)))
		self.assertTrue(v.variant)
		other = dataclasses.replace(rec, cases=(Case(f'{RECLAIM}.order 9', Status.FAIL),
							 Case(f'{RECLAIM}.order 4', Status.FAIL)))
		self.assertEqual(failed(judge(other)), {f'{RECLAIM}.order 4': 'UNEXPECTED: failed'})

	def test_a_run_from_a_cached_tree_says_so(self):
		from thpds import report
		_, rec = recordings.load('6.12-shipped', offline='apt-get update failed')
		self.assertEqual(RunRecord.from_json(rec.to_json()).offline, 'apt-get update failed')
		self.assertIn('  built from the cached tree: the archive could not be read '
			      '(apt-get update failed)', report.lines(rec, judge(rec)))

	def test_boot_options_are_recorded_and_reported(self):
		from thpds import report
		_, rec = recordings.load('6.12-shipped', boot=('cgroup_disable=memory',))
		self.assertEqual(RunRecord.from_json(rec.to_json()).boot, ('cgroup_disable=memory',))
		self.assertIn('booted with cgroup_disable=memory', report.lines(rec, judge(rec))[0])

	def test_only_the_boot_options_skips_are_allowed(self):
		from thpds import runner, suite
		skipped = 'the memory controller is disabled (cgroup_disable=memory)'
		rec = RunRecord('t', 'o', 'v', 'k', 'p', 'shipped',
				('thp_deferred_split.thp_ds_test_memcg_offline', 's.a'),
				(Case('thp_deferred_split.thp_ds_test_memcg_offline', Status.SKIP,
				      skipped), Case('s.a', Status.PASS)))
		applied = suite.Applied('6.12')
		for boot, ok in (((), False), (('cgroup_disable=memory',), True),
				 (('transparent_hugepage=always',), False)):
			exp = runner.expectation(applied, boot=boot)
			self.assertEqual(judge(dataclasses.replace(rec, expect=exp)).ok, ok, boot)

	def test_a_declared_failure_may_skip_where_a_boot_option_takes_its_path(self):
		skipped = 'PMD-order THP is not enabled (boot with transparent_hugepage=madvise)'
		exp = Expectation(frozenset({'s.a'}),
				  may_skip=(('*', 'PMD-order THP is not enabled'),))
		rec = RunRecord('t', 'o', 'v', 'k', 'p', 'seed-reclaim', ('s.a', 's.b'),
				(Case('s.a.order-9', Status.SKIP, skipped),
				 Case('s.a.order-2', Status.FAIL), Case('s.b', Status.PASS)),
				expect=exp)
		v = judge(rec)
		self.assertTrue(v.ok, (v.reasons, failed(v)))
		self.assertEqual(v.tally(), (2, 0, 1))
		# a skip for another reason is still a miss
		other = dataclasses.replace(rec, cases=(Case('s.a.order-9', Status.SKIP, 'no'),
							 *rec.cases[1:]))
		self.assertIn('MISSED', failed(judge(other))['s.a.order-9'])

	def test_a_variant_run_whose_declared_failures_all_skipped_caught_nothing(self):
		skipped = 'PMD-order THP is not enabled'
		exp = Expectation(frozenset({'s.a'}), may_skip=(('*', skipped),))
		rec = RunRecord('t', 'o', 'v', 'k', 'p', 'seed-reclaim', ('s.a', 's.b'),
				(Case('s.a', Status.SKIP, skipped), Case('s.b', Status.PASS)),
				expect=exp)
		v = judge(rec)
		self.assertFalse(v.ok)
		self.assertIn('every declared failure skipped', ' '.join(v.reasons))
		# an exposure the boot option takes away: not exposed in that boot
		exposed = dataclasses.replace(rec, variant='shipped',
					      expect=dataclasses.replace(exp, exposure=True))
		self.assertTrue(judge(exposed).ok, judge(exposed).reasons)
		self.assertIn('not exposed in this boot', judge(exposed).summary())

	def test_a_hand_made_case_list(self):
		rec = RunRecord('t', 'o', 'v', 'k', 'p', 'shipped', ('s.a',),
				(Case('s.a', Status.PASS),))
		self.assertTrue(judge(rec).ok)


if __name__ == '__main__':
	unittest.main()


class HiddenSkipsTest(unittest.TestCase):
	"""6.1's KUnit prints a skipped parameter as plain "ok": never a pass."""

	def test_recorded_run_fails_with_the_reason(self):
		out, rec = recordings.load('6.1-hidden-skips', tree='6.1', port='6.1',
					   kernel='6.1.192')
		self.assertTrue(any('skipped parameters' in e for e in out.parse_errors))
		verdict = judge(rec)
		self.assertFalse(verdict.ok)
		self.assertTrue(any('printed as "ok"' in r or 'skip printed as' in r
				    for r in verdict.reasons), verdict.reasons)


class ExposureTest(unittest.TestCase):
	"""As shipped, an exposed tree must fail exactly its declared exposures."""

	def exposed(self, names, crash=()):
		return Expectation(frozenset(names), frozenset(crash), exposure=True)

	def test_declared_exposure_failing_passes_the_run(self):
		_, rec = recordings.load('6.12-seed-reclaim', variant='shipped')
		info = recordings.about('6.12-seed-reclaim')
		rec = dataclasses.replace(rec, expect=self.exposed(info['expect_fail'],
								   info.get('may_crash', ())))
		verdict = judge(rec)
		self.assertTrue(verdict.ok, verdict.reasons)
		self.assertIn('exposed as declared', verdict.summary())

	def test_an_exposure_that_passes_is_not_exposed(self):
		_, rec = recordings.load('6.12-shipped')
		name = 'thp_deferred_split.thp_ds_test_free_put'
		rec = dataclasses.replace(rec, expect=self.exposed([name]))
		verdict = judge(rec)
		self.assertFalse(verdict.ok)
		self.assertTrue(any(j.why.startswith('NOT EXPOSED') for j in verdict.judgements))


class MayFailTest(unittest.TestCase):
	"""A variant's race case may pass or fail; nothing else is loosened."""

	def test_a_may_fail_case_failing_is_allowed_and_nothing_else(self):
		_, rec = recordings.load('6.12-shipped')
		race = 'thp_deferred_split_race.thp_ds_test_race_reclaim_scan'
		other = 'thp_deferred_split.thp_ds_test_split'
		cases = tuple(Case(c.name, Status.FAIL) if c.name in (race, other) else c
			      for c in rec.cases)
		expect = Expectation(frozenset({other}), may_fail=frozenset({race}))
		self.assertTrue(judge(dataclasses.replace(rec, cases=cases, expect=expect)).ok)
		strict = Expectation(frozenset({other}))
		self.assertFalse(judge(dataclasses.replace(rec, cases=cases, expect=strict)).ok)
		passing = tuple(Case(c.name, Status.PASS) if c.name == race else c for c in cases)
		self.assertTrue(judge(dataclasses.replace(rec, cases=passing, expect=expect)).ok)


class CannotSkipTest(unittest.TestCase):
	"""5.10's KUnit cannot skip: the port fails a would-be skip, saying so."""

	CHARGE_MOVE = 'thp_deferred_split_v1.thp_ds_test_charge_move'

	def load(self, may_skip=()):
		info = recordings.about('5.10-cannot-skip')
		expect = Expectation(frozenset(info['expect_fail']), exposure=True,
				     may_skip=tuple(may_skip))
		return recordings.load('5.10-cannot-skip', expect=expect, tree='5.10', port='5.10',
				       kernel='5.10.262')

	def test_recorded_would_be_skip_is_a_skip_with_its_reason(self):
		_, rec = self.load()
		case = next(c for c in rec.cases if c.name == self.CHARGE_MOVE)
		self.assertEqual(case.status, Status.SKIP)
		self.assertIn('cannot start a user task', case.reason)

	def test_declared_skip_passes_the_run(self):
		_, rec = self.load([(self.CHARGE_MOVE, 'cannot start a user task')])
		verdict = judge(rec)
		self.assertTrue(verdict.ok, verdict.reasons)
		self.assertEqual(verdict.count(Outcome.SKIPPED), 1)

	def test_undeclared_skip_fails_the_run(self):
		_, rec = self.load()
		self.assertFalse(judge(rec).ok)

	def test_a_case_that_also_failed_a_check_stays_failed(self):
		log = '\n'.join([
			'    # Subtest: thp_deferred_split_v1',
			'    # thp_ds_test_a: EXPECTATION FAILED at mm/tests/thp_deferred_split_kunit.c:10',
			'queue: length counter is 1, expected 0',
			'    # thp_ds_test_a: ASSERTION FAILED at mm/tests/thp_deferred_split_kunit.h:117',
			'SKIP (this KUnit cannot skip): no memory',
			'    not ok 1 - thp_ds_test_a',
			'    # thp_ds_test_b: ASSERTION FAILED at mm/tests/thp_deferred_split_kunit.h:117',
			'SKIP (this KUnit cannot skip): no memory',
			'    not ok 2 - thp_ds_test_b',
			'not ok 1 - thp_deferred_split_v1'])
		self.assertEqual(console.unskippable_skips(log),
				 {'thp_deferred_split_v1.thp_ds_test_b': 'no memory'})

	def test_kunit_py_exit_status_is_explained_by_the_would_be_skip(self):
		_, rec = self.load([(self.CHARGE_MOVE, 'cannot start a user task')])
		self.assertEqual(rec.unskippable, (self.CHARGE_MOVE,))
		rec = dataclasses.replace(rec, expect=Expectation(
			may_skip=((self.CHARGE_MOVE, 'cannot start a user task'),)),
			cases=tuple(dataclasses.replace(c, status=Status.PASS)
				    if c.status == Status.FAIL else c for c in rec.cases))
		self.assertTrue(judge(rec).ok, judge(rec).reasons)
		self.assertFalse(judge(dataclasses.replace(rec, unskippable=())).ok)

	def test_a_filter_without_the_exposures_is_a_plain_run(self):
		info = recordings.about('5.10-cannot-skip')
		expect = Expectation(frozenset(info['expect_fail']), exposure=True)
		_, rec = recordings.load('5.10-cannot-skip', expect=expect,
					 filter_glob='thp_deferred_split.*free*', tree='5.10',
					 port='5.10', kernel='5.10.262')
		verdict = judge(rec)
		self.assertTrue(verdict.ok, verdict.reasons)
		self.assertFalse(verdict.exposure)
		self.assertTrue(verdict.summary().startswith('PASS ('), verdict.summary())


class MayFailOnTest(unittest.TestCase):
	"""A race case a target may not land: pass, fail, or (if May-Crash) crash."""

	def test_a_may_fail_case_that_may_crash_may_crash(self):
		race = 'thp_deferred_split_race.thp_ds_test_race_reclaim_scan'
		rec = RunRecord(tree='6.12', origin='o', version='v', kernel='k', port='6.12',
				variant='seed-reclaim', selected=('s.a', race),
				cases=(Case('s.a', Status.FAIL), Case(race, Status.ERROR)),
				expect=Expectation(frozenset({'s.a'}), frozenset({race}),
						   may_fail=frozenset({race})),
				oops='Unable to handle kernel NULL pointer dereference')
		self.assertTrue(judge(rec).ok, judge(rec).reasons)
		no_crash = dataclasses.replace(rec, expect=Expectation(
			frozenset({'s.a'}), may_fail=frozenset({race})))
		self.assertFalse(judge(no_crash).ok)
