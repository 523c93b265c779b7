"""Tests for runner.prepare_*: interrupted runs repair themselves.

The archive is faked (no network): 'downloading' a package gives a .deb
placeholder, and 'unpacking' it gives a linux-source-like tarball made from
a miniature kernel tree.
"""

import contextlib
import io
import json
import os
import tempfile
import unittest
from unittest import mock

from tests.test_tree import make_fake_kernel, make_tarball, write
from thpds import cli, debian_source, lock, runner, suite, tree

VERSION = '6.12.117-1~deb12u1'


class FakeArchive:
	"""PrivateApt and unpack, for one package version built from a fake tree."""

	def __init__(self, root: str, version: str = VERSION) -> None:
		self.root = root
		self.version = version
		self.downloads = 0
		self.updates = 0
		self.update_error = None

	def update(self) -> bool:
		self.updates += 1
		if self.update_error:
			raise debian_source.FetchError(self.update_error)
		return True

	def resolve(self, apt, series, pinned=None):
		return f'linux-source-{series}', pinned or self.version, 'bookworm-security'

	def download(self, package, version, dest, keep_others=False):
		self.downloads += 1
		os.makedirs(dest, exist_ok=True)
		deb = os.path.join(dest, f'{package}_{version}_all.deb')
		with open(deb, 'w') as f:
			f.write('placeholder')
		return deb

	def unpack(self, deb, dest_dir):
		src = os.path.join(self.root, 'src', 'linux-source-6.12')
		if not os.path.isdir(src):
			make_fake_kernel(src)
			write(src, 'tools/testing/kunit/kunit.py', '')
		os.makedirs(dest_dir, exist_ok=True)
		tarball = os.path.join(dest_dir, 'linux-source-6.12.tar.xz')
		make_tarball(src, tarball)
		return tarball

	def patches(self):
		return [mock.patch.object(debian_source.PrivateApt, 'update',
					  lambda apt_self, *a, **k: self.update()),
			mock.patch.object(debian_source, 'resolve', self.resolve),
			mock.patch.object(debian_source.PrivateApt, 'download',
					  lambda apt_self, *a, **k: self.download(*a, **k)),
			mock.patch.object(debian_source, 'unpack', self.unpack)]


class PrepareCase(unittest.TestCase):
	def setUp(self):
		self.tmp = tempfile.TemporaryDirectory()
		self.addCleanup(self.tmp.cleanup)
		self.cache = os.path.join(self.tmp.name, 'cache')
		patchers = [mock.patch.dict(os.environ, {'THP_DS_CACHE': self.cache})]
		self.archive = FakeArchive(self.tmp.name)
		patchers += self.archive.patches()
		for p in patchers:
			p.start()
			self.addCleanup(p.stop)
		self.out = io.StringIO()

	def prepare(self, series='6.12'):
		with contextlib.redirect_stdout(self.out):
			return runner.prepare_debian(series)

	def hold_lock(self):
		lock.acquire(self.cache, 'test')
		self.addCleanup(lock.release, self.cache)


