"""Kernel trees kept at stable paths, switched between variants with git.

Every tree the tool builds lives at <cache>/trees/<name>, a git repository
owned by the tool.  Its 'base' commit is the kernel as obtained (a Debian
package, or a snapshot of a user's tree); the suite and any unpatched
variant are commits on top, built without touching the working tree and
then checked out.  git rewrites only files that differ between two
commits, so untouched sources keep their mtimes and a rebuild after editing
the suite stays incremental (ccache keys include the source path, which is
why the path never changes).

A user's own tree is never written to: it is copied to a staging directory
first, and only the copy is committed.
"""

import json
import os
import shutil
import subprocess
from typing import Dict, List, Optional, Sequence

from thpds.errors import InfraError, UsageError

GIT_ID = ['-c', 'user.name=thp-ds', '-c', 'user.email=thp-ds@localhost',
	  '-c', 'commit.gpgsign=false', '-c', 'core.autocrlf=false']

# Debian's linux-source tarballs end their .gitignore with a block that
# ignores the whole top level; it must go before git can see the tree.
DEBIAN_IGNORE_MARKER = '# Debian packaging: ignore everything'


class TreeError(InfraError):
	"""git failed on a tool-owned tree; the message says how."""


class PatchError(UsageError):
	"""A patch of the suite does not apply to this tree."""


def git(repo: str, *args: str, env: Optional[Dict[str, str]] = None,
	input_text: Optional[str] = None) -> str:
	proc = subprocess.run(['git', '-C', repo, *GIT_ID, *args], capture_output=True,
			      text=True, env=env, input=input_text)
	if proc.returncode != 0:
		raise TreeError(f'git {" ".join(args)} in {repo} failed:\n{proc.stderr.strip()}')
	return proc.stdout.strip()


def show(repo: str, commit: str, rel: str) -> str:
	"""A file's text at commit, byte-exact (git() strips whitespace)."""
	proc = subprocess.run(['git', '-C', repo, 'show', f'{commit}:{rel}'],
			      capture_output=True, text=True)
	if proc.returncode != 0:
		raise TreeError(f'{rel} is not in {repo} at {commit}: {proc.stderr.strip()}')
	return proc.stdout


def strip_debian_ignore(tree: str) -> None:
	path = os.path.join(tree, '.gitignore')
	if not os.path.exists(path):
		return
	with open(path) as f:
		text = f.read()
	cut = text.find('#\n' + DEBIAN_IGNORE_MARKER)
	if cut >= 0:
		with open(path, 'w') as f:
			f.write(text[:cut])


def looks_like_kernel_tree(path: str) -> bool:
	return all(os.path.exists(os.path.join(path, p))
		   for p in ('Makefile', 'Kconfig', 'mm/Kconfig', 'mm/Makefile'))


def kernel_version(tree: str) -> str:
	"""VERSION.PATCHLEVEL.SUBLEVEL from the top-level Makefile."""
	fields = {}
	with open(os.path.join(tree, 'Makefile')) as f:
		for line in f:
			key, sep, value = line.partition('=')
			if sep and key.strip() in ('VERSION', 'PATCHLEVEL', 'SUBLEVEL'):
				fields[key.strip()] = value.strip()
			if len(fields) == 3:
				break
	return '.'.join(fields.get(k, '?') for k in ('VERSION', 'PATCHLEVEL', 'SUBLEVEL'))


