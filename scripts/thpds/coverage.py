"""Which of the suite's checks were seen failing, and on which runs.

A check that cannot fail is a defect.  Every expectation in the suite's
source is a check site; KUnit names the file and line of each failed
expectation ("EXPECTATION FAILED at mm/tests/thp_deferred_split_free.c:NNN"),
so the runs of the unpatched variants show which sites they made fail.
The table this module renders lists every site with those runs, and the
sites nothing has made fail yet.
"""

import dataclasses
import re
from typing import Dict, Iterable, List, Tuple

from thpds import sources

# A failed check as a record keeps it: "case:file:line" (the file's name
# in mm/tests/), or "case:line" in records of the one-file suite.
ONE_FILE = 'thp_deferred_split_kunit.c'

# The macros that report a failed check (and the suite's own wrappers).
CHECK = re.compile(r'^\s*(KUNIT_(?:EXPECT|ASSERT)_\w+|KUNIT_FAIL|THP_DS_EXPECT_\w+)\(')
# A comment naming the self-test that shows a check failing, for a check
# that no kernel variant can reach (the leak check).
SHOWN_BY = re.compile(r'shown failing by (\w+)')
# A comment saying that the failure after it is the suite's own (it could
# not put the system back), not a check of the kernel.
CLEANUP = re.compile(r'not a check: ')
# A comment after the statement on its last line.
TRAILING_COMMENT = re.compile(r'\s*/\*.*\*/\s*$')
FUNCTION = re.compile(r'^(?:static\s+)?[\w\s\*]+?\b(\w+)\([^;]*$')
# The checker's own cases: they fail only if the checker itself is broken.
SELF_TEST = re.compile(r'^thp_ds_test_checker')


@dataclasses.dataclass(frozen=True)
class Site:
	file: str		# its name in mm/tests/
	first: int		# line numbers, 1-based, of the whole statement
	last: int
	function: str
	text: str		# the statement, on one line
	shown_by: str = ''	# a self-test that shows it failing
	cleanup: bool = False	# the suite could not put the system back

	@property
	def self_test(self) -> bool:
		return bool(SELF_TEST.match(self.function))

	@property
	def kind(self) -> str:
		"""check: what the kernel did; precondition: an ASSERT the case
		cannot go on without; cleanup: the suite could not put the system
		back; self-test: the checker's own cases.  (A case that cannot
		reach a verdict skips: kunit_skip() is no site.)"""
		if self.self_test:
			return 'self-test'
		if self.text.startswith('KUNIT_ASSERT'):
			return 'precondition'
		if self.cleanup:
			return 'cleanup'
		return 'check'


def sites(files: Dict[str, str]) -> List[Site]:
	"""Every check statement of the suite's C files (path -> text) outside
	macro definitions, with its function; file by file, the main one first."""
	found: List[Site] = []
	for rel in sources.in_order(files):
		if rel.endswith('.c'):
			found += _file_sites(rel.rsplit('/', 1)[-1], files[rel])
	return found


def _file_sites(name: str, source: str) -> List[Site]:
	lines = source.splitlines()
	found: List[Site] = []
	function = ''
	in_define = False
	i = 0
	while i < len(lines):
		line = lines[i]
		if line.startswith('#define'):
			in_define = line.endswith('\\')
		elif in_define:
			in_define = line.endswith('\\')
		elif line.startswith('}'):
			function = ''
		else:
			m = FUNCTION.match(line)
			if m and not line.startswith((' ', '\t')):
				function = m.group(1)
			elif function and CHECK.match(line):
				depth, j, parts = 0, i, []
				while j < len(lines):
					parts.append(lines[j].strip())
					depth += lines[j].count('(') - lines[j].count(')')
					code = TRAILING_COMMENT.sub('', lines[j]).rstrip()
					if depth <= 0 and code.endswith(';'):
						break
					j += 1
				before = lines[i - 1] if i else ''
				shown = SHOWN_BY.search(before)
				found.append(Site(name, i + 1, j + 1, function, ' '.join(parts),
						  shown.group(1) if shown else '',
						  bool(CLEANUP.search(before))))
				i = j
		i += 1
	return found