class InterruptedRunTest(PrepareCase):
	def test_stale_git_locks_are_removed_when_we_hold_the_cache(self):
		t = self.prepare()
		for rel in ('index.lock', 'compose.index.lock', 'staging-forced.index.lock',
			    'HEAD.lock', 'refs/heads/thp-ds.lock'):
			write(t.gitdir, rel, '')
		# without the cache's lock another git may be at work: left alone
		self.prepare()
		self.assertTrue(os.path.exists(os.path.join(t.gitdir, 'index.lock')))
		self.hold_lock()
		t = self.prepare()
		self.assertIn('removed index.lock', self.out.getvalue())
		for rel in ('index.lock', 'HEAD.lock', 'refs/heads/thp-ds.lock'):
			self.assertFalse(os.path.exists(os.path.join(t.gitdir, rel)), rel)
		t.checkout(t.commit_on_base({'mm/tests/x.c': b'int x;\n'}, [], 'suite'))

	def test_half_written_metadata_means_prepare_again(self):
		t = self.prepare()
		with open(t.meta_file, 'w') as f:
			f.write('{"base": "ab')
		self.assertEqual({k: v for k, v in t.meta.items() if k not in t.session}, {})
		self.assertFalse(t.exists())
		t = self.prepare()
		self.assertEqual(t.meta['version'], VERSION)
		self.assertTrue(t.exists())
		self.assertEqual(self.archive.downloads, 2)

	def test_metadata_is_never_half_written(self):
		t = self.prepare()
		before = t.meta

		def interrupted(obj, f, **kw):
			f.write(json.dumps(obj)[:10])
			raise KeyboardInterrupt
		self.archive.version = '6.12.118-1'
		with mock.patch.object(json, 'dump', interrupted):
			with self.assertRaises(KeyboardInterrupt):
				self.prepare()
		self.assertEqual(t.meta, before)
		self.assertEqual(self.prepare().meta['version'], '6.12.118-1')

	def test_metadata_is_written_only_once_the_checkout_is_complete(self):
		t = self.prepare()
		self.archive.version = '6.12.118-1'
		with mock.patch.object(tree.Tree, 'checkout', side_effect=KeyboardInterrupt):
			with self.assertRaises(KeyboardInterrupt):
				self.prepare()
		self.assertEqual(t.meta['version'], VERSION)
		self.assertEqual(self.prepare().meta['version'], '6.12.118-1')

	def test_init_without_a_commit_is_redone(self):
		def no_commit(t, *args, **kw):
			raise tree.TreeError('git commit-tree failed: interrupted')
		with mock.patch.object(tree.Tree, '_commit', no_commit):
			with self.assertRaises(tree.TreeError):
				self.prepare()
		t = tree.Tree(os.path.join(self.cache, 'trees', 'debian-6.12'))
		self.assertTrue(os.path.isdir(t.gitdir))
		self.assertFalse(t.exists())
		t = self.prepare()
		self.assertTrue(t.exists())
		self.assertIn('mm/a.c', tree.tracked_files(t.path))

	def test_metadata_naming_a_base_the_repository_lost_means_prepare_again(self):
		t = self.prepare()
		objects = os.path.join(t.gitdir, 'objects')
		for name in os.listdir(objects):
			path = os.path.join(objects, name)
			for dirpath, _, files in os.walk(path):
				for f in files:
					os.unlink(os.path.join(dirpath, f))
		self.assertEqual(t.meta['version'], VERSION)
		self.assertFalse(t.exists())
		t = self.prepare()
		self.assertTrue(t.exists())
		self.assertEqual(self.archive.downloads, 2)

	def test_a_git_dir_that_is_no_repository_is_replaced(self):
		t = tree.Tree(os.path.join(self.cache, 'trees', 'debian-6.12'))
		write(t.gitdir, 'config', '')	# 'git init' killed early
		t = self.prepare()
		self.assertTrue(t.exists())

	def test_half_unpacked_staging_and_unpack_leftovers_are_redone(self):
		staging = os.path.join(self.cache, 'trees', 'debian-6.12.staging')
		write(staging, 'linux-source-6.12/mm/junk.c', 'half of an old unpack')
		write(staging, 'other-top-level/x', '')
		write(self.cache, 'unpack/6.12/usr/src/stale.tar.xz', 'half')
		t = self.prepare()
		self.assertNotIn('mm/junk.c', tree.tracked_files(t.path))
		self.assertFalse(os.path.exists(staging))
		self.assertFalse(os.path.exists(os.path.join(self.cache, 'unpack', '6.12')))


