"""Bad input to thp-ds gets one clear line and exit status 2, changing nothing."""

import contextlib
import io
import os
import tempfile
import unittest
from unittest import mock

from thpds import cli, host
from thpds.errors import UsageError
from tests.test_tree import make_fake_kernel


class BadInputTest(unittest.TestCase):
	def setUp(self):
		self.tmp = tempfile.TemporaryDirectory()
		self.addCleanup(self.tmp.cleanup)
		patcher = mock.patch.dict(os.environ, {'THP_DS_CACHE': os.path.join(self.tmp.name, 'c')})
		patcher.start()
		self.addCleanup(patcher.stop)
		ensure = mock.patch.object(host, 'ensure')
		ensure.start()
		self.addCleanup(ensure.stop)

	def run_cli(self, *argv):
		err = io.StringIO()
		with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
			rc = cli.main(list(argv))
		return rc, err.getvalue()

	def test_uml_is_refused_with_the_reason(self):
		rc, err = self.run_cli('run', '--arch', 'um')
		self.assertEqual(rc, 2)
		self.assertIn('UML', err)
		self.assertIn('HAVE_ARCH_TRANSPARENT_HUGEPAGE', err)

	def test_missing_directory(self):
		rc, err = self.run_cli('run', '--tree', os.path.join(self.tmp.name, 'nope'))
		self.assertEqual(rc, 2)
		self.assertIn('no such directory', err)

	def test_not_a_kernel_tree(self):
		d = os.path.join(self.tmp.name, 'empty')
		os.makedirs(d)
		rc, err = self.run_cli('run', '--tree', d)
		self.assertEqual(rc, 2)
		self.assertIn('not a kernel source tree', err)

	def test_tree_too_old_is_refused_before_copying(self):
		d = os.path.join(self.tmp.name, 'old')
		make_fake_kernel(d)
		with open(os.path.join(d, 'Makefile'), 'w') as f:
			f.write('VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 192\n')
		os.makedirs(os.path.join(d, 'tools/testing/kunit'))
		open(os.path.join(d, 'tools/testing/kunit/kunit.py'), 'w').close()
		rc, err = self.run_cli('run', '--tree', d)
		self.assertEqual(rc, 2)
		self.assertIn('older than every port', err)
		self.assertFalse(os.path.exists(os.path.join(self.tmp.name, 'c', 'trees')))

	def test_unknown_variant_names_the_ones_there_are(self):
		from thpds import runner, tree
		fake = mock.Mock(spec=tree.Tree)
		fake.path = self.tmp.name
		fake.meta = {'base': 'b'}
		with mock.patch.object(runner, 'prepare', return_value=fake), \
		     mock.patch.object(tree, 'kernel_version', return_value='6.12.117'), \
		     mock.patch.object(tree, 'show', return_value='source "mm/damon/Kconfig"\nendmenu\n'):
			rc, err = self.run_cli('run', '--tree', '6.12', '--unpatched', 'nosuch')
		self.assertEqual(rc, 2)
		self.assertIn('no such variant', err)
		self.assertIn('seed-reclaim', err)

	def test_bad_series(self):
		rc, err = self.run_cli('run', '--tree', 'latest')
		self.assertEqual(rc, 2)
		self.assertIn("give a Debian kernel series", err)


class HostTest(unittest.TestCase):
	def test_missing_qemu_without_install_is_explained(self):
		with mock.patch('os.path.exists', side_effect=lambda p: 'qemu' not in p):
			with self.assertRaises(UsageError) as cm:
				host.ensure(install=False)
		self.assertIn('qemu-system-x86', str(cm.exception))
		self.assertIn('--install-deps', str(cm.exception))

	def test_every_package_has_a_witness_file(self):
		self.assertEqual(sorted(host.HOST_PACKAGES), sorted(host.HOST_FILES))


if __name__ == '__main__':
	unittest.main()
