"""Tests for thpds.suite: port choice and the Kconfig/Makefile insertion."""

import os
import unittest

import fnmatch

from thpds import cases, sources, suite

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
		self.assertTrue(out.startswith('obj-y += a.o\n'
					       'obj-$(CONFIG_THP_DEFERRED_SPLIT_KUNIT_TEST) += '
					       'tests/thp_deferred_split_cgroup.o\n'))
		self.assertEqual(out.count('\n'), 1 + len(sources.objects(sources.repo_files())))
		# only the objects of the files a port or a patch of the series has
		out = suite.insert_makefile('obj-y += a.o\n', frag, ['tests/thp_deferred_split_kunit.o'])
		self.assertEqual(out, 'obj-y += a.o\n'
				 'obj-$(CONFIG_THP_DEFERRED_SPLIT_KUNIT_TEST) += tests/thp_deferred_split_kunit.o\n')
		with self.assertRaises(suite.SuiteError):
			suite.insert_makefile('obj-y += a.o\n', frag, ['tests/unknown.o'])

	def test_suite_files_for_a_port(self):
		base = {'mm/Kconfig': MM_KCONFIG, 'mm/Makefile': 'obj-y += a.o\n'}
		files = suite.suite_files(base.__getitem__, '7.2')
		every = sources.repo_files()
		# 7.2 leaves the charge move out (ports/7.2/omits): its tree has none
		self.assertEqual(sorted(files), sorted(
			['mm/Kconfig', 'mm/Makefile', 'mm/tests/thp_deferred_split_kunit.h',
			 'mm/tests/thp_deferred_split_vfs.h'] +
			[rel for rel in every if 'charge_move' not in rel]))
		self.assertIn(b'list_lru', files['mm/tests/thp_deferred_split_kunit.h'])
		self.assertNotIn(b'charge_move', files['mm/tests/thp_deferred_split_swapout.c'])
		self.assertNotIn(b'charge_move', files['mm/tests/thp_deferred_split.h'])
		self.assertNotIn(b'charge_move', files['mm/Makefile'])
		files = suite.suite_files(base.__getitem__, '6.12')
		self.assertIn(b'KUNIT_CASE(thp_ds_test_charge_move)',
			      files['mm/tests/thp_deferred_split_swapout.c'])


