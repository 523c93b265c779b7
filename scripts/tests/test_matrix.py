"""Tests for thpds.matrix, on records of real runs (the matrix of 2026-11-25, 2 trees x 5 runs)."""

import json
import os
import unittest

from thpds import matrix

DATA = os.path.join(os.path.dirname(__file__), 'data')


class MatrixTest(unittest.TestCase):
	def setUp(self):
		with open(os.path.join(DATA, 'matrix-records.json')) as f:
			self.records = json.load(f)

	def test_every_run_has_its_verdict(self):
		text = matrix.render_markdown(self.records)
		self.assertIn('| 6.12 shipped | linux-source-6.12 6.12.117-1~deb12u1 | 6.12.117 |', text)
		self.assertEqual(text.count('caught as declared'), 8)
		self.assertEqual(text.count('| all pass |'), 2)
		self.assertIn('do not edit', text)

	def test_declared_failures_are_marked(self):
		text = matrix.render_markdown(self.records)
		row = next(line for line in text.splitlines()
			   if line.startswith('| thp_ds_test_migrate |'))
		self.assertEqual(row.count('**FAIL** (expected)'), 2)
		self.assertNotIn('MISSED', text)

	def test_a_missed_case_shows(self):
		rec = dict(self.records[1])
		rec['cases'] = dict(rec['cases'])
		name = rec['expect_fail'][0]
		rec['cases'][name] = 'PASS'
		self.assertIn('NOT as declared: 1 missed', matrix.column_verdict(rec))
		self.assertIn('pass (MISSED)', matrix.render_markdown([rec]))

	def test_json_round_trip_keeps_the_facts(self):
		again = json.loads(matrix.render_json(self.records))
		self.assertEqual([r['variant'] for r in again], [r['variant'] for r in self.records])
		self.assertEqual(again[0]['config_sha256'], self.records[0]['config_sha256'])

	def test_repeat_classification(self):
		rec = {'date': 'd', 'cases': {'s.race': 'ERROR'}, 'oops': 'BUG: x'}
		log = 'list_del corruption, a\nlist_add corruption. b\n'
		r = matrix.classify_repeat(rec, log, ['s.race'])
		self.assertTrue(r['failed'])
		self.assertEqual(r['debug_list_reports'], 2)
		text = matrix.render_repeat(dict(self.records[0], variant='v'), [r], ['s.race'])
		self.assertIn('runs: 1; a case failed in 1; CONFIG_DEBUG_LIST reported list '
			      'corruption in 1; the guest oopsed in 1', text)


if __name__ == '__main__':
	unittest.main()
