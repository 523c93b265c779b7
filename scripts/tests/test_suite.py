"""Tests for thpds.suite: port choice and the Kconfig/Makefile insertion."""

import os
import unittest

from thpds import suite

MM_KCONFIG = 'menu "Memory Management options"\n\nconfig X\n\tbool\n\nsource "mm/damon/Kconfig"\n\nendmenu\n'


class PortTest(unittest.TestCase):
	def test_ports_in_repo(self):
		self.assertIn('6.12', suite.ports())
		self.assertIn('7.2', suite.ports())


class InsertTest(unittest.TestCase):
	def fragment(self):
		return suite._fragment_body(os.path.join(suite.REPO, 'Kconfig'))

	def test_fragment_has_no_header(self):
		self.assertTrue(self.fragment().startswith('config THP_DEFERRED_SPLIT_KUNIT_TEST\n'))

	def test_kconfig_goes_before_damon(self):
		out = suite.insert_kconfig(MM_KCONFIG, self.fragment())
		self.assertLess(out.index('config THP_DEFERRED_SPLIT_KUNIT_TEST'),
				out.index('source "mm/damon/Kconfig"'))
		self.assertTrue(out.endswith('endmenu\n'))

	def test_kconfig_without_damon_goes_before_endmenu(self):
		out = suite.insert_kconfig('menu "x"\nconfig X\n\tbool\nendmenu\n', self.fragment())
		self.assertLess(out.index('THP_DEFERRED_SPLIT'), out.index('endmenu'))

	def test_tree_that_has_the_suite_is_refused(self):
		once = suite.insert_kconfig(MM_KCONFIG, self.fragment())
		with self.assertRaises(suite.SuiteError):
			suite.insert_kconfig(once, self.fragment())

	def test_makefile_line_appended(self):
		frag = suite._fragment_body(os.path.join(suite.REPO, 'Makefile'))
		out = suite.insert_makefile('obj-y += a.o\n', frag)
		self.assertEqual(out, 'obj-y += a.o\n'
				 'obj-$(CONFIG_THP_DEFERRED_SPLIT_KUNIT_TEST) += tests/thp_deferred_split_kunit.o\n')

	def test_suite_files_for_a_port(self):
		base = {'mm/Kconfig': MM_KCONFIG, 'mm/Makefile': 'obj-y += a.o\n'}
		files = suite.suite_files(base.__getitem__, '7.2')
		self.assertEqual(sorted(files), ['mm/Kconfig', 'mm/Makefile',
						 'mm/tests/.kunitconfig',
						 'mm/tests/thp_deferred_split_kunit.c',
						 'mm/tests/thp_deferred_split_kunit.h'])
		self.assertIn(b'list_lru', files['mm/tests/thp_deferred_split_kunit.h'])


if __name__ == '__main__':
	unittest.main()