class Tree:
	"""One tool-owned kernel tree at a stable path."""

	def __init__(self, path: str) -> None:
		self.path = path
		self.meta_file = os.path.join(path, '.git', 'thp-ds.json')

	@property
	def meta(self) -> Dict[str, str]:
		if not os.path.exists(self.meta_file):
			return {}
		with open(self.meta_file) as f:
			return json.load(f)

	def exists(self) -> bool:
		return bool(self.meta.get('base'))

	def set_base(self, staging: str, origin: str, version: str) -> None:
		"""Make the contents of staging the tree's base commit.

		Staging is read through this repository's git directory with an
		index of its own, so staging needs no .git and is not modified.
		Only files that differ from the current checkout are rewritten.
		"""
		if not looks_like_kernel_tree(staging):
			raise TreeError(f'{staging} is not a kernel source tree')
		os.makedirs(self.path, exist_ok=True)
		if not os.path.isdir(os.path.join(self.path, '.git')):
			git(self.path, 'init', '-q', '-b', 'thp-ds')
		gitdir = os.path.join(self.path, '.git')
		env = dict(os.environ, GIT_INDEX_FILE=os.path.join(gitdir, 'staging.index'))
		wt = ['--git-dir', gitdir, '--work-tree', staging]
		git(self.path, *wt, 'add', '-A', '.', env=env)
		tree_id = git(self.path, *wt, 'write-tree', env=env)
		base = git(self.path, 'commit-tree', tree_id, '-m',
			   f'{origin} {version} as obtained')
		self.checkout(base)
		meta = {'base': base, 'origin': origin, 'version': version}
		with open(self.meta_file, 'w') as f:
			json.dump(meta, f, indent=1)

	def head(self) -> str:
		return git(self.path, 'rev-parse', 'HEAD')

	def commit_on_base(self, files: Dict[str, bytes], patches: Sequence[str],
			   message: str, parent: Optional[str] = None) -> str:
		"""A commit = parent (default: base) + files written + patches applied.

		Built in a private index; the working tree is not touched.
		"""
		parent = parent or self.meta['base']
		gitdir = os.path.join(self.path, '.git')
		env = dict(os.environ, GIT_INDEX_FILE=os.path.join(gitdir, 'compose.index'))
		git(self.path, 'read-tree', parent, env=env)
		for rel, data in sorted(files.items()):
			blob = subprocess.run(['git', '-C', self.path, 'hash-object', '-w', '--stdin'],
					      input=data, capture_output=True, check=True).stdout
			git(self.path, 'update-index', '--add', '--cacheinfo',
			    f'100644,{blob.decode().strip()},{rel}', env=env)
		for patch in patches:
			proc = subprocess.run(['git', '-C', self.path, 'apply', '--cached',
					       os.path.abspath(patch)], env=env,
					      capture_output=True, text=True)
			if proc.returncode != 0:
				raise PatchError(f'{os.path.basename(patch)} does not apply to this tree '
						f'({self.meta.get("version")}):\n{proc.stderr.strip()}')
		tree_id = git(self.path, 'write-tree', env=env)
		old_tree = git(self.path, 'rev-parse', f'{parent}^{{tree}}')
		if tree_id == old_tree and not files and not patches:
			return parent
		return git(self.path, 'commit-tree', tree_id, '-p', parent, '-m', message)

	def checkout(self, commit: str) -> None:
		"""Switch the working tree to commit, rewriting only changed files."""
		# A file whose mtime changed but whose content did not must not be
		# rewritten: refresh the index by content first (exit status 1 only
		# says that something differs, which checkout -f then discards).
		subprocess.run(['git', '-C', self.path, 'update-index', '-q', '--refresh'],
			       capture_output=True)
		git(self.path, 'checkout', '-q', '-f', '-B', 'thp-ds', commit)
		git(self.path, 'clean', '-q', '-fdx', '-e', '/.git')


def stage_debian_tarball(tarball: str, staging: str) -> str:
	"""Unpack a linux-source tarball into staging; return the tree path."""
	shutil.rmtree(staging, ignore_errors=True)
	os.makedirs(staging)
	subprocess.run(['tar', '-xJf', tarball, '-C', staging], check=True)
	entries = os.listdir(staging)
	if len(entries) != 1:
		raise TreeError(f'{tarball}: expected one top-level directory, found {entries}')
	tree = os.path.join(staging, entries[0])
	strip_debian_ignore(tree)
	return tree


def stage_user_tree(source: str, staging: str) -> str:
	"""Mirror a user's tree into staging (read-only on the source)."""
	os.makedirs(staging, exist_ok=True)
	subprocess.run(['rsync', '-a', '--delete', '--exclude=/.git', source.rstrip('/') + '/',
			staging + '/'], check=True)
	strip_debian_ignore(staging)
	return staging


def tracked_files(tree: str) -> List[str]:
	return git(tree, 'ls-files').splitlines()
