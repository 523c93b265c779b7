"""Tests for thpds.sources: the suite's files, whole, per port, per patch."""

import os
import shutil
import tempfile
import unittest

from thpds import cases, sources

HEADER = b'''#ifndef _MM_TESTS_THP_DEFERRED_SPLIT_H
/* thp_deferred_split_kunit.c: the fixture */
int thp_ds_test_init(struct kunit *test);

/* thp_deferred_split_a.c */
struct thp_ds_op {
	int x;
};

void thp_ds_test_a(struct kunit *test);

/* thp_deferred_split_b.c */
extern struct kunit_suite thp_ds_b_suite;
void thp_ds_test_b(struct kunit *test);

#endif /* _MM_TESTS_THP_DEFERRED_SPLIT_H */
'''
MAIN = b'''static struct kunit_case cases[] = {
	KUNIT_CASE(thp_ds_test_a),
	KUNIT_CASE_SLOW(thp_ds_test_b),
	{}
};

kunit_test_suites(&thp_ds_test_suite, &thp_ds_b_suite);
'''
FILES = {sources.SHARED: HEADER, sources.MAIN: MAIN,
	 'mm/tests/thp_deferred_split_a.c': b'void thp_ds_test_a(struct kunit *test) {}\n',
	 'mm/tests/thp_deferred_split_b.c': b'struct kunit_suite thp_ds_b_suite;\n'}


class ComposeTest(unittest.TestCase):
	def test_a_left_out_file_takes_its_block_cases_and_suite_with_it(self):
		out = sources.compose(FILES, [sources.SHARED, sources.MAIN,
					      'mm/tests/thp_deferred_split_a.c'])
		self.assertNotIn('mm/tests/thp_deferred_split_b.c', out)
		self.assertNotIn(b'thp_ds_b_suite', out[sources.SHARED])
		self.assertIn(b'struct thp_ds_op', out[sources.SHARED])
		self.assertIn(b'KUNIT_CASE(thp_ds_test_a)', out[sources.MAIN])
		self.assertNotIn(b'thp_ds_test_b', out[sources.MAIN])
		self.assertIn(b'kunit_test_suites(&thp_ds_test_suite);', out[sources.MAIN])

	def test_everything_present_is_unchanged(self):
		self.assertEqual(sources.compose(FILES, FILES), FILES)

	def test_a_use_outside_the_case_tables_is_refused(self):
		files = dict(FILES)
		files[sources.MAIN] = MAIN + b'static int y = sizeof(struct thp_ds_op);\n'
		with self.assertRaises(sources.SourceError) as e:
			sources.compose(files, [sources.SHARED, sources.MAIN,
						'mm/tests/thp_deferred_split_b.c'])
		self.assertIn('thp_ds_op', str(e.exception))
		# ... but a comment may name it
		files[sources.MAIN] = MAIN + b'/* see thp_ds_test_a() */\n'
		sources.compose(files, [sources.SHARED, sources.MAIN])

	def test_a_port_leaves_out_what_its_tree_lacks(self):
		every = cases.repo_declared()
		on_72 = cases.repo_declared('7.2')
		self.assertIn('thp_ds_test_charge_move', every['thp_deferred_split_v1'])
		self.assertNotIn('thp_ds_test_charge_move', on_72['thp_deferred_split_v1'])
		self.assertEqual(list(every), ['thp_deferred_split_v1', 'thp_deferred_split',
					       'thp_deferred_split_checker', 'thp_deferred_split_race'])
		self.assertIn('mm/tests/thp_deferred_split_charge_move.c', sources.omitted('7.2'))


class TreeTextTest(unittest.TestCase):
	"""What a kernel tree has of the suite, as its run is judged."""

	def tree(self, files):
		d = tempfile.mkdtemp()
		self.addCleanup(shutil.rmtree, d)
		os.makedirs(os.path.join(d, 'mm/tests'))
		for rel, text in files.items():
			with open(os.path.join(d, rel), 'w') as f:
				f.write(text)
		return d

	def test_a_tree_with_the_checker_only_has_the_suite(self):
		# the series' checker patch comes before the fixture's main file
		check = ('static struct kunit_case c[] = {\n\tKUNIT_CASE(thp_ds_test_checker),\n\t{}\n};\n'
			 'static struct kunit_suite s = {\n\t.name = "thp_deferred_split_checker",\n'
			 '\t.test_cases = c,\n};\nkunit_test_suites(&s);\n')
		d = self.tree({'mm/tests/thp_deferred_split_check.c': check,
			       'mm/tests/lazy_mmu_mode_kunit.c': 'other\n'})
		self.assertEqual(cases.declared_cases(cases.tree_text(d)),
				 {'thp_deferred_split_checker': ['thp_ds_test_checker']})

	def test_a_tree_without_a_c_file_of_the_suite_has_none(self):
		d = self.tree({'mm/tests/lazy_mmu_mode_kunit.c': 'other\n',
			       'mm/tests/thp_deferred_split.h': '/* a header alone */\n'})
		self.assertEqual(cases.tree_text(d), '')
		self.assertEqual(cases.tree_text(os.path.join(d, 'nowhere')), '')


if __name__ == '__main__':
	unittest.main()
