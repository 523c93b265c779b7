"""Tests for thpds.tree on a miniature kernel tree: no user tree is written,
unchanged files keep their mtimes across variant switches."""

import hashlib
import os
import tempfile
import time
import unittest

from thpds import tree


def make_fake_kernel(root, sublevel=117):
	files = {
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
		self.t.set_base(staging, 'user tree', tree.kernel_version(staging))

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


if __name__ == '__main__':
	unittest.main()
