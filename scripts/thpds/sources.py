"""The suite's source files: whole, as a port's tree has them, or as a patch
of the upstream series has them.

The suite is several files under mm/tests/ (the repository mirrors a kernel
tree): the fixture and the suites (thp_deferred_split_kunit.c), what the
files share (thp_deferred_split.h), the test-only cgroup helpers, and one
file per group of cases.  A file may be left out, by a port whose tree
lacks the path it tests (ports/<X.Y>/omits), or by an early patch of the
series, which has not added it yet.  What the remaining files say of a
left-out one goes with it:

  - thp_deferred_split.h declares what each file shares in a block of its
    own, opened by a comment naming the file ("/* thp_deferred_split_race.c");
    the block of a left-out file is dropped;
  - a KUNIT_CASE line, or a kunit_test_suites() argument, naming a case or
    suite declared in a dropped block is dropped.

Anything else that names a left-out file's declarations is an error in the
parts' order, and is refused.
"""

import os
import re
from typing import Dict, Iterable, List, Set, Tuple

from thpds.errors import UsageError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUITE_DIR = 'mm/tests'
MAIN = 'mm/tests/thp_deferred_split_kunit.c'
SHARED = 'mm/tests/thp_deferred_split.h'
KUNITCONFIG = 'mm/tests/.kunitconfig'
PREFIX = 'thp_deferred_split'

BLOCK = re.compile(r'^/\* (' + PREFIX + r'\w*\.c)\b')
BLOCK_END = re.compile(r'^#endif /\* _MM_TESTS_')
DECLARED = (re.compile(r'^(?:[\w ]+?\*?\s*\**)(thp_ds_\w+)\('),
	    re.compile(r'^extern struct \w+ (\w+);'),
	    re.compile(r'^struct (\w+) \{'))
CASE_LINE = re.compile(r'^\s*KUNIT_CASE\w*\((\w+)')
SUITES_LINE = re.compile(r'^kunit_test_suites\((.*)\);$')


class SourceError(UsageError):
	"""The suite's files cannot be composed as asked; the message says why."""


def repo_files(repo: str = REPO) -> Dict[str, bytes]:
	"""Every file of the suite in the repository, by its path in a tree."""
	found = {}
	root = os.path.join(repo, SUITE_DIR)
	for name in sorted(os.listdir(root)):
		with open(os.path.join(root, name), 'rb') as f:
			found[f'{SUITE_DIR}/{name}'] = f.read()
	return found


def declarations(path: str) -> List[str]:
	"""The lines of a declaration file (a port's, series/parts), without
	blanks and # comments; none where the file is absent."""
	if not os.path.exists(path):
		return []
	with open(path) as f:
		return [line.strip() for line in f
			if line.strip() and not line.strip().startswith('#')]


def omitted(port: str, repo: str = REPO) -> Dict[str, str]:
	"""The suite files a port leaves out: path -> why (ports/<X.Y>/omits,
	"<path>: <reason>" per line, for a path its tree does not have)."""
	path = os.path.join(repo, 'ports', port, 'omits')
	found: Dict[str, str] = {}
	for line in declarations(path):
		rel, sep, why = line.partition(': ')
		if not sep or not why.strip():
			raise SourceError(f'{path}: expected "<file>: <reason>", got {line!r}')
		found[rel.strip()] = why.strip()
	return found


def _blocks(header: str) -> List[Tuple[str, int, int]]:
	"""(file, first line, end line) of each per-file block of the shared header."""
	lines = header.split('\n')
	starts = [(i, m.group(1)) for i, line in enumerate(lines) for m in [BLOCK.match(line)] if m]
	end = next((i for i, line in enumerate(lines) if BLOCK_END.match(line)), len(lines))
	found = []
	for k, (i, name) in enumerate(starts):
		stop = starts[k + 1][0] if k + 1 < len(starts) else end
		found.append((f'{SUITE_DIR}/{name}', i, stop))
	return found


def _declared_in(lines: Iterable[str]) -> Set[str]:
	return {m.group(1) for line in lines for rx in DECLARED for m in [rx.match(line)] if m}


def compose(files: Dict[str, bytes], present: Iterable[str]) -> Dict[str, bytes]:
	"""Of the suite's @files, the @present ones, as they are without the
	others: the shared header without the blocks of the left-out .c
	files, and no case or suite of theirs named in the rest."""
	present = set(present)
	if SHARED not in present:
		return {rel: data for rel, data in files.items() if rel in present}
	header = files[SHARED].decode()
	lines = header.split('\n')
	absent: Set[str] = set()
	drop: Set[int] = set()
	for name, first, stop in _blocks(header):
		if name not in files:
			raise SourceError(f'{SHARED}: a block for {name}, which the suite does not have')
		if name not in present:
			absent |= _declared_in(lines[first:stop])
			drop |= set(range(first, stop))
	out: Dict[str, bytes] = {}
	for rel, data in files.items():
		if rel not in present:
			continue
		if rel == SHARED:
			out[rel] = '\n'.join(x for i, x in enumerate(lines) if i not in drop).encode()
		elif rel.endswith('.c') and absent:
			out[rel] = _without(rel, data.decode(), absent).encode()
		else:
			out[rel] = data
	return out


def _without(rel: str, text: str, absent: Set[str]) -> str:
	kept = []
	for number, line in enumerate(text.split('\n'), 1):
		m = CASE_LINE.match(line)
		if m and m.group(1) in absent:
			continue
		m = SUITES_LINE.match(line)
		if m:
			args = [a.strip() for a in m.group(1).split(',')]
			args = [a for a in args if a.lstrip('&') not in absent]
			line = f'kunit_test_suites({", ".join(args)});'
		else:
			code = re.sub(r'/\*.*?(\*/|$)', '', line)
			code = '' if re.match(r'^\s*\*', code) else re.sub(r'"(?:[^"\\]|\\.)*"', '""', code)
			code = re.sub(r'\benum \w+', '', code)	# a tag, not what a block declares
			named = set(re.findall(r'\b\w+\b', code)) & absent
			if named:
				raise SourceError(f'{rel}:{number} uses {", ".join(sorted(named))}, '
						  'of a file that is left out')
		kept.append(line)
	return '\n'.join(kept)


def for_port(port: str, repo: str = REPO) -> Dict[str, bytes]:
	"""The suite's files as a tree of @port gets them."""
	files = repo_files(repo)
	left_out = omitted(port, repo)
	unknown = [rel for rel in left_out if rel not in files]
	if unknown:
		raise SourceError(f'ports/{port}/omits: {unknown[0]} is no file of the suite')
	return compose(files, [rel for rel in files if rel not in left_out])


def is_source(rel: str) -> bool:
	"""Whether @rel (a path in a tree) is one of the suite's C files."""
	return os.path.basename(rel).startswith(PREFIX) and rel.endswith(('.c', '.h'))


def in_order(rels: Iterable[str]) -> List[str]:
	"""The suite's C files among @rels, the main file first, then by name."""
	return sorted((rel for rel in rels if is_source(rel)), key=lambda rel: (rel != MAIN, rel))


def c_text(files: Dict[str, bytes]) -> str:
	"""The suite's C files as one text, the main file first: what the case
	tables, the cases' comments and the commits they cite are read from."""
	return '\n'.join(files[rel].decode() for rel in in_order(files))


def objects(files: Iterable[str]) -> List[str]:
	"""The objects mm/Makefile builds for the suite's .c files, relative to mm/."""
	return [rel[len('mm/'):-2] + '.o' for rel in sorted(files) if rel.endswith('.c')]
