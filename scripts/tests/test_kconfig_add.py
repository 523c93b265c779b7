"""--kconfig-add: a maintainer's own options, refused with the reason where
they cannot work, and built in a directory of their own."""

import contextlib
import io
import os
import tempfile
import unittest
from unittest import mock

from thpds import cli, host, kconfig_add, runner, target, tree
from thpds.errors import UsageError


class ParseTest(unittest.TestCase):
	def test_the_forms_kconfig_takes_are_accepted(self):
		given = ('CONFIG_NUMA=y', 'CONFIG_NR_CPUS=4', 'CONFIG_CMDLINE="a b"', 'CONFIG_X=n',
			 'CONFIG_BASE=0x1000', 'CONFIG_M=m', 'CONFIG_NUMA=y')
		self.assertEqual(kconfig_add.parse(given), given[:-1])

	def test_a_malformed_option_is_refused(self):
		for bad in ('NUMA=y', 'CONFIG_NUMA', 'CONFIG_NUMA=yes please', 'CONFIG_A=y\nB=y', ''):
			with self.subTest(option=bad), self.assertRaises(UsageError) as cm:
				kconfig_add.parse([bad])
			self.assertIn('give CONFIG_NAME=VALUE', str(cm.exception))

	def test_one_option_with_two_values_is_refused(self):
		with self.assertRaises(UsageError) as cm:
			kconfig_add.parse(['CONFIG_NUMA=y', 'CONFIG_NUMA=n'])
		self.assertIn('CONFIG_NUMA: given as both y and n', str(cm.exception))


class ConflictTest(unittest.TestCase):
	def test_taking_away_what_the_suite_needs_is_refused_with_the_reason(self):
		with self.assertRaises(UsageError) as cm:
			kconfig_add.conflicts(['CONFIG_TRANSPARENT_HUGEPAGE=n'])
		self.assertIn('conflicts with CONFIG_TRANSPARENT_HUGEPAGE=y: the suite needs it '
			      '(mm/tests/.kunitconfig)', str(cm.exception))

	def test_changing_what_the_target_sets_is_refused(self):
		with self.assertRaises(UsageError) as cm:
			kconfig_add.conflicts(['CONFIG_NUMA=n'], target.NUMA.kconfig())
		self.assertIn('conflicts with CONFIG_NUMA=y: the target or profile', str(cm.exception))

	def test_what_the_suite_only_leaves_unset_may_be_set(self):
		kconfig_add.conflicts(['CONFIG_FUNCTION_TRACER=y', 'CONFIG_NUMA=y', 'CONFIG_MEMCG=y'])


class BuildDirectoryTest(unittest.TestCase):
	def setUp(self):
		tmp = tempfile.TemporaryDirectory()
		self.addCleanup(tmp.cleanup)
		patcher = mock.patch.dict(os.environ, {'THP_DS_CACHE': tmp.name})
		patcher.start()
		self.addCleanup(patcher.stop)
		self.tree = tree.Tree(os.path.join(tmp.name, 'trees', 'debian-6.12'))

	def test_added_options_build_and_record_in_directories_of_their_own(self):
		plain = runner.run_dirs(self.tree, 'default')
		numa = runner.run_dirs(self.tree, 'default', kconfig=('CONFIG_NUMA=y',))
		self.assertNotEqual(plain[0], numa[0])
		self.assertNotEqual(plain[1], numa[1])
		self.assertTrue(numa[0].endswith('debian-6.12-' + kconfig_add.build_suffix(
			['CONFIG_NUMA=y'])))
		# the same options in another order: the same build
		self.assertEqual(runner.run_dirs(self.tree, 'live', kconfig=('CONFIG_A=y', 'CONFIG_B=y')),
				 runner.run_dirs(self.tree, 'live', kconfig=('CONFIG_B=y', 'CONFIG_A=y')))
		self.assertEqual(kconfig_add.build_suffix(()), '')


class CliTest(unittest.TestCase):
	def setUp(self):
		tmp = tempfile.TemporaryDirectory()
		self.addCleanup(tmp.cleanup)
		patcher = mock.patch.dict(os.environ, {'THP_DS_CACHE': os.path.join(tmp.name, 'c')})
		patcher.start()
		self.addCleanup(patcher.stop)
		ensure = mock.patch.object(host, 'ensure')
		ensure.start()
		self.addCleanup(ensure.stop)

	def test_a_conflict_is_one_line_and_2_before_any_work(self):
		err = io.StringIO()
		with mock.patch.object(runner, 'prepare') as prepare, \
		     contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
			rc = cli.main(['run', '--kconfig-add', 'CONFIG_MEMCG=n'])
		self.assertEqual(rc, 2)
		prepare.assert_not_called()
		self.assertEqual(len(err.getvalue().strip().splitlines()), 1)
		self.assertIn('--kconfig-add CONFIG_MEMCG=n conflicts with CONFIG_MEMCG=y', err.getvalue())


if __name__ == '__main__':
	unittest.main()
