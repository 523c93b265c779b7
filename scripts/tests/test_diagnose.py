"""Tests for thpds.diagnose: a tree judged on its own results that fails is
told which known fix it lacks, from recorded runs of real kernels."""

import unittest

from thpds import diagnose, suite
from thpds.verdict import JUDGED_DECLARED, JUDGED_OWN, Expectation, judge
from tests import recordings


def own(name, port, **meta):
	"""A recording judged as a tree nobody declared anything for."""
	_, rec = recordings.load(name, expect=Expectation(), filter_glob=None, port=port,
				 variant='shipped', judged=JUDGED_OWN, tree='/src/linux', **meta)
	return rec


class DiagnoseTest(unittest.TestCase):
	def test_a_6_1_tree_lacking_the_swap_out_hunk_is_told_so_and_the_backport(self):
		# Debian 6.1.192 as shipped, as if given by path: FAIL, exposed
		rec = own('6.1-hidden-skips', '6.1')
		self.assertEqual(judge(rec).exit_code, 1)
		lines = diagnose.diagnose(rec)
		self.assertTrue(lines[0].startswith(
			'exposed: lacks f8f931bba0f9 ("mm/thp: fix deferred split unqueue naming and '
			'locking"), swap-out hunk; closed by ports/6.1/backports/0001-mm-thp-unqueue-'
			'a-THP-before-cgroup-v1-swap-out-clear.patch.'), lines)
		# what the suite saw: the memcg cleared while the THP was queued
		self.assertIn('thp_ds_test_swapout: mem_cgroup_swapout() cleared the memcg', lines[0])
		self.assertEqual(len(lines), 1)

	def test_a_port_without_the_backport_names_the_nearest(self):
		rec = own('6.1-hidden-skips', '6.12')
		self.assertIn('port 6.12 ships no backport of it (the nearest: ports/6.1/backports/'
			      '0001-', diagnose.diagnose(rec)[0])

	def test_the_seed_on_the_reclaim_path_and_its_race(self):
		rec = own('6.12-seed-reclaim', '6.12')
		lines = diagnose.diagnose(rec)
		self.assertIn('lacks 7ae88534cdd9', lines[0])
		self.assertIn('memcg 3 split queue: length counter is 1', lines[0])
		self.assertIn("lock was held: the folio was unlinked under another lock", lines[0])
		# the race case belongs to the same fix ('also'): nothing unexplained
		self.assertEqual(len(lines), 1, lines)

	def test_a_failure_no_fix_explains_is_listed(self):
		rec = own('6.12-seed-reclaim', '6.12')
		rec.cases = tuple(c for c in rec.cases if 'free_reclaim_lock' not in c.name)
		lines = diagnose.diagnose(rec)
		self.assertTrue(lines[-1].startswith('no known fix explains: '
						     'thp_deferred_split.thp_ds_test_free_reclaim:'), lines)

	def test_a_passing_run_or_a_declared_one_has_no_diagnosis(self):
		self.assertEqual(diagnose.diagnose(own('6.12-shipped', '6.12')), [])
		_, rec = recordings.load('6.12-seed-reclaim', judged=JUDGED_DECLARED)
		self.assertEqual(diagnose.diagnose(rec), [])

	def test_every_declared_exposure_is_a_known_fix_with_its_backport(self):
		known = diagnose.known_fixes()
		for port in suite.ports():
			for case, why in suite.port_exposures(port).items():
				match = [k for k in known if k.fails == {case}]
				self.assertEqual(len(match), 1, case)
				self.assertTrue(why.startswith(match[0].fix), (port, why))
				self.assertIn(match[0].backport(port), why)


if __name__ == '__main__':
	unittest.main()
