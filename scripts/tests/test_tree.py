"""Tests for thpds.tree on a miniature kernel tree: no user tree is written,
unchanged files keep their mtimes across variant switches."""

import hashlib
import json
import os
import subprocess
import tempfile
import time
import unittest
from unittest import mock

from thpds import gitrun, tree


FIT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data', 'fit')


def fit_excerpt(name):
	"""The lines of a real tree that the ports' assumptions read
	(data/fit/<name>.json, written by data/fit/excerpt.py)."""
	with open(os.path.join(FIT, name + '.json')) as f:
		return json.load(f)['files']


def make_fake_kernel(root, sublevel=117, design='debian-6.12.118'):
	"""A tree the tool takes for a kernel: the top-level files, and the
	lines of a real tree of @design that the ports' assumptions read."""
	files = {**fit_excerpt(design),
		'Makefile': f'VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = {sublevel}\n',
		'Kconfig': 'mainmenu "x"\n',
		'mm/Kconfig': 'menu "mm"\nendmenu\n',
		'mm/Makefile': 'obj-y += a.o\n',
		'mm/a.c': 'int a;\n',
		'mm/b.c': 'int b;\n',
		'.gitignore': '*.o\n#\n' + tree.DEBIAN_IGNORE_MARKER + ', since...\n#\n/*\n!/debian/\n',
	}
	for rel, text in files.items():
		path = os.path.join(root, rel)
		os.makedirs(os.path.dirname(path), exist_ok=True)
		with open(path, 'w') as f:
			f.write(text)


def digest(root):
	h = hashlib.sha256()
	for dirpath, _, names in sorted(os.walk(root)):
		for name in sorted(names):
			p = os.path.join(dirpath, name)
			h.update(p.encode())
			with open(p, 'rb') as f:
				h.update(f.read())
			h.update(str(os.stat(p).st_mtime_ns).encode())
	return h.hexdigest()


