"""The patch series a maintainer receives, composed on a tree's pristine base.

For a tree whose port carries no stable backports (6.12, 7.2 and later),
the upstream series:

  1. the port's mm exposures (ports/<X.Y>/patches), each with its message;
  2. the suite, one patch per line of series/parts: the test-only cgroup
     helpers first, with the Kconfig entry, the MAINTAINERS F: lines (the
     mm section that owns huge_memory.c for the tests, the cgroup section
     for the helpers; an F: line goes with the files it lists, checkpatch
     warns about a patch that adds files without it) and the port's own
     files; then the fixture and checker, then the cases, a group per
     patch, each patch adding its Makefile line.  Every patch builds and
     runs on its own (sources.compose()).

For a tree exposed as shipped (6.1, 5.10), the stable backport series:
the port's backports (ports/<X.Y>/backports), in stable-rules form.

The commits are made in the tool's tree, on its base, with the user's git
identity as author and in a Signed-off-by: line; git format-patch writes
them out with a cover letter (series/*cover-letter.txt) and base-commit.
"""

import dataclasses
import os
import re
import subprocess
import textwrap
import time
from typing import Dict, List, Optional, Tuple

from thpds import sources, suite, tree
from thpds.errors import UsageError

SERIES = os.path.join(suite.REPO, 'series')
SUITE_FILES_GLOB = 'mm/tests/thp_deferred_split*'
# The MAINTAINERS section the tests join, in order of preference: the THP
# section where the tree has one, else memory management's.
SECTIONS = ('MEMORY MANAGEMENT - THP (TRANSPARENT HUGE PAGE)', 'MEMORY MANAGEMENT')
# The test-only cgroup helpers are the cgroup maintainers' to review too.
CGROUP_FILES_GLOB = 'mm/tests/thp_deferred_split_cgroup.*'
CGROUP_SECTIONS = ('CONTROL GROUP (CGROUP)',)
PARTS = os.path.join(SERIES, 'parts')


@dataclasses.dataclass(frozen=True)
class Identity:
	name: str
	email: str

	def line(self) -> str:
		return f'{self.name} <{self.email}>'


def _user_config(key: str) -> str:
	"""The user's own git setting (the only place the tool reads one)."""
	proc = subprocess.run(['git', 'config', '--get', key], capture_output=True, text=True,
			      cwd=suite.REPO)
	return proc.stdout.strip() if proc.returncode == 0 else ''


def identity() -> Identity:
	"""Author and Signed-off-by of the series: the user's git identity."""
	name = os.environ.get('GIT_AUTHOR_NAME') or _user_config('user.name')
	email = os.environ.get('GIT_AUTHOR_EMAIL') or _user_config('user.email')
	if not name or not email:
		raise UsageError('no git identity to sign the series off with.\n'
				 'Set yours:\n  git config --global user.name "Your Name"\n'
				 '  git config --global user.email you@example.org\n'
				 '(or GIT_AUTHOR_NAME and GIT_AUTHOR_EMAIL in the environment)')
	return Identity(name, email)


@dataclasses.dataclass(frozen=True)
class Step:
	"""One patch of the series: what it changes, and its message."""
	subject: str
	body: str
	files: Dict[str, bytes] = dataclasses.field(default_factory=dict)
	patch: Optional[str] = None		# a patch file of the repo it applies
	cover: str = ''				# why it exists, for the cover letter

	def message(self, who: Identity) -> str:
		body = self.body.strip()
		signoff = f'Signed-off-by: {who.line()}'
		if signoff not in body.splitlines():
			body = f'{body}\n\n{signoff}' if body else signoff
		return f'{self.subject}\n\n{body}\n'