def failed_lines(console_text: str) -> List[Tuple[str, str, int]]:
	"""(case function, file, line) of each failed check of the suite, in order."""
	pattern = re.compile(r'# (\w+): (?:EXPECTATION|ASSERTION) FAILED at '
			     + re.escape(sources.SUITE_DIR) + r'/(' + sources.PREFIX
			     + r'\w*\.[ch]):(\d+)')
	return [(m.group(1), m.group(2), int(m.group(3))) for m in map(pattern.search,
									console_text.splitlines()) if m]


def parse_failed(entry: str) -> Tuple[str, str, int]:
	"""(case, file, line) of a record's "case:file:line" (or "case:line")."""
	parts = entry.split(':')
	if len(parts) == 2:
		return parts[0], ONE_FILE, int(parts[1])
	return parts[0], parts[1], int(parts[2])


def site_of(all_sites: List[Site], name: str, line: int) -> Site:
	return next((s for s in all_sites if s.file == name and s.first <= line <= s.last),
		    Site(name, line, line, '?',
			 f'({name}:{line}: not a check site of this source)'))


def coverage(all_sites: List[Site], runs: Iterable[Tuple[str, List[Tuple[str, str, int]]]]
	     ) -> Dict[Site, List[str]]:
	"""Each site -> the labels of the runs in which it failed."""
	seen: Dict[Site, List[str]] = {s: [] for s in all_sites}
	for label, lines in runs:
		for case, name, line in lines:
			site = site_of(all_sites, name, line)
			where = label if site.function == case else f'{label} (in {case})'
			if where not in seen.setdefault(site, []):
				seen[site].append(where)
	return seen


def never_seen(all_sites: List[Site], seen: Dict[Site, List[str]]) -> List[Site]:
	"""The checks no run made fail and no self-test shows failing: defects."""
	return [s for s in all_sites if s.kind == 'check' and not seen[s] and not s.shown_by]


def render(all_sites: List[Site], seen: Dict[Site, List[str]], revision: str) -> str:
	never = never_seen(all_sites, seen)
	kinds = ('check', 'precondition', 'cleanup', 'self-test')
	count = {k: sum(1 for s in all_sites if s.kind == k) for k in kinds}
	out = ['# Checks and the runs that made them fail', '',
	       'Written by `scripts/thp-ds matrix` from the same runs as '
	       '[matrix.md](matrix.md); do not edit.', '',
	       f'Suite revision `{revision}`. Every expectation in '
	       '`mm/tests/thp_deferred_split*.c`, with the runs that reported it failed '
	       '(KUnit\'s "EXPECTATION FAILED at <file>:<line>"); a check in a helper is listed '
	       'with the cases it failed in. Kinds: *check*, what the kernel did (each must be '
	       'seen failing); *precondition*, an assertion the case cannot go on without '
	       '(the fault gave an anonymous THP charged to the case\'s memcg, ...); *cleanup*, '
	       'the suite could not put the system back (a cgroup left behind); *self-test*, the '
	       'checker\'s own cases on hand-built lists. A case that cannot reach a verdict '
	       'skips with its reason (no site).', '',
	       f'- checks: {count["check"]}, of which seen failing in a run: '
	       f'{sum(1 for s in all_sites if s.kind == "check" and seen[s])}, shown failing '
	       f'by a self-test only: '
	       f'{sum(1 for s in all_sites if s.kind == "check" and s.shown_by and not seen[s])}, '
	       f'**never seen failing: {len(never)}**',
	       f'- preconditions: {count["precondition"]}; cleanup reports: '
	       f'{count["cleanup"]}; self-test expectations: {count["self-test"]}', '',
	       '| file:line | function | kind | check | failed in |', '|---|---|---|---|---|']
	for s in all_sites:
		if seen[s]:
			where = ', '.join(seen[s])
		elif s.shown_by:
			where = f'shown by the self-test `{s.shown_by}`'
		elif s.kind == 'check':
			where = '**never seen failing**'
		else:
			where = '—'
		text = s.text if len(s.text) <= 110 else s.text[:107] + '...'
		text = text.replace('|', '\\|')
		short = s.file[len(sources.PREFIX) + 1:] if s.file.startswith(sources.PREFIX + '_') \
			else s.file
		out.append(f'| {short}:{s.first} | `{s.function}` | {s.kind} | `{text}` | {where} |')
	return '\n'.join(out) + '\n'