class TreeTest(unittest.TestCase):
	def setUp(self):
		self.tmp = tempfile.TemporaryDirectory()
		self.addCleanup(self.tmp.cleanup)
		self.user = os.path.join(self.tmp.name, 'user')
		make_fake_kernel(self.user)
		with open(os.path.join(self.user, 'mm/a.o'), 'w') as f:
			f.write('object')
		self.t = tree.Tree(os.path.join(self.tmp.name, 'cache/trees/user'))

	def base_from_user(self):
		staging = tree.stage_user_tree(self.user, self.t.path + '.staging')
		self.t.set_base(staging, "user tree", tree.kernel_version(staging), force=False)

	def test_user_tree_is_never_written(self):
		before = digest(self.user)
		self.base_from_user()
		self.t.checkout(self.t.commit_on_base({'mm/tests/x.c': b'int x;\n'}, [], 'suite'))
		self.assertEqual(digest(self.user), before)
		self.assertFalse(os.path.exists(os.path.join(self.user, '.git')))

	def test_debian_ignore_block_is_dropped_and_ignored_files_stay_out(self):
		self.base_from_user()
		files = tree.tracked_files(self.t.path)
		self.assertIn('mm/b.c', files)
		self.assertNotIn('mm/a.o', files)
		with open(os.path.join(self.t.path, '.gitignore')) as f:
			self.assertNotIn(tree.DEBIAN_IGNORE_MARKER, f.read())

	def test_variant_switch_rewrites_only_changed_files(self):
		self.base_from_user()
		b_path = os.path.join(self.t.path, 'mm/b.c')
		a_path = os.path.join(self.t.path, 'mm/a.c')
		os.utime(b_path, (1, 1))
		os.utime(a_path, (1, 1))
		patch = os.path.join(self.tmp.name, 'a.patch')
		with open(patch, 'w') as f:
			f.write('--- a/mm/a.c\n+++ b/mm/a.c\n@@ -1 +1 @@\n-int a;\n+int a = 1;\n')
		commit = self.t.commit_on_base({'mm/tests/x.c': b'int x;\n'}, [patch], 'suite')
		self.t.checkout(commit)
		self.assertEqual(os.stat(b_path).st_mtime, 1)
		self.assertNotEqual(os.stat(a_path).st_mtime, 1)
		with open(a_path) as f:
			self.assertEqual(f.read(), 'int a = 1;\n')
		# back to base: the suite file goes, b.c is still untouched
		self.t.checkout(self.t.meta['base'])
		self.assertFalse(os.path.exists(os.path.join(self.t.path, 'mm/tests/x.c')))
		self.assertEqual(os.stat(b_path).st_mtime, 1)

	def test_patch_that_does_not_apply_names_itself(self):
		self.base_from_user()
		patch = os.path.join(self.tmp.name, 'bad.patch')
		with open(patch, 'w') as f:
			f.write('--- a/mm/a.c\n+++ b/mm/a.c\n@@ -1 +1 @@\n-int zzz;\n+int a = 1;\n')
		with self.assertRaises(tree.PatchError) as cm:
			self.t.commit_on_base({}, [patch], 'suite')
		self.assertIn('bad.patch does not apply', str(cm.exception))

	def test_a_hunk_whose_context_moved_applies_with_one_line_of_it(self):
		# 7.3's mm/vmscan.c: a context line of port 7.2's exposure changed
		write(self.user, 'mm/c.c', 'int one;\nint two;\nint three;\nint four;\nint five;\n')
		self.base_from_user()
		patch = os.path.join(self.tmp.name, 'drift.patch')
		with open(patch, 'w') as f:
			f.write('--- a/mm/c.c\n+++ b/mm/c.c\n@@ -1,5 +1,5 @@\n int one;\n-int TWO;\n'
				' int three;\n-int four;\n+int four = 4;\n int five;\n'.replace(
					'-int TWO;\n', ' int TWO;\n'))
		commit = self.t.commit_on_base({}, [patch], 'suite', owner='port 9.9')
		self.assertIn('int four = 4;', tree.show(self.t.path, commit, 'mm/c.c'))

	def test_a_patch_that_does_not_fit_names_its_port_and_hunk(self):
		self.base_from_user()
		patch = os.path.join(self.tmp.name, 'gone.patch')
		with open(patch, 'w') as f:
			f.write('--- a/mm/swap.c\n+++ b/mm/swap.c\n@@ -1 +1 @@\n-int s;\n+int s = 1;\n')
		with self.assertRaises(tree.PatchError) as cm:
			self.t.commit_on_base({}, [patch], 'suite', owner='port 7.2 variant')
		self.assertIn('port 7.2 variant gone.patch does not apply to this tree', str(cm.exception))
		self.assertIn('mm/swap.c', str(cm.exception))

	def test_a_plain_directory_keeps_its_kunitconfig_files(self):
		# the kernel's .gitignore ignores '.*'; the kernel tracks .kunitconfig
		write(self.user, '.gitignore', '.*\n*.o\n')
		write(self.user, 'mm/tests/.kunitconfig', 'CONFIG_KUNIT=y\n')
		write(self.user, 'mm/.a.o.cmd', 'build output')
		self.base_from_user()
		files = tree.tracked_files(self.t.path)
		self.assertIn('mm/tests/.kunitconfig', files)
		self.assertNotIn('mm/.a.o.cmd', files)

	def test_new_user_state_becomes_new_base(self):
		self.base_from_user()
		first = self.t.meta['base']
		time.sleep(0.01)
		with open(os.path.join(self.user, 'mm/b.c'), 'w') as f:
			f.write('int b = 2;\n')
		self.base_from_user()
		self.assertNotEqual(self.t.meta['base'], first)
		with open(os.path.join(self.t.path, 'mm/b.c')) as f:
			self.assertEqual(f.read(), 'int b = 2;\n')

	def test_kernel_version(self):
		self.assertEqual(tree.kernel_version(self.user), '6.12.117')

	def git_commands(self):
		"""Record the git subcommands run on trees from now on."""
		seen = []
		real = tree.git

		def spy(repo, *args, **kw):
			seen.append(args[0])
			return real(repo, *args, **kw)
		patcher = mock.patch.object(tree, 'git', spy)
		patcher.start()
		self.addCleanup(patcher.stop)
		return seen

	def test_same_inputs_make_the_same_commit(self):
		self.base_from_user()
		one = self.t.commit_on_base({'mm/tests/x.c': b'int x;\n'}, [], 'suite')
		time.sleep(1.1)	# commit dates have a resolution of a second
		two = self.t.commit_on_base({'mm/tests/x.c': b'int x;\n'}, [], 'suite')
		self.assertEqual(one, two)
		self.assertNotEqual(one, self.t.commit_on_base({'mm/tests/x.c': b'int y;\n'}, [],
								'suite'))

	def test_checkout_of_what_the_tree_holds_does_nothing(self):
		self.base_from_user()
		commit = self.t.commit_on_base({'mm/tests/x.c': b'int x;\n'}, [], 'suite')
		self.t.checkout(commit)
		b_path = os.path.join(self.t.path, 'mm/b.c')
		os.utime(b_path, (1, 1))	# touched, same content
		write(self.t.path, 'tools/testing/kunit/__pycache__/kunit.cpython-311.pyc', 'x')
		seen = self.git_commands()
		self.t.checkout(commit)
		self.assertNotIn('checkout', seen)
		self.assertNotIn('clean', seen)
		self.assertEqual(os.stat(b_path).st_mtime, 1)

	def test_checkout_repairs_a_tree_that_differs(self):
		self.base_from_user()
		commit = self.t.commit_on_base({'mm/tests/x.c': b'int x;\n'}, [], 'suite')
		self.t.checkout(commit)
		for rel, text in (('mm/a.c', 'edited\n'), ('mm/untracked.c', 'x\n'),
				  ('.config', 'CONFIG_X=y\n'), ('mm/a.o', 'ignored build output\n')):
			write(self.t.path, rel, text)
			self.t.checkout(commit)
			self.assertEqual(tree.git(self.t.path, 'status', '--porcelain', '--ignored',
						  '--untracked-files=all'), '', rel)
		os.remove(os.path.join(self.t.path, 'mm/b.c'))
		self.t.checkout(commit)
		self.assertTrue(os.path.exists(os.path.join(self.t.path, 'mm/b.c')))

	def test_an_unchanged_user_tree_leaves_the_suite_checked_out(self):
		self.base_from_user()
		self.t.checkout(self.t.commit_on_base({'mm/tests/x.c': b'int x;\n'}, [], 'suite'))
		x_path = os.path.join(self.t.path, 'mm/tests/x.c')
		os.utime(x_path, (1, 1))
		seen = self.git_commands()
		self.base_from_user()
		self.assertNotIn('checkout', seen)
		self.assertEqual(os.stat(x_path).st_mtime, 1)