def patch_message(path: str) -> Tuple[str, str]:
	"""(subject, body) of a git format-patch file, without the [PATCH] prefix."""
	with open(path) as f:
		text = f.read()
	head, _, rest = text.partition('\n\n')
	m = re.search(r'^Subject: (.*(?:\n .*)*)', head, re.M)
	if not m:
		raise UsageError(f'{path}: no Subject: line')
	subject = re.sub(r'^\[PATCH[^\]]*\]\s*', '', ' '.join(m.group(1).split('\n ')))
	body = re.split(r'^---$', rest, maxsplit=1, flags=re.M)[0]
	return subject.strip(), body.strip()


def template(name: str) -> Tuple[str, str]:
	"""(subject, body) of series/<name>."""
	with open(os.path.join(SERIES, name)) as f:
		subject, _, body = f.read().partition('\n\n')
	return subject.strip(), body.strip()


def guarded_fixes(source: str) -> List[Tuple[str, str]]:
	"""(12-hex id, title) of every commit the suite's comments cite, in order."""
	text = re.sub(r'\s+', ' ', re.sub(r'\n\s*\*\s?', ' ', source))
	found: Dict[str, str] = {}
	for m in re.finditer(r'commit ([0-9a-f]{12,40}) \("(.+?)"\)', text):
		found.setdefault(m.group(1)[:12], m.group(2))
	return list(found.items())


def insert_maintainers(text: str) -> str:
	"""MAINTAINERS with the suite's F: lines, each sorted into its section's."""
	return _insert_entry(_insert_entry(text, SUITE_FILES_GLOB, SECTIONS),
			     CGROUP_FILES_GLOB, CGROUP_SECTIONS)


def _insert_entry(text: str, glob: str, sections) -> str:
	entry = f'F:\t{glob}'
	if entry in text.splitlines():
		raise suite.SuiteError('MAINTAINERS already lists the suite: the tree has it')
	lines = text.split('\n')
	for title in sections:
		if title not in lines:
			continue
		start = lines.index(title)
		end = next((i for i in range(start + 1, len(lines)) if not lines[i].strip()),
			   len(lines))
		files = [i for i in range(start + 1, end) if lines[i].startswith('F:\t')]
		if not files:
			continue
		at = next((i for i in files if lines[i] > entry), files[-1] + 1)
		return '\n'.join(lines[:at] + [entry] + lines[at:])
	raise suite.SuiteError('MAINTAINERS has none of the sections ' + ', '.join(sections))


def parts() -> List[Tuple[str, List[str]]]:
	"""(message file, the suite files it adds) of each patch of series/parts."""
	found = []
	for line in suite.declarations(PARTS):
		name, sep, files = line.partition(': ')
		if not sep or not files.split():
			raise suite.SuiteError(f'{PARTS}: expected "<message file>: <files>", got {line!r}')
		found.append((name.strip(), files.split()))
	every = sources.repo_files()
	listed = [rel for _, files in found for rel in files]
	ported = {rel for port in suite.ports() for rel in suite.port_files(port)}
	for rel in [*every, *ported]:
		if listed.count(rel) != 1:
			raise suite.SuiteError(f'{PARTS}: {rel} is added by {listed.count(rel)} patches, '
					       'not one')
	unknown = [rel for rel in listed if rel not in every and rel not in ported]
	if unknown:
		raise suite.SuiteError(f'{PARTS}: {unknown[0]} is no file of the suite')
	return found


def _fixes_paragraph(text: str) -> str:
	"""What a patch's message says of the commits its cases cite."""
	fixes = guarded_fixes(text)
	if not fixes:
		return ''
	return 'The cases cite:\n\n' + '\n'.join(
		textwrap.fill(f'commit {h} ("{t}")', width=75, initial_indent='  ',
			      subsequent_indent='  ', break_long_words=False) for h, t in fixes)