class OfflineTest(PrepareCase):
	"""No archive, but a prepared tree: use it, say so, record it."""

	def test_update_fails_with_a_cached_tree(self):
		self.prepare()
		self.archive.update_error = ('apt-get update (private list) failed: Failed to fetch '
					     "http://deb.example/InRelease Could not resolve 'deb.example'")
		self.out = io.StringIO()
		t = self.prepare()
		line = self.out.getvalue().strip()
		self.assertEqual(len(line.splitlines()), 1, line)
		self.assertRegex(line, r"^\[thp-ds\] cannot reach the archive \(apt-get update .*"
				 r"Could not resolve 'deb.example'\); using the cached linux-source-6.12 "
				 + VERSION.replace('.', r'\.') + r' prepared on \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$')
		self.assertIn('Could not resolve', t.meta['offline'])
		self.assertEqual(t.meta['version'], VERSION)
		self.assertEqual(self.archive.downloads, 1)
		# the fact belongs to this run, not to the tree
		self.assertNotIn('offline', tree.Tree(t.path).meta)

	def test_download_fails_with_a_cached_older_tree(self):
		self.prepare()
		self.archive.version = '6.12.118-1'

		def unreachable(*args, **kwargs):
			raise debian_source.FetchError('apt-get download linux-source-6.12=6.12.118-1 '
						       'failed: connection timed out')
		with mock.patch.object(debian_source.PrivateApt, 'download', unreachable):
			t = self.prepare()
		self.assertEqual(t.meta['version'], VERSION)
		self.assertIn('connection timed out', t.meta['offline'])
		self.assertIn(f'using the cached linux-source-6.12 {VERSION}', self.out.getvalue())

	def test_no_cached_tree_is_an_infrastructure_error(self):
		self.archive.update_error = 'apt-get update (private list) failed: network unreachable'
		with self.assertRaises(debian_source.FetchError):
			self.prepare()
		err = io.StringIO()
		with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
			rc = cli.main(['fetch'])
		self.assertEqual(rc, 3)
		self.assertIn('network unreachable', err.getvalue())

	def test_a_series_the_archive_does_not_offer_is_not_offline(self):
		self.prepare()
		with mock.patch.object(debian_source, 'resolve',
				       side_effect=debian_source.NotOffered('not offered')):
			with self.assertRaises(debian_source.NotOffered):
				self.prepare()


class PathTest(unittest.TestCase):
	"""The kernel's Makefile refuses paths with spaces or colons."""

	def setUp(self):
		self.tmp = tempfile.TemporaryDirectory()
		self.addCleanup(self.tmp.cleanup)

	def run_cli(self, env, *argv):
		err = io.StringIO()
		with mock.patch.dict(os.environ, env), \
		     mock.patch.object(debian_source.PrivateApt, 'update') as update, \
		     contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
			rc = cli.main(list(argv))
		update.assert_not_called()
		return rc, err.getvalue()

	def test_cache_path_with_space_or_colon_is_refused_before_any_work(self):
		user = os.path.join(self.tmp.name, 'linux')
		make_fake_kernel(user)
		for bad in ('with space', 'with:colon'):
			cache = os.path.join(self.tmp.name, bad, 'cache')
			for argv in (['fetch'], ['run', '--tree', user], ['list']):
				rc, err = self.run_cli({'THP_DS_CACHE': cache}, *argv)
				self.assertEqual(rc, 2, (bad, argv, err))
				self.assertEqual(len(err.strip().splitlines()), 1, err)
				self.assertIn('space or colon', err)
				self.assertFalse(os.path.exists(os.path.join(self.tmp.name, bad)))

	def test_home_with_a_colon_is_refused_too(self):
		home = os.path.join(self.tmp.name, 'home:x')
		env = {'HOME': home}
		with mock.patch.dict(os.environ, env):
			os.environ.pop('THP_DS_CACHE', None)
			rc, err = self.run_cli({}, 'fetch')
		self.assertEqual(rc, 2, err)
		self.assertIn('space or colon', err)
		self.assertFalse(os.path.exists(home))

	def test_a_user_tree_at_a_path_with_spaces_and_colons_can_be_used(self):
		user = os.path.join(self.tmp.name, 'my src', 'linux:6.12 (work)')
		make_fake_kernel(user)
		write(user, 'tools/testing/kunit/kunit.py', '')
		with mock.patch.dict(os.environ, {'THP_DS_CACHE': os.path.join(self.tmp.name, 'c')}):
			t = runner.prepare_user(user)
		name = os.path.basename(t.path)
		self.assertRegex(name, r'^user-linux_6\.12__work_-[0-9a-f]{12}$')
		self.assertTrue(t.exists())
		self.assertIn('mm/a.c', tree.tracked_files(t.path))
		self.assertEqual(t.meta['origin'], f'user tree {os.path.realpath(user)}')