class PackTest(unittest.TestCase):
	"""A tree's objects are packed, and bases no longer used dropped."""

	def setUp(self):
		self.tmp = tempfile.TemporaryDirectory()
		self.addCleanup(self.tmp.cleanup)
		self.src = os.path.join(self.tmp.name, 'linux')
		make_fake_kernel(self.src)
		self.t = tree.Tree(os.path.join(self.tmp.name, 'cache/trees/t'))

	def set_base(self, version):
		staging = tree.stage_user_tree(self.src, self.t.path + '.staging')
		self.t.set_base(staging, 'user tree', version, force=False)

	def blob(self, text):
		return tree.git(self.t.path, 'hash-object', '--stdin', input_text=text)

	def has(self, oid):
		try:
			tree.git(self.t.path, 'cat-file', '-e', oid)
			return True
		except tree.TreeError:
			return False

	def test_blobs_are_packed_as_they_are_added(self):
		self.set_base('1')
		counts = self.t.objects()
		self.assertGreaterEqual(counts['in-pack'], 7)	# every file of the fake tree
		self.assertEqual(counts['packs'], 1)

	def test_loose_trees_are_packed_beyond_the_limit(self):
		with mock.patch.object(tree, 'LOOSE_LIMIT', 1):
			self.set_base('1')
		self.assertEqual(self.t.objects()['count'], 0)

	def test_many_packs_are_merged_and_unused_bases_dropped(self):
		write(self.src, 'mm/b.c', 'int b = 1;\n')
		self.set_base('1')
		old = self.blob('int b = 1;\n')
		self.assertTrue(self.has(old))
		with mock.patch.object(tree, 'PACK_LIMIT', 2):
			write(self.src, 'mm/b.c', 'int b = 22;\n')
			self.set_base('2')
			self.t.checkout(self.t.commit_on_base({'mm/tests/x.c': b'int x;\n'}, [], 's'))
			write(self.src, 'mm/b.c', 'int b = 333;\n')
			self.set_base('3')
		self.assertEqual(self.t.objects()['packs'], 1)
		self.assertFalse(self.has(old), 'a superseded base is still kept')
		self.assertTrue(self.has(self.blob('int b = 333;\n')))
		self.assertTrue(self.t.exists())


def write(root, rel, text, mode=0o644):
	path = os.path.join(root, rel)
	os.makedirs(os.path.dirname(path), exist_ok=True)
	with open(path, 'w') as f:
		f.write(text)
	os.chmod(path, mode)
	return path


def make_tarball(src, tarball):
	"""A linux-source-like .tar.xz: one top-level directory."""
	subprocess.run(['tar', '-cJf', tarball, '-C', os.path.dirname(src),
			os.path.basename(src)], check=True)


