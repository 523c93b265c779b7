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
first, and only the copy is committed.  What is copied and committed must not
depend on who runs the tool: git runs isolated from the user's configuration
(gitrun.py), a Debian tarball is committed whole (it is pure source, even
where the kernel's .gitignore would ignore a file), and a user's tree that is
a git work tree contributes exactly the files its own git lists.
"""

import os
import shutil
import subprocess
import time
from typing import Dict, List, Optional, Sequence, Union

from thpds import atomic, gitrun
from thpds.errors import InfraError, UsageError

# Every commit the tool makes carries this date: the same tree on the same
# parent with the same message is then the same commit, so a run that
# composes what the tree already holds finds HEAD already there (checkout).
COMMIT_DATE = '946684800 +0000'	# 2000-01-01

# Packing (see Tree.pack): loose objects beyond this many are packed, and
# beyond this many packs they are merged into one.
LOOSE_LIMIT = 1000
PACK_LIMIT = 10
# Blobs go straight into a pack as 'git add' hashes them (bulk check-in: no
# loose object per file), deflated at level 1: a kernel tree's first commit
# is then faster (19 s instead of 26 s here) and smaller (320 MB instead of
# 560 MB of loose objects) than with defaults, and nothing needs repacking.
BULK_ADD = ('-c', 'core.bigFileThreshold=1', '-c', 'pack.compression=1')

# Debian's linux-source tarballs end their .gitignore with a block that
# ignores the whole top level; it must go before git can see the tree.
DEBIAN_IGNORE_MARKER = '# Debian packaging: ignore everything'


class TreeError(InfraError):
	"""git failed on a tool-owned tree; the message says how."""


class PatchError(UsageError):
	"""A patch of the suite does not apply to this tree."""


def git(repo: str, *args: str, env: Optional[Dict[str, str]] = None,
	input_text: Union[str, bytes, None] = None, work_tree: Optional[str] = None,
	settings: Sequence[str] = ()) -> str:
	"""git on the tool-owned repository at repo, isolated (see gitrun.py).

	The repository is named explicitly, never discovered: a tree whose .git
	is missing or broken must fail, not fall through to some repository
	above the cache.  work_tree (default repo) is where git reads files.
	"""
	where = work_tree or repo
	extra = {'GIT_DIR': os.path.join(os.path.abspath(repo), '.git'),
		 'GIT_WORK_TREE': os.path.abspath(where), **(env or {})}
	proc = gitrun.run(args, cwd=where, extra_env=extra, settings=settings,
			  input=input_text, text=not isinstance(input_text, bytes))
	if proc.returncode != 0:
		err = proc.stderr if isinstance(proc.stderr, str) else proc.stderr.decode(errors='replace')
		raise TreeError(f'git {" ".join(args)} in {repo} failed:\n{err.strip()}')
	out = proc.stdout if isinstance(proc.stdout, str) else proc.stdout.decode()
	return out.strip()


def show(repo: str, commit: str, rel: str) -> str:
	"""A file's text at commit, byte-exact (git() strips whitespace)."""
	proc = gitrun.run(['show', f'{commit}:{rel}'], cwd=repo,
			  extra_env={'GIT_DIR': os.path.join(os.path.abspath(repo), '.git')})
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
		self.gitdir = os.path.join(path, '.git')
		self.meta_file = os.path.join(self.gitdir, 'thp-ds.json')
		# Facts about this process's use of the tree, shown in meta but
		# never written: 'offline' (why the archive could not be read).
		self.session: Dict[str, str] = {}

	@property
	def meta(self) -> Dict[str, str]:
		"""What set_base recorded: base, origin, version, prepared (a UTC date),
		plus this process's session facts.

		Without base when the tree was never prepared, or its preparation
		was interrupted before it completed."""
		meta = atomic.read_json(self.meta_file)
		return {**(meta if isinstance(meta, dict) else {}), **self.session}

	def exists(self) -> bool:
		"""The tree has a base that its repository holds."""
		meta = atomic.read_json(self.meta_file)
		base = meta.get('base') if isinstance(meta, dict) else None
		if not base:
			return False
		try:
			self.git('cat-file', '-e', f'{base}^{{commit}}')
		except TreeError:
			return False
		return True

	def remove_stale_locks(self) -> List[str]:
		"""Delete the lock files an interrupted git left in .git; return them.

		Only for a caller that holds the cache's lock (lock.py): then no
		other git can be at work in this tree, and any *.lock is left over
		from a run that was killed.  git would otherwise refuse every
		command ('index.lock exists') until someone deleted it by hand.
		"""
		removed = []
		for dirpath, dirnames, filenames in os.walk(self.gitdir):
			if dirpath == self.gitdir and 'objects' in dirnames:
				dirnames.remove('objects')	# no locks there, and many entries
			for name in filenames:
				if name.endswith('.lock'):
					os.unlink(os.path.join(dirpath, name))
					removed.append(os.path.relpath(os.path.join(dirpath, name),
								       self.gitdir))
		return sorted(removed)

	def git(self, *args: str, index: Optional[str] = None, work_tree: Optional[str] = None,
		input_text: Union[str, bytes, None] = None, settings: Sequence[str] = ()) -> str:
		"""Isolated git on this tree; index names a private index file in .git."""
		env = {'GIT_INDEX_FILE': os.path.join(self.gitdir, index)} if index else None
		return git(self.path, *args, env=env, work_tree=work_tree, input_text=input_text,
			   settings=settings)

	def _commit(self, tree_id: str, message: str, parent: Optional[str] = None,
		    env: Optional[Dict[str, str]] = None) -> str:
		"""A commit of the tool's (fixed identity and date), or of @env's."""
		return git(self.path, 'commit-tree', tree_id, *(['-p', parent] if parent else []),
			   '-m', message, env=env or {'GIT_AUTHOR_DATE': COMMIT_DATE,
						     'GIT_COMMITTER_DATE': COMMIT_DATE})

	def set_base(self, staging: str, origin: str, version: str, force: bool) -> None:
		"""Make the contents of staging the tree's base commit.

		Staging is read through this repository's git directory with an
		index of its own, so staging needs no .git and is not modified.
		Only files that differ from the current checkout are rewritten.
		force: commit every file of staging, even one the tree's .gitignore
		ignores (a Debian tarball, or a list a user's git made); otherwise
		the tree's own .gitignore files decide (a user's plain directory,
		which may hold build output).
		"""
		if not looks_like_kernel_tree(staging):
			raise TreeError(f'{staging} is not a kernel source tree')
		os.makedirs(self.path, exist_ok=True)
		self._init()
		# One index per mode: entries a forced add tracked must not survive
		# into an add that respects .gitignore.
		index = 'staging-forced.index' if force else 'staging.index'
		self.git('add', '-A', *(['-f'] if force else []), '.', index=index, work_tree=staging,
			 settings=BULK_ADD)
		if not force:
			# The kernel's .gitignore ignores '.*' (before v6.16 without an
			# exception for .kunitconfig), yet the kernel tracks its
			# .kunitconfig files and kunit.py needs them: a plain directory
			# keeps them, as a git work tree does.
			kunitconfigs = kunitconfig_files(staging)
			if kunitconfigs:
				self.git('add', '-f', '--', *kunitconfigs, index=index, work_tree=staging)
		tree_id = self.git('write-tree', index=index, work_tree=staging)
		base = self._commit(tree_id, f'{origin} {version} as obtained')
		if base == self.meta.get('base') and self.exists():
			# The same snapshot as last time (a user's tree nobody changed):
			# checking the base out would take the suite out and put it
			# back, rewriting its files and forcing their rebuild.
			return
		self.checkout(base)
		self.pack()
		# Recorded last, and whole: until this is written the tree counts
		# as unprepared, and the next run prepares it again.
		atomic.write_json(self.meta_file, {
			'base': base, 'origin': origin, 'version': version,
			'prepared': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())})

	def objects(self) -> Dict[str, int]:
		"""git count-objects -v: count (loose), packs, size-pack (KiB), ..."""
		counts = {}
		for line in self.git('count-objects', '-v').splitlines():
			key, _, value = line.partition(':')
			if value.strip().isdigit():
				counts[key.strip()] = int(value)
		return counts

	def pack(self) -> None:
		"""Keep the repository small without slowing a first run down.

		New blobs are packed already (BULK_ADD); what is loose is the new
		base's trees (about 6000 for a kernel), packed without a delta
		search (a second).  Once packs pile up (a user's tree committed
		after each edit, Debian updates) they are merged into one, which
		reuses their data and drops the objects of bases no longer used
		(a few seconds for a kernel).  git gc --aggressive would search
		deltas over the whole tree: a minute or more on two cores.
		"""
		counts = self.objects()
		if counts.get('packs', 0) >= PACK_LIMIT:
			# Trees made by older versions of the tool have reflogs.
			self.git('reflog', 'expire', '--expire=now', '--all')
			self.git('repack', '-a', '-d', '-q')
		elif counts.get('count', 0) >= LOOSE_LIMIT:
			self.git('repack', '-d', '-q', '--window=0', settings=('-c', 'pack.compression=1'))

	def _init(self) -> None:
		"""A repository in .git: new, or the one there if git can use it.

		An interrupted 'git init' can leave a .git that is no repository;
		it holds nothing worth keeping (no base was recorded), so it goes.
		"""
		if os.path.lexists(self.gitdir):
			try:
				self.git('rev-parse', '--git-dir')
				return
			except TreeError:
				if os.path.isdir(self.gitdir) and not os.path.islink(self.gitdir):
					shutil.rmtree(self.gitdir)
				else:
					os.unlink(self.gitdir)
		proc = gitrun.run(['init', '-q', '-b', 'thp-ds'], cwd=self.path)
		if proc.returncode != 0:
			raise TreeError(f'git init in {self.path} failed:\n{proc.stderr.strip()}')

	def head(self) -> str:
		return self.git('rev-parse', 'HEAD')

	def apply_cached(self, patch: str, index: str, owner: str = '') -> None:
		"""Apply @patch to @index, with the context drift real trees have.

		git apply finds a hunk moved by any number of lines; where its
		context changed too, it is tried again needing only one line of
		context on each side (git apply -C1, about what patch's fuzz
		allows).  A patch that still does not fit names @owner ('port
		7.2'), the patch and the hunks git could not place.
		"""
		path = os.path.abspath(patch)
		try:
			self.git('apply', '--cached', path, index=index)
			return
		except TreeError:
			pass
		try:
			self.git('apply', '--cached', '-C1', path, index=index)
		except TreeError as e:
			hunks = [line.split('error: ', 1)[-1] for line in str(e).splitlines()
				 if 'patch failed:' in line or 'No such file' in line
				 or 'does not exist in index' in line]
			raise PatchError(f'{owner + " " if owner else ""}{os.path.basename(patch)} does '
					 f'not apply to this tree ({self.meta.get("version")}), even '
					 'with one line of context: '
					 + ('; '.join(hunks) or str(e).split('\n', 1)[-1].strip())) from None

	def commit_on_base(self, files: Dict[str, bytes], patches: Sequence[str],
			   message: str, parent: Optional[str] = None,
			   env: Optional[Dict[str, str]] = None, owner: str = '') -> str:
		"""A commit = parent (default: base) + files written + patches applied.

		Built in a private index; the working tree is not touched.  @env
		sets the author and committer (default: the tool, at a fixed date).
		@owner names whose patches they are, for the error (apply_cached).
		"""
		parent = parent or self.meta['base']
		index = 'compose.index'
		self.git('read-tree', parent, index=index)
		entries = []
		for rel, data in sorted(files.items()):
			blob = self.git('hash-object', '-w', '--stdin', input_text=data)
			entries.append(f'100644 {blob}\t{rel}\n')
		if entries:
			# One update-index for all: each reads and writes the whole index.
			self.git('update-index', '--index-info', index=index, input_text=''.join(entries))
		for patch in patches:
			self.apply_cached(patch, index, owner)
		tree_id = self.git('write-tree', index=index)
		old_tree = self.git('rev-parse', f'{parent}^{{tree}}')
		if tree_id == old_tree and not files and not patches:
			return parent
		return self._commit(tree_id, message, parent, env)

	def checkout(self, commit: str) -> None:
		"""Switch the working tree to commit, rewriting only changed files."""
		if self.holds(commit):
			return
		# A file whose mtime changed but whose content did not must not be
		# rewritten: refresh the index by content first (exit status 1 only
		# says that something differs, which checkout -f then discards).
		try:
			self.git('update-index', '-q', '--refresh')
		except TreeError:
			pass
		self.git('checkout', '-q', '-f', '-B', 'thp-ds', commit)
		self.git('clean', '-q', '-fdx', '-e', '/.git')

	def holds(self, commit: str) -> bool:
		"""The branch is at commit and the working tree is exactly commit.

		Then a checkout has nothing to do.  git status refreshes the index
		by content, so a file whose mtime alone changed counts as clean.
		Untracked and ignored files count as changes (a checkout would
		clean them: an in-tree .config breaks an O= build), except in the
		__pycache__ directories that kunit.py itself writes into the tree
		on every run (which Debian's trees do not ignore).
		"""
		try:
			branch = self.git('symbolic-ref', '-q', 'HEAD')
			head = self.git('rev-parse', '-q', '--verify', 'HEAD^{commit}')
		except TreeError:
			return False
		if branch != 'refs/heads/thp-ds' or head != commit:
			return False
		status = self.git('status', '--porcelain', '-z', '--untracked-files=all',
				  '--ignored', '--no-renames')
		for entry in filter(None, status.split('\0')):
			if not (entry[:3] in ('!! ', '?? ') and '__pycache__' in entry[3:].split('/')):
				return False
		return True


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


