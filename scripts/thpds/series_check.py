"""What a maintainer would check of a series before taking it, done by the tool.

- checkpatch: the target tree's scripts/checkpatch.pl --strict on each
  patch: no error, warning or check.  checkpatch asks of every patch that
  adds a file whether MAINTAINERS needs updating (FILE_PATH_CHANGES): for
  a patch whose new files MAINTAINERS lists already (an F: line of the
  tree's, or one an earlier patch of the series added, which is looked at
  first), the answer is no, and it is said so.  The tool's trees are Debian's
  tarballs, without upstream history, where checkpatch flags every commit
  id a message cites as unknown (UNKNOWN_COMMIT_ID): that one check is
  left out, and said so (IGNORED); the form of the citations it still
  checks.
- git am: the patch files apply with git am, in order, to the pristine
  tree, and give exactly the series' last commit.
- bisectable: the tree builds at every patch of the series, with the
  suite's configuration.
- the suite: the whole series (for a backport series: with the suite on
  top) built and booted, judged by the same rules as every run.
- recipients: scripts/get_maintainer.pl of the target tree, printed.
"""

import dataclasses
import fnmatch
import os
import re
import shutil
import subprocess
import tempfile
from typing import Callable, List, Optional, Tuple

from thpds import gitrun, kunit_run, tree

TOTAL = re.compile(r'^total: (\d+) errors, (\d+) warnings, (\d+) checks')


@dataclasses.dataclass(frozen=True)
class Finding:
	check: str		# checkpatch, git am, build, suite
	subject: str		# the patch (file name) or the series
	ok: bool
	detail: str = ''


def patch_files(paths: List[str]) -> List[str]:
	"""The patches of a format-patch output, without its cover letter."""
	return [p for p in paths if not os.path.basename(p).startswith('0000-')]


# The one checkpatch check that needs upstream history (see above).
IGNORED = ('UNKNOWN_COMMIT_ID',)
# stable-kernel-rules' first line of a backport, which checkpatch's commit
# citation check (GIT_COMMIT_ID: "commit <sha> (\"title\")") always flags.
STABLE_HEADER = re.compile(r'^\[ Upstream commit [0-9a-f]{40} \]$')
BLOCK = re.compile(r'^(ERROR|WARNING|CHECK):(\w+): (.*)$')


def complaints(out: str) -> List[Tuple[str, str, str]]:
	"""(type, message, the line it is about) of each checkpatch complaint."""
	lines = out.splitlines()
	found = []
	for i, line in enumerate(lines):
		m = BLOCK.match(line)
		if m:
			about = lines[i + 2] if i + 2 < len(lines) and lines[i + 1].startswith('#') else ''
			found.append((m.group(2), f'{m.group(1)}: {m.group(3)}', about))
	return found


def maintainers_globs(patch_text: str) -> List[str]:
	"""The F: patterns a patch adds to MAINTAINERS."""
	found, in_maintainers = [], False
	for line in patch_text.splitlines():
		if line.startswith('diff --git '):
			in_maintainers = line.endswith(' b/MAINTAINERS')
		elif in_maintainers and line.startswith('+F:\t'):
			found.append(line[len('+F:\t'):].strip())
	return found


def new_files(patch_text: str) -> List[str]:
	"""The paths a patch creates."""
	found, current = [], ''
	for line in patch_text.splitlines():
		if line.startswith('diff --git '):
			current = line.rsplit(' b/', 1)[-1]
		elif line.startswith('new file mode') and current:
			found.append(current)
	return found


def covered(path: str, globs: List[str]) -> Optional[str]:
	"""The MAINTAINERS F: pattern among @globs that covers @path, if any
	(a pattern ending in / covers its directory, others match as globs)."""
	for glob in globs:
		if (glob.endswith('/') and path.startswith(glob)) or fnmatch.fnmatchcase(path, glob):
			return glob
	return None


def checkpatch(tree_path: str, patch: str, stable: bool = False,
	       listed: Tuple[str, ...] = ()) -> Finding:
	"""@stable: a stable backport, whose '[ Upstream commit <sha> ]' line
	stable-kernel-rules require (that one complaint is allowed, and said).
	@listed: the MAINTAINERS F: patterns earlier patches of the series
	added (a new file they cover needs no MAINTAINERS change)."""
	env = dict(os.environ, GIT_DIR=os.path.join(tree_path, '.no-upstream-history'))
	proc = subprocess.run(['perl', 'scripts/checkpatch.pl', '--strict', '--color=never',
			       '--show-types', '--ignore', ','.join(IGNORED), patch],
			      cwd=tree_path, env=env, capture_output=True, text=True)
	out = proc.stdout + proc.stderr
	total = next((m for m in map(TOTAL.match, out.splitlines()) if m), None)
	if total is None:
		return Finding('checkpatch', os.path.basename(patch), False,
			       ' '.join(out.strip().splitlines()[-3:]))
	bad, allowed = [], []
	with open(patch) as f:
		created = new_files(f.read())
	covering = sorted({covered(p, list(listed)) or '' for p in created})
	for kind, message, about in complaints(out):
		if stable and kind == 'GIT_COMMIT_ID' and STABLE_HEADER.match(about.strip()):
			allowed.append(f'allowed: {kind} on the stable-rules line "{about.strip()}"')
		elif kind == 'FILE_PATH_CHANGES' and created and '' not in covering:
			allowed.append(f'allowed: {kind}: MAINTAINERS lists the new files already '
				       f'(F: {", ".join(covering)})')
		else:
			bad.append(f'{message} [{about.strip()}]' if about.strip() else message)
	return Finding('checkpatch', os.path.basename(patch), not bad, '; '.join(bad + allowed))


def _git(cwd: str, *args: str) -> subprocess.CompletedProcess:
	return gitrun.run(args, cwd=cwd)


