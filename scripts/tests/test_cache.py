"""Tests for 'thp-ds cache': what the cache holds, and pruning parts of it."""

import contextlib
import fcntl
import io
import os
import tempfile
import unittest
from unittest import mock

from tests.test_tree import make_fake_kernel, write
from thpds import cache, cli, lock, runner, tree


class CacheTest(unittest.TestCase):
	def setUp(self):
		self.tmp = tempfile.TemporaryDirectory()
		self.addCleanup(self.tmp.cleanup)
		self.root = os.path.join(self.tmp.name, 'cache')
		patcher = mock.patch.dict(os.environ, {'THP_DS_CACHE': self.root})
		patcher.start()
		self.addCleanup(patcher.stop)
		src = os.path.join(self.tmp.name, 'src')
		make_fake_kernel(src)
		t = tree.Tree(os.path.join(self.root, 'trees', 'debian-6.12'))
		t.set_base(tree.stage_user_tree(src, os.path.join(self.tmp.name, 'staging')),
			   'linux-source-6.12', '6.12.117-1', force=True)
		self.user = os.path.join(self.tmp.name, 'my linux')
		os.makedirs(self.user)
		self.user_name = runner.user_tree_name(os.path.realpath(self.user))
		write(self.root, f'trees/{self.user_name}/Makefile', 'x' * 5000)
		write(self.root, f'trees/{self.user_name}.staging/Makefile', 'x' * 5000)
		write(self.root, 'trees/debian-7.2.staging/linux/Makefile', 'half an unpack')
		write(self.root, 'unpack/7.2/usr/src/linux-source-7.2.tar.xz', 'half')
		write(self.root, 'build/debian-6.12/vmlinux', 'x' * 20000)
		write(self.root, 'build/debian-6.12-debug/vmlinux', 'x' * 20000)
		write(self.root, f'build/{self.user_name}/vmlinux', 'x' * 20000)
		write(self.root, 'debs/linux-source-6.12_6.12.117-1_all.deb', 'deb')
		write(self.root, 'debs/partial/linux-source-7.2_7.2.13-1_all.deb', 'half')
		write(self.root, 'apt/lists/x_Packages', 'p')
		write(self.root, 'ccache/0/a', 'c')
		write(self.root, 'results/debian-6.12/shipped/result.json', '{}')

	def run_cli(self, *argv):
		out, err = io.StringIO(), io.StringIO()
		with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
			rc = cli.main(list(argv))
		return rc, out.getvalue(), err.getvalue()

	def exists(self, rel):
		return os.path.exists(os.path.join(self.root, rel))

	def test_report_names_every_part_with_its_size(self):
		rc, out, _ = self.run_cli('cache')
		self.assertEqual(rc, 0)
		lines = {line.split()[0]: line for line in out.splitlines()[1:] if line.strip()}
		self.assertIn('linux-source-6.12 6.12.117-1, prepared', lines['trees/debian-6.12'])
		self.assertIn('git objects', lines['trees/debian-6.12'])
		for label in ('trees/' + self.user_name, 'trees/' + self.user_name + '.staging',
			      'build/debian-6.12', 'build/debian-6.12-debug', 'debs', 'unpack/staging',
			      'apt', 'ccache', 'results', 'total', 'free'):
			self.assertIn(label, lines, out)
		self.assertIn('1 .deb', lines['debs'])
		self.assertIn('left by interrupted runs', lines['unpack/staging'])
		self.assertRegex(lines['build/debian-6.12'], r'\d+\.\d KiB')
		self.assertIn('not in use', out.splitlines()[0])

	def test_report_does_not_wait_for_a_running_command(self):
		lock.acquire(self.root, 'thp-ds run')
		self.addCleanup(lock.release, self.root)
		# another process's view: the lock is held
		fd = os.open(os.path.join(self.root, 'lock'), os.O_RDWR)
		self.addCleanup(os.close, fd)
		with self.assertRaises(BlockingIOError):
			fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
		with mock.patch.object(lock, 'acquire') as acquire:
			rc, out, _ = self.run_cli('cache')
		acquire.assert_not_called()
		self.assertEqual(rc, 0)
		self.assertIn(f'in use by pid {os.getpid()} (thp-ds run', out)

	def test_prune_takes_the_lock(self):
		with mock.patch.object(lock, 'acquire', side_effect=lock.CacheBusy('busy')) as acquire:
			rc, _, err = self.run_cli('cache', '--prune-builds', '--no-wait')
		self.assertEqual(rc, 2)
		acquire.assert_called_once()
		self.assertTrue(self.exists('build/debian-6.12'))

	def test_prune_trees_by_series_and_by_path(self):
		rc, out, _ = self.run_cli('cache', '--prune', '6.12', self.user)
		self.assertEqual(rc, 0, out)
		for gone in ('trees/debian-6.12', 'build/debian-6.12', 'build/debian-6.12-debug',
			     f'trees/{self.user_name}', f'trees/{self.user_name}.staging',
			     f'build/{self.user_name}'):
			self.assertFalse(self.exists(gone), gone)
		for kept in ('results/debian-6.12', 'debs', 'ccache/0/a'):
			self.assertTrue(self.exists(kept), kept)
		self.assertIn('freed', out.splitlines()[-1])

	def test_a_pinned_version_is_kept_until_pruned_by_its_spec(self):
		name = runner.debian_tree_name('6.1', '6.1.170-3')
		write(self.root, f'trees/{name}/Makefile', 'x')
		write(self.root, f'build/{name}/vmlinux', 'x')
		write(self.root, 'debs/pinned/linux-source-6.1_6.1.170-3_all.deb', 'deb')
		rc, out, _ = self.run_cli('cache')
		self.assertIn('1 pinned .deb', out)
		# pruning the series leaves the pinned version alone
		self.run_cli('cache', '--prune', '6.12')
		self.assertTrue(self.exists(f'trees/{name}'))
		rc, out, _ = self.run_cli('cache', '--prune', '6.1=6.1.170-3')
		self.assertEqual(rc, 0, out)
		self.assertFalse(self.exists(f'trees/{name}'))
		self.assertFalse(self.exists(f'build/{name}'))
		self.run_cli('cache', '--prune-debs')
		self.assertFalse(self.exists('debs/pinned/linux-source-6.1_6.1.170-3_all.deb'))

	def test_unknown_tree_changes_nothing(self):
		rc, _, err = self.run_cli('cache', '--prune', 'debian-6.12', '../../etc')
		self.assertEqual(rc, 2)
		self.assertIn('no such tree', err)
		self.assertIn('debian-6.12', err)
		self.assertTrue(self.exists('trees/debian-6.12'))

	def test_prune_builds_and_debs(self):
		self.run_cli('cache', '--prune-builds')
		self.assertEqual(os.listdir(os.path.join(self.root, 'build')), [])
		self.assertTrue(self.exists('trees/debian-6.12'))
		self.run_cli('cache', '--prune-debs')
		for gone in ('debs/linux-source-6.12_6.12.117-1_all.deb', 'debs/partial',
			     'unpack/7.2', 'trees/debian-7.2.staging'):
			self.assertFalse(self.exists(gone), gone)
		self.assertTrue(self.exists(f'trees/{self.user_name}.staging'))
		self.assertTrue(self.exists('apt/lists/x_Packages'))

	def test_disk_usage_counts_blocks_and_hard_links_once(self):
		d = os.path.join(self.tmp.name, 'du')
		write(d, 'a', 'x' * 10000)
		os.link(os.path.join(d, 'a'), os.path.join(d, 'b'))
		self.assertLess(cache.disk_usage(d), 2 * 10000)
		self.assertGreaterEqual(cache.disk_usage(d), 10000)


if __name__ == '__main__':
	unittest.main()