class BootTest(unittest.TestCase):
	def test_kernel_options_are_accepted(self):
		suite.check_boot(('cgroup_disable=memory', 'cgroup.memory=nokmem',
				  'transparent_hugepage=always', 'numa=fake=2', 'nokaslr'))

	def test_what_is_not_one_option_or_is_the_tools_own_is_refused(self):
		for bad in ('a b', '"x"', '', 'oops=none', 'panic=0', 'tsc=reliable',
			    'kunit.filter_glob=x', 'x;reboot'):
			with self.assertRaises(suite.SuiteError, msg=bad):
				suite.check_boot((bad,))

	def test_a_variant_runs_with_boot_options_but_not_with_the_tools_own(self):
		from thpds import runner
		from thpds.errors import UsageError
		from thpds.target import DEFAULT
		runner.check_request('6.12', None, 'seed-reclaim', DEFAULT, ('cgroup_disable=memory',))
		with self.assertRaisesRegex(UsageError, 'boots with its own'):
			runner.check_request('6.12', None, None, DEFAULT, ('panic=0',))
		runner.check_request('6.12', None, None, DEFAULT, ('cgroup_disable=memory',))

	def test_a_boot_option_a_variant_does_not_reach_leaves_nothing_to_fail(self):
		import dataclasses
		from thpds import runner, variants
		seed = variants.for_port('6.12')['seed-reclaim']
		unreached = dataclasses.replace(seed, unreached_with=frozenset({'cgroup_disable=memory'}))
		exp = runner.expectation(suite.Applied('6.12', unreached), boot=('cgroup_disable=memory',))
		self.assertEqual((exp.expect_fail, exp.may_crash, exp.may_fail),
				 (frozenset(), frozenset(), frozenset()))
		self.assertFalse(exp.exposure)
		# another option: the declaration holds, and the option's skips are allowed
		exp = runner.expectation(suite.Applied('6.12', unreached),
					 boot=('transparent_hugepage=never',))
		self.assertEqual(exp.expect_fail, seed.expect_fail)
		self.assertIn(('*', 'PMD-order THP is not enabled'), exp.may_skip)

	def test_a_boot_option_a_variant_declares_cases_for_replaces_its_declaration(self):
		import dataclasses
		from thpds import runner, variants
		seed = variants.for_port('7.2')['seed-reclaim']
		reclaim = 'thp_deferred_split.thp_ds_test_free_reclaim'
		race = 'thp_deferred_split_race.thp_ds_test_race_reclaim_scan'
		v = dataclasses.replace(seed, unreached_with=frozenset(), fail_with=(
			('cgroup.memory=nokmem', frozenset({reclaim, race})),))
		exp = runner.expectation(suite.Applied('7.2', v), boot=('cgroup.memory=nokmem',))
		self.assertEqual(exp.expect_fail, {reclaim, race})
		self.assertEqual(exp.may_crash, {race})
		self.assertEqual(runner.expectation(suite.Applied('7.2', v)).expect_fail,
				 seed.expect_fail)

	def test_the_numa_case_may_skip_and_cannot_fail_on_one_node_only(self):
		from thpds import runner, target, variants
		numa = 'thp_deferred_split.thp_ds_test_numa_free'
		put = suite.Applied('7.2', variants.for_port('7.2')['put'])
		one = runner.expectation(put)
		self.assertNotIn(numa, one.expect_fail)
		self.assertTrue(one.allows_skip(numa, 'needs two NUMA nodes with CPUs and memory'))
		two = runner.expectation(put, target.NUMA)
		self.assertIn(numa, two.expect_fail)
		self.assertFalse(two.allows_skip(numa, 'needs two NUMA nodes with CPUs and memory'))
		shipped = runner.expectation(suite.Applied('7.2'), target.NUMA)
		self.assertFalse(shipped.allows_skip(numa, 'needs two NUMA nodes'))

	def test_the_ports_mthp_sizes_are_enabled_at_boot_for_the_page_size(self):
		self.assertEqual(suite.port_thp_anon('7.2', 4),
				 ('thp_anon=16K,64K:madvise;2048K:inherit',))
		self.assertEqual(suite.port_thp_anon('6.12', 16),
				 ('thp_anon=64K,256K:madvise;32768K:inherit',))
		self.assertEqual(suite.port_thp_anon('6.12', 64),
				 ('thp_anon=256K,1024K:madvise;524288K:inherit',))
		self.assertEqual(suite.port_thp_anon('6.1', 4), ())
		self.assertEqual(suite.port_thp_anon('5.10', 16), ())

	def test_only_the_options_listed_allow_skips(self):
		self.assertEqual(suite.boot_skips(()), ())
		self.assertEqual(suite.boot_skips(('transparent_hugepage=always',)), ())
		skips = suite.boot_skips(('cgroup_disable=memory', 'nokaslr'))
		self.assertIn(('thp_deferred_split_v1.*', 'the memory controller is disabled'), skips)
		self.assertEqual(len(skips), 3)

	def test_each_allowed_skip_names_cases_and_a_reason_of_the_suite(self):
		declared = cases.repo_declared()
		names = [f'{s}.{c}' for s, cs in declared.items() for c in cs]
		source = cases.repo_text()
		for option in ('cgroup_disable=memory',):
			for glob, reason in suite.boot_skips((option,)):
				self.assertTrue(fnmatch.filter(names, glob), glob)
				self.assertIn(reason, source)


if __name__ == '__main__':
	unittest.main()