class UserTreeTest(unittest.TestCase):
	"""A user's tree: its port from its sources, its suite if it has one,
	judged on its own results."""

	def setUp(self):
		self.tmp = tempfile.TemporaryDirectory()
		self.addCleanup(self.tmp.cleanup)
		env = mock.patch.dict(os.environ, {'THP_DS_CACHE': os.path.join(self.tmp.name, 'c')})
		env.start()
		self.addCleanup(env.stop)
		runner._prepared.clear()
		self.addCleanup(runner._prepared.clear)

	def user_tree(self, design='debian-6.12.118', **extra):
		user = os.path.join(self.tmp.name, 'linux')
		make_fake_kernel(user, design=design)
		write(user, 'tools/testing/kunit/kunit.py', "parser.add_argument('--arch')\n")
		write(user, 'mm/Kconfig', 'menu "mm"\nsource "mm/damon/Kconfig"\nendmenu\n')
		for rel, text in extra.items():
			write(user, rel, text)
		return user

	def test_the_port_comes_from_the_sources_not_the_version(self):
		# a 7.3 tree (its Makefile says 6.12.117 here: the version is not asked)
		t = runner.prepare_user(self.user_tree('debian-7.3.4'))
		self.assertEqual(runner.port_of(t), '7.2')

	def test_a_tree_that_carries_the_suite_runs_its_own(self):
		carried = '// SPDX-License-Identifier: GPL-2.0\n/* the suite, as merged */\n'
		user = self.user_tree(**{'mm/tests/thp_deferred_split_kunit.c': carried})
		t = runner.prepare_user(user)
		applied = runner.apply_suite(t)
		self.assertTrue(applied.carried)
		with open(os.path.join(t.path, 'mm/tests/thp_deferred_split_kunit.c')) as f:
			self.assertEqual(f.read(), carried)
		# nothing of this repository's was written: no port header, no Kconfig entry
		self.assertFalse(os.path.exists(os.path.join(t.path, 'mm/tests/thp_deferred_split_kunit.h')))
		with open(os.path.join(t.path, 'mm/Kconfig')) as f:
			self.assertNotIn(suite.TEST_SYMBOL, f.read())
		self.assertRegex(runner.suite_source(t), r"^carried by the tree \([0-9a-f]{12}\), which "
				 r"differs from this repository's \([0-9a-f]{12}\)$")

	def test_a_tree_without_the_suite_gets_this_repositorys(self):
		t = runner.prepare_user(self.user_tree())
		# the excerpt has not the context of the port's exposures
		with mock.patch.object(suite, 'port_patches', return_value=[]):
			applied = runner.apply_suite(t)
		self.assertFalse(applied.carried)
		self.assertTrue(os.path.exists(os.path.join(t.path, 'mm/tests/thp_deferred_split_kunit.h')))
		self.assertEqual(runner.suite_source(t), 'this repository')


class SpecTest(unittest.TestCase):
	def test_pinned_trees_have_paths_of_their_own(self):
		self.assertEqual(runner.debian_tree_name('6.1'), 'debian-6.1')
		self.assertEqual(runner.debian_tree_name('7.2', '7.2.12-1~bpo13+1'),
				 'debian-pinned-7.2.12-1_bpo13+1')
		self.assertEqual(runner.debian_tree_name('6.1', '1:6.1.170-3'),
				 'debian-pinned-1_6.1.170-3')
		self.assertEqual(runner.DEBIAN_SPEC.fullmatch('6.1=6.1.170-3').groups(),
				 ('6.1', '6.1.170-3'))
		self.assertIsNone(runner.DEBIAN_SPEC.fullmatch('6.1=latest'))

	def test_declarations_speak_only_for_debians_tree_of_the_ports_series(self):
		self.assertTrue(runner.declared_tree('6.1', '6.1'))
		self.assertTrue(runner.declared_tree('6.1=6.1.170-3', '6.1'))
		self.assertFalse(runner.declared_tree('7.3', '7.2'))
		self.assertFalse(runner.declared_tree('/src/linux-6.1', '6.1'))
		self.assertFalse(runner.declared_tree('./6.1', '6.1'))


if __name__ == '__main__':
	unittest.main()
