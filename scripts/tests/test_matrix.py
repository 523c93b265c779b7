"""Tests for thpds.matrix, on records of real runs (the matrix of 2026-11-25, 2 trees x 5 runs)."""

import dataclasses
import json
import os
import unittest

from tests import recordings
from thpds import matrix, proof
from thpds.verdict import Case, RunRecord, Status

DATA = os.path.join(os.path.dirname(__file__), 'data')


class MatrixTest(unittest.TestCase):
	def setUp(self):
		with open(os.path.join(DATA, 'matrix-records.json')) as f:
			self.records = [RunRecord.from_json(r) for r in json.load(f)]

	def test_every_run_has_its_verdict(self):
		text = matrix.render_markdown(self.records)
		self.assertIn('| 6.12 shipped | linux-source-6.12 6.12.117-1~deb12u1 | 6.12.117 |', text)
		self.assertEqual(text.count('caught as declared ('), 8)
		self.assertEqual(text.count('| PASS (21 passed, 0 failed, 0 skipped) |'), 2)
		self.assertIn('do not edit', text)

	def test_declared_failures_are_marked(self):
		text = matrix.render_markdown(self.records)
		row = next(line for line in text.splitlines()
			   if line.startswith('| thp_ds_test_migrate |'))
		self.assertEqual(row.count('**FAIL** (expected)'), 2)
		self.assertNotIn('(MISSED) |', text)

	def test_a_missed_case_shows(self):
		rec = self.records[1]
		name = sorted(rec.expect.expect_fail)[0]
		rec = dataclasses.replace(rec, cases=tuple(
			Case(c.name, Status.PASS) if c.name == name else c for c in rec.cases))
		self.assertIn('FAIL: NOT caught as declared', matrix.run_verdict(rec))
		self.assertIn('PASS (MISSED)', matrix.render_markdown([rec]))

	def test_a_case_without_result_is_a_visible_cell(self):
		rec = dataclasses.replace(self.records[0], cases=self.records[0].cases[:-1])
		text = matrix.render_markdown([rec])
		row = next(line for line in text.splitlines() if 'race_reclaim_scan' in line)
		self.assertEqual(row, '| thp_ds_test_race_reclaim_scan | **NOTRUN** |')

	def test_cells_say_crash_skip_and_build_failure(self):
		rec = dataclasses.replace(self.records[0], oops='BUG: x', cases=(
			Case('thp_deferred_split.thp_ds_test_migrate', Status.ERROR),
			Case('thp_deferred_split.thp_ds_test_charge', Status.SKIP, 'no mTHP')))
		self.assertEqual(matrix.cell(rec, 'thp_deferred_split.thp_ds_test_migrate'), '**CRASH**')
		self.assertEqual(matrix.cell(rec, 'thp_deferred_split.thp_ds_test_charge'),
				 'SKIP (no mTHP)')
		self.assertEqual(matrix.run_verdict(dataclasses.replace(rec, built=False)), 'BUILD-FAIL')
		self.assertEqual(matrix.cell(dataclasses.replace(rec, built=False),
					     'thp_deferred_split.thp_ds_test_migrate'), '**BUILD-FAIL**')

	def test_a_parameter_the_tree_lacks_is_not_a_missing_result(self):
		rec = dataclasses.replace(self.records[0], cases=tuple(
			c for c in self.records[0].cases if not c.name.endswith('.order 4')))
		self.assertEqual(matrix.cell(rec, 'thp_deferred_split.thp_ds_test_enqueue.order 4'),
				 '—')
		self.assertEqual(matrix.cell(rec, 'thp_deferred_split.thp_ds_test_enqueue.order 9'),
				 'PASS')

	def test_a_case_a_tree_runs_without_parameters_has_no_parameter_rows(self):
		enqueue = 'thp_deferred_split.thp_ds_test_enqueue'
		params = self.records[0]	# runs it with its orders
		bare = dataclasses.replace(params, cases=tuple(
			c for c in params.cases if not c.name.startswith(enqueue + '.'))
			+ (Case(enqueue, Status.PASS),))	# 5.10: no parameterised cases
		self.assertEqual(matrix.cell(bare, enqueue + '.order 9'), '—')
		self.assertEqual(matrix.cell(bare, enqueue), 'PASS')
		self.assertEqual(matrix.cell(params, enqueue), '—')
		self.assertEqual(matrix.cell(params, enqueue + '.order 9'), 'PASS')
		neither = dataclasses.replace(params, cases=tuple(
			c for c in params.cases if not c.name.startswith(enqueue)))
		self.assertEqual(matrix.cell(neither, enqueue), '**NOTRUN**')

	def test_the_reading_is_per_tree_and_target(self):
		arm = [dataclasses.replace(r, arch='arm64-64k') for r in self.records]
		text = '\n'.join(matrix.reading(self.records + arm))
		self.assertIn('- **6.12** (', text)
		self.assertIn('- **6.12 arm64-64k** (', text)
		self.assertIn('| 6.12 arm64-64k shipped |', matrix.render_markdown(arm))

	def test_json_round_trip_keeps_the_facts(self):
		again = json.loads(matrix.render_json(self.records))
		self.assertEqual([r['variant'] for r in again], [r.variant for r in self.records])
		self.assertEqual(again[0]['config_sha256'], self.records[0].config_sha256)
		self.assertNotIn('log', again[0])

	def test_repeat_table(self):
		crash = dataclasses.replace(self.records[4], oops='BUG: x',
					    kernel_reports=('DEBUG_LIST: list_del corruption',))
		empty = dataclasses.replace(self.records[4], cases=(), oops='')
		text = matrix.render_repeat([self.records[4], crash, empty])
		self.assertIn('runs: 3; verdict PASS in 2, FAIL in 0, no result in 1', text)
		self.assertIn('CONFIG_DEBUG_LIST reported list corruption in 1; the guest oopsed in 2',
			      text)
		self.assertIn('| 3 |', text)
		self.assertIn('no result', matrix.repeat_outcome(empty))
		arm = dataclasses.replace(self.records[4], arch='arm64-64k')
		self.assertIn(f'# Repeated runs: {arm.tree} arm64-64k {arm.variant}',
			      matrix.render_repeat([arm]))