def user_git(cwd, *args):
	"""The test's own git on a user's tree, free of this machine's config."""
	subprocess.run(gitrun.command(args, cwd), env=gitrun.env(), check=True,
		       capture_output=True)


class UserGitConfigTest(unittest.TestCase):
	"""Nothing of the user's git configuration reaches the tool's trees."""

	def setUp(self):
		self.tmp = tempfile.TemporaryDirectory()
		self.addCleanup(self.tmp.cleanup)
		d = self.tmp.name
		home, xdg = os.path.join(d, 'home'), os.path.join(d, 'xdg')
		self.marker = os.path.join(d, 'ran')
		hook = f'#!/bin/sh\necho "$0" >> {self.marker}\nexit 1\n'
		write(home, 'hooks/post-checkout', hook, 0o755)
		write(home, 'fsmonitor', hook, 0o755)
		write(home, 'excludes', 'build/\n*.c\n')
		user_config = (f'[core]\n\texcludesFile = {home}/excludes\n'
			       f'\thooksPath = {home}/hooks\n\tfsmonitor = {home}/fsmonitor\n'
			       '\tautocrlf = true\n[commit]\n\tgpgsign = true\n')
		write(home, '.gitconfig', user_config)
		write(xdg, 'git/config', user_config)
		write(xdg, 'git/ignore', 'build/\n')	# read even without any config
		write(xdg, 'git/attributes', '* text eol=crlf\n')
		write(d, 'system.gitconfig', user_config)
		env = {'HOME': home, 'XDG_CONFIG_HOME': xdg,
		       'GIT_CONFIG_SYSTEM': os.path.join(d, 'system.gitconfig'),
		       'GIT_DIR': os.path.join(d, 'elsewhere.git'),
		       'GIT_WORK_TREE': os.path.join(d, 'elsewhere'),
		       'GIT_INDEX_FILE': os.path.join(d, 'elsewhere.index'),
		       'GIT_CONFIG_PARAMETERS': "'core.excludesfile'='%s/excludes'" % home}
		patcher = mock.patch.dict(os.environ, env)
		patcher.start()
		self.addCleanup(patcher.stop)
		self.src = os.path.join(d, 'src', 'linux-6.12')
		make_fake_kernel(self.src)
		write(self.src, 'tools/build/Makefile', 'build := -f feature\n')
		write(self.src, 'tools/build/feature/test-all.c', 'int main(void) { return 0; }\n')
		self.t = tree.Tree(os.path.join(d, 'cache/trees/debian-6.12'))

	def assert_untouched_by_user_config(self):
		for rel in ('tools/build/Makefile', 'tools/build/feature/test-all.c', 'mm/a.c'):
			self.assertIn(rel, tree.tracked_files(self.t.path))
			with open(os.path.join(self.t.path, rel), 'rb') as f:
				self.assertNotIn(b'\r', f.read(), rel)
		self.assertFalse(os.path.exists(self.marker), 'a hook or fsmonitor of the user ran')
		for junk in ('elsewhere.git', 'elsewhere', 'elsewhere.index'):
			self.assertFalse(os.path.exists(os.path.join(self.tmp.name, junk)), junk)

	def test_debian_tree_keeps_tools_build_through_checkout_and_clean(self):
		tarball = os.path.join(self.tmp.name, 'linux-source-6.12.tar.xz')
		make_tarball(self.src, tarball)
		staging = tree.stage_debian_tarball(tarball, self.t.path + '.staging')
		self.t.set_base(staging, 'linux-source-6.12', '6.12.117-1', force=True)
		self.assert_untouched_by_user_config()
		suite = self.t.commit_on_base({'mm/tests/x.c': b'int x;\n'}, [], 'suite')
		self.t.checkout(suite)
		self.t.checkout(self.t.meta['base'])
		self.t.checkout(suite)
		self.assert_untouched_by_user_config()
		self.assertTrue(os.path.exists(os.path.join(self.t.path, 'tools/build/feature/test-all.c')))

	def test_plain_user_tree_keeps_tools_build(self):
		staging = tree.stage_user_tree(self.src, self.t.path + '.staging')
		self.t.set_base(staging, 'user tree', '6.12.117', force=False)
		self.t.checkout(self.t.commit_on_base({'mm/tests/x.c': b'int x;\n'}, [], 'suite'))
		self.assert_untouched_by_user_config()

	def test_user_git_tree_lists_without_the_users_excludes(self):
		write(self.src, '.gitignore', '*.o\n')
		user_git(self.src, 'init', '-q')
		user_git(self.src, 'add', 'Makefile')
		self.assertEqual(sorted(tree.user_git_files(self.src)),
				 sorted(['.gitignore', 'Kconfig', 'Makefile', 'mm/Kconfig', 'mm/Makefile',
					 'mm/a.c', 'mm/b.c', 'tools/build/Makefile',
					 'tools/build/feature/test-all.c', *fit_excerpt('debian-6.12.118')]))


	def test_user_git_trees_own_config_runs_nothing_and_hides_nothing(self):
		write(self.src, '.gitignore', '*.o\n')
		user_git(self.src, 'init', '-q')
		home = os.environ['HOME']
		with open(os.path.join(self.src, '.git/config'), 'a') as f:
			f.write(f'[core]\n\texcludesFile = {home}/excludes\n'
				f'\tfsmonitor = {home}/fsmonitor\n\thooksPath = {home}/hooks\n')
		before = digest(self.src)
		listed = tree.user_git_files(self.src)
		self.assertIn('tools/build/Makefile', listed)
		self.assertIn('mm/a.c', listed)
		self.assertFalse(os.path.exists(self.marker), 'the tree\'s fsmonitor ran')
		self.assertEqual(digest(self.src), before)