def upstream_steps(read, port: str) -> List[Step]:
	"""The upstream series on a tree whose files @read(path) gives."""
	steps = [Step(*patch_message(p), patch=p) for p in suite.port_patches(port)]
	every = sources.repo_files()
	left_out = sources.omitted(port)
	present: List[str] = []
	for name, files in parts():
		added = [rel for rel in files if rel not in left_out]
		if not added:
			continue	# a path the port's tree does not have
		present += added
		composed = sources.compose(every, present)
		subject, body = template(name)
		cover, body = _cover_line(name, body)
		text = '\n'.join(composed[rel].decode() for rel in added if rel.endswith('.c'))
		body = re.sub(r'\n*\{fixes\}', lambda _: '\n\n' + _fixes_paragraph(text)
			      if _fixes_paragraph(text) else '', body).strip()
		step_files = suite.suite_files(read, port, files=composed, only=present,
					       resolved=True)
		if len(steps) == len(suite.port_patches(port)):
			step_files['MAINTAINERS'] = insert_maintainers(read('MAINTAINERS')).encode()
		steps.append(Step(subject, body, step_files, cover=cover))
	return steps


def _cover_line(name: str, body: str) -> Tuple[str, str]:
	"""A part message's "Cover: <why the patch exists>" paragraph (for the
	cover letter, not the commit), and the body without it."""
	head, sep, rest = body.partition('\n\n')
	if not head.startswith('Cover: '):
		raise suite.SuiteError(f'series/{name}: the body must begin with "Cover: <why>"')
	return ' '.join(head[len('Cover: '):].split()), rest.strip()


def backport_steps(port: str) -> List[Step]:
	return [Step(*patch_message(p), patch=p) for p in suite.port_backports(port)]


def kind(port: str) -> str:
	"""'backports' for a port exposed as shipped, else 'upstream'."""
	return 'backports' if suite.port_backports(port) else 'upstream'


def commit_steps(t: tree.Tree, steps: List[Step], who: Identity) -> List[str]:
	"""Commit each step on the last, from the tree's base; the commit ids."""
	env = {'GIT_AUTHOR_NAME': who.name, 'GIT_AUTHOR_EMAIL': who.email,
	       'GIT_COMMITTER_NAME': who.name, 'GIT_COMMITTER_EMAIL': who.email}
	parent = t.meta['base']
	commits = []
	for step in steps:
		parent = t.commit_on_base(step.files, [step.patch] if step.patch else [],
					  step.message(who), parent=parent, env=env)
		commits.append(parent)
	return commits


def cover_letter(path: str, name: str, fields: Dict[str, str]) -> None:
	"""Fill git format-patch's cover letter from series/<name>."""
	subject, body = template(name)
	for key, value in fields.items():
		subject = subject.replace('{' + key + '}', value)
		body = body.replace('{' + key + '}', value)
	body = '\n\n'.join(textwrap.fill(para, width=72, break_on_hyphens=False) if '{' not in para and
			   not para.startswith(' ') else para for para in body.split('\n\n'))
	with open(path) as f:
		text = f.read()
	text = text.replace('*** SUBJECT HERE ***', subject)
	text = text.replace('*** BLURB HERE ***', body)
	with open(path, 'w') as f:
		f.write(text)


def write(t: tree.Tree, commits: List[str], out_dir: str, prefix: str,
	  who: Identity) -> List[str]:
	"""git format-patch of the commits into out_dir (emptied of old patches
	first), sent as @who (the cover letter's From:, the Message-Ids)."""
	os.makedirs(out_dir, exist_ok=True)
	for old in os.listdir(out_dir):
		if old.endswith('.patch'):
			os.remove(os.path.join(out_dir, old))
	base = t.meta['base']
	out = tree.git(t.path, 'format-patch', '--cover-letter', f'--base={base}', '--thread',
		       f'--from={who.line()}', f'--subject-prefix={prefix}',
		       '-o', os.path.abspath(out_dir), f'{base}..{commits[-1]}',
		       env={'GIT_COMMITTER_NAME': who.name, 'GIT_COMMITTER_EMAIL': who.email})
	return out.splitlines()


def date() -> str:
	return time.strftime('%Y-%m-%d', time.gmtime())