def user_git_files(source: str) -> Optional[List[str]]:
	"""The files a user's tree holds by its own git, or None if it has no git.

	A tree with a .git of its own is a git work tree: its sources are what
	'git ls-files -c -o --exclude-standard' lists (tracked files, even ones
	its .gitignore matches, and untracked ones it does not ignore), so build
	output in it stays out.  git runs isolated and read-only: no optional
	locks (status would otherwise refresh the user's index), no discovery
	above the tree, and the user's tree may belong to another user.
	"""
	source = os.path.abspath(source)
	if not os.path.lexists(os.path.join(source, '.git')):
		return None
	proc = gitrun.read_only(['ls-files', '-z', '-c', '-o', '--exclude-standard'], source)
	if proc.returncode != 0:
		raise TreeError(f'git ls-files in {source} failed:\n{proc.stderr.strip()}')
	listed = dict.fromkeys(p for p in proc.stdout.split('\0') if p)
	# A tracked file deleted in the work tree is listed but absent.
	return [p for p in listed if os.path.lexists(os.path.join(source, p))
		and not os.path.isdir(os.path.join(source, p))]


def stage_user_tree(source: str, staging: str, files: Optional[List[str]] = None) -> str:
	"""Mirror a user's tree into staging (read-only on the source).

	files: copy exactly these (from user_git_files) and nothing else;
	None: the whole tree but its .git.
	"""
	os.makedirs(staging, exist_ok=True)
	src = source.rstrip('/') + '/'
	if files is None:
		subprocess.run(['rsync', '-a', '--delete', '--exclude=/.git', src, staging + '/'],
			       check=True)
	else:
		subprocess.run(['rsync', '-a', '--from0', '--files-from=-', src, staging + '/'],
			       input='\0'.join(files).encode(), check=True)
		_remove_unlisted(staging, set(files))
	strip_debian_ignore(staging)
	return staging


def _remove_unlisted(staging: str, keep: set) -> None:
	"""Delete what a previous copy left in staging that the list no longer has."""
	for dirpath, dirnames, filenames in os.walk(staging, topdown=False):
		rel_dir = os.path.relpath(dirpath, staging)
		for name in filenames + [d for d in dirnames
					 if os.path.islink(os.path.join(dirpath, d))]:
			rel = os.path.normpath(os.path.join(rel_dir, name))
			if rel not in keep:
				os.unlink(os.path.join(dirpath, name))
		if dirpath != staging and not os.listdir(dirpath):
			os.rmdir(dirpath)


def kunitconfig_files(root: str) -> List[str]:
	"""The .kunitconfig files under root, relative to it."""
	found = []
	for dirpath, dirnames, filenames in os.walk(root):
		dirnames[:] = [d for d in dirnames if d != '.git']
		if '.kunitconfig' in filenames:
			found.append(os.path.relpath(os.path.join(dirpath, '.kunitconfig'), root))
	return sorted(found)


def tracked_files(tree: str) -> List[str]:
	return git(tree, 'ls-files').splitlines()