if __name__ == '__main__':
	unittest.main()


class MergeTest(unittest.TestCase):
	def test_a_merge_keeps_the_runs_it_does_not_redo(self):
		import tempfile
		with open(os.path.join(DATA, 'matrix-records.json')) as f:
			old = [RunRecord.from_json(d) for d in json.load(f)]
		fresh = [dataclasses.replace(r, tree='7.3', version='7.3.4-1~bpo13+1')
			 for r in old if r.tree == old[0].tree]
		with tempfile.TemporaryDirectory() as d:
			path = os.path.join(d, 'matrix.json')
			with open(path, 'w') as f:
				json.dump([r.to_json() for r in old], f)
			merged = matrix.merged(path, fresh)
		self.assertEqual(merged, old + fresh)
		redo = [dataclasses.replace(r, seconds=99.0) for r in old if r.tree == old[0].tree]
		with tempfile.TemporaryDirectory() as d:
			path = os.path.join(d, 'matrix.json')
			with open(path, 'w') as f:
				json.dump([r.to_json() for r in old], f)
			merged = matrix.merged(path, redo)
		self.assertEqual(merged, [r for r in old if r.tree != old[0].tree] + redo)

	def test_checks_count_only_runs_of_the_same_source(self):
		with open(os.path.join(DATA, 'matrix-records.json')) as f:
			self.records = [RunRecord.from_json(r) for r in json.load(f)]
		source = 'static void thp_ds_test_a(struct kunit *test)\n{\n' \
			 '\tKUNIT_EXPECT_TRUE(test, x);\n\tKUNIT_EXPECT_TRUE(test, y);\n}\n'
		files = {'mm/tests/thp_deferred_split_free.c': source}
		now = dataclasses.replace(self.records[0], suite_revision='aaa',
					  failed_checks=('thp_ds_test_a:thp_deferred_split_free.c:3',))
		old = dataclasses.replace(self.records[1], suite_revision='bbb',
					  failed_checks=('thp_ds_test_a:thp_deferred_split_free.c:4',))
		text = matrix.render_checks([now, old], files,
					    lambda rev: files if rev == 'aaa' else {'older': ''})
		self.assertIn('**never seen failing: 1**', text)
		self.assertIn('Not counted: 1 runs built from another suite source (`bbb`)', text)
		self.assertIn(old.label, text.split('Not counted:')[1])


