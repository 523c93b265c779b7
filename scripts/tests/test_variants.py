"""Tests for thpds.variants: the declarations in the repo, and the judging."""

import unittest

from thpds import suite, variants


class DeclarationTest(unittest.TestCase):
	def test_every_port_has_the_four_variants(self):
		for port in suite.ports():
			self.assertEqual(sorted(variants.for_port(port)),
					 ['migrate', 'node-queue', 'put', 'seed-reclaim'], port)

	def test_declarations_name_cases_of_the_suite(self):
		with open(suite.REPO + '/mm/tests/thp_deferred_split_kunit.c') as f:
			source = f.read()
		for port in suite.ports():
			for v in variants.for_port(port).values():
				self.assertTrue(v.title.startswith('UNPATCHED: '), v.patch)
				for name in v.expect_fail:
					parts = name.split('.')
					self.assertTrue(parts[0].startswith('thp_deferred_split'), name)
					self.assertIn(parts[1] + '(struct kunit *test)', source, name)

	def test_seed_declares_the_reclaim_cases(self):
		v = variants.for_port('6.12')['seed-reclaim']
		self.assertIn('thp_deferred_split.thp_ds_test_free_reclaim.order 9', v.expect_fail)
		self.assertIn('thp_deferred_split.thp_ds_test_free_reclaim_lock', v.expect_fail)
		self.assertIn('7ae88534cdd9', open(v.patch).read())


class JudgeTest(unittest.TestCase):
	def test_exact_match(self):
		v = variants.judge({'s.a'}, {'s.a': 'FAIL', 's.b': 'PASS'})
		self.assertTrue(v.ok)

	def test_missed_case(self):
		v = variants.judge({'s.a', 's.b'}, {'s.a': 'FAIL', 's.b': 'PASS'})
		self.assertFalse(v.ok)
		self.assertEqual(v.missed, {'s.b'})

	def test_collateral_failure(self):
		v = variants.judge({'s.a'}, {'s.a': 'FAIL', 's.c': 'ERROR'})
		self.assertFalse(v.ok)
		self.assertEqual(v.collateral, {'s.c'})

	def test_case_that_did_not_run_is_missed(self):
		v = variants.judge({'s.a'}, {})
		self.assertEqual(v.missed, {'s.a'})
		self.assertFalse(v.ok)


if __name__ == '__main__':
	unittest.main()