def am(t: tree.Tree, patches: List[str], tip: str) -> Finding:
	"""git am of the patch files on the base, in a scratch worktree that
	checks out only the files the series touches; the result must be tip."""
	base = t.meta['base']
	touched = t.git('diff', '--name-only', base, tip).splitlines()
	scratch = tempfile.mkdtemp(prefix='thp-ds-am-')
	work = os.path.join(scratch, 'tree')
	try:
		t.git('worktree', 'add', '--no-checkout', '--detach', work, base)
		for args in (('sparse-checkout', 'set', '--no-cone', *['/' + p for p in touched]),
			     ('checkout', '-q')):
			proc = _git(work, *args)
			if proc.returncode:
				return Finding('git am', 'the series', False,
					       f'cannot set up the scratch worktree: {proc.stderr.strip()}')
		for patch in patches:
			proc = _git(work, 'am', '-q', os.path.abspath(patch))
			if proc.returncode:
				_git(work, 'am', '--abort')
				return Finding('git am', os.path.basename(patch), False,
					       (proc.stdout + proc.stderr).strip().splitlines()[0])
		got = _git(work, 'rev-parse', 'HEAD^{tree}').stdout.strip()
		want = t.git('rev-parse', f'{tip}^{{tree}}')
		if got != want:
			return Finding('git am', 'the series', False,
				       'applied, but the result differs from the series\' last commit')
		return Finding('git am', 'the series', True,
			       f'{len(patches)} patch{"es" if len(patches) != 1 else ""} apply to the pristine tree')
	finally:
		try:
			t.git('worktree', 'remove', '--force', work)
		except tree.TreeError:
			pass
		t.git('worktree', 'prune')
		shutil.rmtree(scratch, ignore_errors=True)


def make(tree_path: str, build_dir: str, cache: str, config: str, log_path: str) -> Finding:
	"""Build the checked-out tree with @config (the suite's .config)."""
	env = dict(os.environ, CCACHE_DIR=os.path.join(cache, 'ccache'))
	shutil.copyfile(config, os.path.join(build_dir, '.config'))
	base = ['make', 'ARCH=x86_64', f'O={build_dir}', 'CC=ccache gcc']
	with open(log_path, 'w') as log:
		for args in (['olddefconfig'], [f'-j{os.cpu_count() or 1}', 'all']):
			log.write('$ ' + ' '.join(base + args) + '\n')
			log.flush()
			proc = subprocess.run(base + args, cwd=tree_path, env=env, stdout=log,
					      stderr=subprocess.STDOUT)
			if proc.returncode:
				return Finding('build', '', False, f'make {args[-1]} failed (see {log_path})')
	with open(log_path, errors='replace') as f:
		warnings = [line.strip() for line in f if re.search(r': (warning|error):', line)]
	return Finding('build', '', not warnings, '; '.join(warnings[:3]))


def bisect(t: tree.Tree, commits: List[str], names: List[str], build_dir: str, cache: str,
	   config: str, log_dir: str, say: Callable[[str], None]) -> List[Finding]:
	"""Build the tree at each of @commits (switched in place, so each is an
	incremental build of the same build directory)."""
	found = []
	for commit, name in zip(commits, names):
		t.checkout(commit)
		log = os.path.join(log_dir, f'build-{name}.log')
		f = dataclasses.replace(make(t.path, build_dir, cache, config, log), subject=name)
		say(f'{"builds" if f.ok else "DOES NOT BUILD"} at {name}' +
		    (f': {f.detail}' if f.detail else ''))
		found.append(f)
	return found


def recipients(tree_path: str, patches: List[str], maintainers: Optional[str] = None) -> str:
	"""get_maintainer.pl's recipients of the patches; @maintainers: the
	MAINTAINERS text to read (the series' own, with the entries it adds),
	instead of the tree's."""
	with tempfile.TemporaryDirectory(prefix='thp-ds-maintainers-') as scratch:
		mpath = []
		if maintainers is not None:
			mpath = ['--mpath', os.path.join(scratch, 'MAINTAINERS')]
			with open(mpath[1], 'w') as f:
				f.write(maintainers)
		proc = subprocess.run(['perl', 'scripts/get_maintainer.pl', '--no-git',
				       '--no-git-fallback', *mpath, *patches], cwd=tree_path,
				      capture_output=True, text=True)
	return proc.stdout.strip() if proc.returncode == 0 else \
		f'(get_maintainer.pl failed: {proc.stderr.strip()})'


def sections(recipients_text: str) -> List[str]:
	"""The MAINTAINERS sections get_maintainer.pl's output names, in order
	("Tejun Heo <tj@kernel.org> (maintainer:CONTROL GROUP (CGROUP))")."""
	found: List[str] = []
	for line in recipients_text.splitlines():
		m = re.search(r'\((?:maintainer|reviewer|supporter|open list|moderated list|list)'
			      r':(.+)\)\s*$', line)
		if m:
			name = m.group(1).split(':Keyword:')[0].strip()
			if name not in found:
				found.append(name)
	return found


def suite_config(build_dir: str, keep: str) -> Optional[str]:
	"""A copy of the .config the suite's run used, for the prefix builds."""
	path = os.path.join(build_dir, '.config')
	if not os.path.exists(path):
		return None
	shutil.copyfile(path, keep)
	return keep


def run_suite(t: tree.Tree, build_dir: str, out_dir: str, cache: str,
	      timeout: int, boot: Tuple[str, ...] = ()) -> kunit_run.RunOutput:
	"""The suite on the series, booted as every run boots (@boot: the
	port's thp_anon=, suite.port_thp_anon())."""
	return kunit_run.run(t.path, build_dir, out_dir, cache, timeout=timeout, boot=boot)