class ProofTest(unittest.TestCase):
	"""docs/results/proof.md: each case's comment, and a real failure of it."""

	def test_a_case_comment_and_its_citations(self):
		source = ('/*\n * The last put unqueues first.  commit f8f931bba0f9 ("mm/thp: fix\n'
			  ' * deferred split unqueue naming and locking").\n */\n'
			  'static void thp_ds_test_free_put(struct kunit *test)\n{\n}\n')
		comments = proof.case_comments(source)
		self.assertIn('The last put unqueues first.', comments['thp_ds_test_free_put'])

	def test_failure_lines_come_from_the_recorded_console(self):
		from tests import recordings
		console_text = open(os.path.join(recordings.DATA, '5.10-cannot-skip',
						 'console.log')).read()
		lines = proof.failure_lines(console_text, 'thp_deferred_split_v1.thp_ds_test_swapout')
		self.assertTrue(lines[0].startswith('# thp_ds_test_swapout: EXPECTATION FAILED'))
		self.assertTrue(any('mem_cgroup_swapout() cleared the memcg' in line for line in lines))


class CompareTest(unittest.TestCase):
	"""Two matrices of the same runs, cell by cell (lava-run --compare)."""

	def test_the_same_runs_compare_equal_and_a_changed_cell_is_named(self):
		_, rec = recordings.load('6.12-seed-reclaim')
		self.assertEqual(matrix.compare([rec], [rec]), ([], []))
		changed = dataclasses.replace(rec, cases=tuple(
			Case(c.name, Status.PASS) if c.name.endswith('free_reclaim_lock') else c
			for c in rec.cases))
		diffs, _ = matrix.compare([rec], [changed])
		self.assertTrue(any('thp_ds_test_free_reclaim_lock: **FAIL** (expected) against '
				    'PASS (MISSED)' in d for d in diffs), diffs)
		self.assertTrue(any('verdict' in d for d in diffs))
		self.assertEqual(matrix.compare([rec], [])[0],
				 [f'{rec.label}: not in the other matrix'])

	def test_a_race_that_crashed_once_and_failed_once_is_caught_both_times(self):
		_, rec = recordings.load('6.12-seed-reclaim')	# the race crashed the guest
		race = 'thp_deferred_split_race.thp_ds_test_race_reclaim_scan'
		failed = dataclasses.replace(rec, oops='', cases=tuple(
			Case(c.name, Status.FAIL) if c.name == race else c for c in rec.cases))
		diffs, races = matrix.compare([rec], [failed])
		self.assertEqual(diffs, [])
		self.assertEqual(len(races), 1)
		# a case the run does not allow to crash: a difference
		strict = dataclasses.replace(rec, expect=dataclasses.replace(rec.expect,
									     may_crash=frozenset()))
		self.assertNotEqual(matrix.compare([strict], [failed])[0], [])

	def test_a_race_the_variant_may_lose_is_no_difference(self):
		_, rec = recordings.load('6.12-seed-reclaim')
		race = 'thp_deferred_split_race.thp_ds_test_race_reclaim_scan'
		rec = dataclasses.replace(rec, oops='', expect=dataclasses.replace(
			rec.expect, expect_fail=rec.expect.expect_fail - {race},
			may_crash=frozenset(), may_fail=frozenset({race})))
		passed = dataclasses.replace(rec, cases=tuple(
			Case(c.name, Status.PASS) if c.name == race else c for c in rec.cases))
		failed = dataclasses.replace(rec, cases=tuple(
			Case(c.name, Status.FAIL) if c.name == race else c for c in rec.cases))
		diffs, races = matrix.compare([passed], [failed])
		self.assertEqual((diffs, len(races)), ([], 1))
