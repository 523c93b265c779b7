"""Tests for thpds.coverage: the check sites of the suite and who made them fail."""

import unittest

from tests import recordings
from thpds import coverage, sources

MAIN = sources.MAIN
NAME = 'thp_deferred_split_kunit.c'
SOURCE = '''static void thp_ds_test_a(struct kunit *test)
{
	KUNIT_ASSERT_TRUE(test, x);
	THP_DS_EXPECT_LEN(test, q, 0,
			  "after the free");
	if (y)
		/* not a check: the case leaves its cgroup behind */
		KUNIT_FAIL(test, "no %d", 1);
}

#define THP_DS_EXPECT_LEN(test, q, len, why) do {	\\
	KUNIT_EXPECT_EQ_MSG(test, a, b, "x");		\\
} while (0)

static void thp_ds_release(void *data)
{
	/* shown failing by thp_ds_test_checker_leak */
	KUNIT_EXPECT_EQ_MSG(test, usage, 0UL, "leak");
}

static void thp_ds_test_checker(struct kunit *test)
{
	KUNIT_EXPECT_TRUE(test, thp_ds_walk(&head));
}
'''


class SitesTest(unittest.TestCase):
	def test_sites_kinds_and_spans(self):
		sites = coverage.sites({MAIN: SOURCE})
		self.assertEqual([(s.first, s.last, s.function, s.kind) for s in sites], [
			(3, 3, 'thp_ds_test_a', 'precondition'),
			(4, 5, 'thp_ds_test_a', 'check'),
			(8, 8, 'thp_ds_test_a', 'cleanup'),
			(18, 18, 'thp_ds_release', 'check'),
			(23, 23, 'thp_ds_test_checker', 'self-test')])
		self.assertEqual(sites[3].shown_by, 'thp_ds_test_checker_leak')
		self.assertIn('"after the free"', sites[1].text)

	def test_a_trailing_comment_does_not_join_the_next_statement(self):
		src = ('static void thp_ds_test_b(struct kunit *test)\n{\n'
		       '\tKUNIT_EXPECT_TRUE(test, x);\t/* why */\n\tfoo(test);\n}\n')
		sites = coverage.sites({MAIN: src})
		self.assertEqual([(s.first, s.last) for s in sites], [(3, 3)])

	def test_a_failure_in_a_continuation_line_finds_its_site(self):
		sites = coverage.sites({MAIN: SOURCE})
		seen = coverage.coverage(sites, [('6.12 put', [('thp_ds_test_a', NAME, 5)])])
		self.assertEqual(seen[sites[1]], ['6.12 put'])
		self.assertEqual(coverage.never_seen(sites, seen), [])

	def test_never_seen_checks_are_counted_in_bold(self):
		sites = coverage.sites({MAIN: SOURCE})
		seen = coverage.coverage(sites, [])
		self.assertEqual(coverage.never_seen(sites, seen), [sites[1]])
		text = coverage.render(sites, seen, 'abc')
		self.assertIn('**never seen failing: 1**', text)
		self.assertIn('shown by the self-test `thp_ds_test_checker_leak`', text)

	def test_the_suites_own_checks(self):
		sites = coverage.sites({rel: data.decode() for rel, data in
					sources.repo_files().items()})
		self.assertEqual({s.file for s in sites} - {NAME}, {
			f'thp_deferred_split_{n}.c' for n in ('cgroup', 'check', 'free', 'lock',
							     'reclaim', 'split', 'offline', 'race',
							     'swapout', 'charge_move', 'numa')} - {
			'thp_deferred_split_cgroup.c'})
		kinds = {s.kind for s in sites}
		self.assertEqual(kinds, {'check', 'precondition', 'cleanup', 'self-test'})
		self.assertTrue(all(s.function for s in sites))
		self.assertTrue(any(s.shown_by == 'thp_ds_test_checker_leak' for s in sites))


class FailedLinesTest(unittest.TestCase):
	def test_failed_checks_of_a_recorded_variant_run(self):
		out, rec = recordings.load('6.12-seed-reclaim')
		functions = {c.split(':')[0] for c in out.failed_checks}
		self.assertEqual(functions, {'thp_ds_test_free_reclaim', 'thp_ds_test_free_reclaim_lock'})
		self.assertEqual(rec.failed_checks, tuple(out.failed_checks))
		self.assertTrue(all(coverage.parse_failed(c)[2] > 0 for c in out.failed_checks))

	def test_a_failed_check_names_its_file(self):
		console = ('    # thp_ds_test_split: EXPECTATION FAILED at '
			   'mm/tests/thp_deferred_split_split.c:170\n'
			   '    # thp_ds_test_put: EXPECTATION FAILED at mm/tests/other.c:3\n')
		self.assertEqual(coverage.failed_lines(console),
				 [('thp_ds_test_split', 'thp_deferred_split_split.c', 170)])
		self.assertEqual(coverage.parse_failed('thp_ds_test_a:thp_deferred_split_free.c:9'),
				 ('thp_ds_test_a', 'thp_deferred_split_free.c', 9))
		# a record of the one-file suite
		self.assertEqual(coverage.parse_failed('thp_ds_test_a:9'), ('thp_ds_test_a', NAME, 9))


if __name__ == '__main__':
	unittest.main()
