"""Bad input to thp-ds gets one clear line and exit status 2, changing nothing."""

import contextlib
import io
import os
import tempfile
import unittest
from unittest import mock

from thpds import cli
from tests.test_tree import make_fake_kernel


class BadInputTest(unittest.TestCase):
	def setUp(self):
		self.tmp = tempfile.TemporaryDirectory()
		self.addCleanup(self.tmp.cleanup)
		patcher = mock.patch.dict(os.environ, {'THP_DS_CACHE': os.path.join(self.tmp.name, 'c')})
		patcher.start()
		self.addCleanup(patcher.stop)
		host = mock.patch.object(cli, 'ensure_host')
		host.start()
		self.addCleanup(host.stop)

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

	def test_bad_series(self):
		rc, err = self.run_cli('run', '--tree', 'latest')
		self.assertEqual(rc, 2)
		self.assertIn("give a Debian kernel series", err)


class HostTest(unittest.TestCase):
	def test_missing_qemu_without_install_is_explained(self):
		with mock.patch('os.path.exists', side_effect=lambda p: 'qemu' not in p):
			with self.assertRaises(cli.UsageError) as cm:
				cli.ensure_host(install=False)
		self.assertIn('qemu-system-x86', str(cm.exception))
		self.assertIn('--install-deps', str(cm.exception))

	def test_every_package_has_a_witness_file(self):
		self.assertEqual(sorted(cli.HOST_PACKAGES), sorted(cli.HOST_FILES))


if __name__ == '__main__':
	unittest.main()