class ForceAddTest(unittest.TestCase):
	"""What is committed: all of a Debian tarball; a user's git's own list."""

	def setUp(self):
		self.tmp = tempfile.TemporaryDirectory()
		self.addCleanup(self.tmp.cleanup)
		self.src = os.path.join(self.tmp.name, 'linux')
		make_fake_kernel(self.src)
		self.t = tree.Tree(os.path.join(self.tmp.name, 'cache/trees/t'))

	def test_debian_tarball_is_committed_whole(self):
		# pure source that the kernel's own .gitignore happens to match
		write(self.src, 'arch/x86/lib/blob.o', 'shipped\n')
		tarball = os.path.join(self.tmp.name, 'linux.tar.xz')
		make_tarball(self.src, tarball)
		staging = tree.stage_debian_tarball(tarball, self.t.path + '.staging')
		self.t.set_base(staging, 'linux-source-6.12', '6.12.117-1', force=True)
		self.assertIn('arch/x86/lib/blob.o', tree.tracked_files(self.t.path))

	def test_user_git_tree_copies_exactly_what_its_git_lists(self):
		write(self.src, '.gitignore', '*.o\n')
		write(self.src, 'mm/forced.o', 'tracked although ignored\n')
		write(self.src, 'mm/gone.c', 'tracked, then deleted\n')
		user_git(self.src, 'init', '-q')
		user_git(self.src, 'add', '-A')
		user_git(self.src, 'add', '-f', 'mm/forced.o')
		user_git(self.src, 'commit', '-q', '-m', 'x')
		os.remove(os.path.join(self.src, 'mm/gone.c'))
		write(self.src, 'mm/new.c', 'untracked source\n')
		write(self.src, 'mm/a.o', 'build output\n')
		write(self.src, 'mm/secret.c', 'excluded by the repository\n')
		write(self.src, '.git/info/exclude', 'mm/secret.c\n')
		before = digest(self.src)
		files = tree.user_git_files(self.src)
		staging = tree.stage_user_tree(self.src, self.t.path + '.staging', files)
		self.t.set_base(staging, 'user tree', '6.12.117', force=True)
		got = tree.tracked_files(self.t.path)
		for rel in ('mm/forced.o', 'mm/new.c', 'mm/a.c'):
			self.assertIn(rel, got)
		for rel in ('mm/a.o', 'mm/secret.c', 'mm/gone.c'):
			self.assertNotIn(rel, got)
			self.assertFalse(os.path.exists(os.path.join(self.t.path, rel)), rel)
		self.assertEqual(digest(self.src), before, 'the user tree (or its .git) was written')
		# the next snapshot: a file the user's git no longer lists leaves the copy
		os.remove(os.path.join(self.src, 'mm/new.c'))
		files = tree.user_git_files(self.src)
		staging = tree.stage_user_tree(self.src, self.t.path + '.staging', files)
		self.assertFalse(os.path.exists(os.path.join(staging, 'mm/new.c')))
		self.t.set_base(staging, 'user tree', '6.12.117', force=True)
		self.assertNotIn('mm/new.c', tree.tracked_files(self.t.path))

	def test_plain_directory_is_not_a_git_tree(self):
		self.assertIsNone(tree.user_git_files(self.src))


if __name__ == '__main__':
	unittest.main()
