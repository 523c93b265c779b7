"""docs/results/proof.md: each case, what it guards, and a real failure of it.

Written by `thp-ds matrix` from the same runs as matrix.md, so that what it
quotes stays true: for every case of the suite, the comment above it in
the C source (what it proves, the fixes it cites), the runs in which it
failed as declared, and the failure messages of the first such run, cut
from that run's guest console.
"""

import os
import re
from typing import Dict, List, Optional

from thpds import console, series
from thpds.verdict import Outcome, RunRecord, Status, judge

CASE_DEF = re.compile(r'^static void (thp_ds_test_\w+)\(struct kunit \*test\)$', re.M)
COMMENT = re.compile(r'/\*(.*?)\*/', re.S)
MAX_LINES = 14


def case_comments(source: str) -> Dict[str, str]:
	"""Case function -> the text of the comment block closest above it."""
	found = {}
	for m in CASE_DEF.finditer(source):
		before = source[:m.start()]
		comments = list(COMMENT.finditer(before))
		if not comments:
			continue
		text = re.sub(r'^\s*\* ?', '', comments[-1].group(1), flags=re.M)
		found[m.group(1)] = ' '.join(text.split())
	return found


def failure_lines(console_text: str, case: str) -> List[str]:
	"""The failure messages a run printed for @case (or its first failing
	parameter), from the first failed check on."""
	for name, ok, _, lines in console._ktap_walk(console_text):
		if ok or not (name == case or name.startswith(case + '.')):
			continue
		lines = [console.strip_timestamp(line).rstrip() for line in lines]
		first = next((i for i, line in enumerate(lines) if console.FAILED_AT.search(line)), None)
		if first is None:
			continue
		shown = [line.strip() for line in lines[first:] if line.strip()]
		return shown[:MAX_LINES] + (['...'] if len(shown) > MAX_LINES else [])
	return []


def _console(rec: RunRecord) -> Optional[str]:
	if not rec.log:
		return None
	path = os.path.join(os.path.dirname(rec.log), 'console.log')
	if not os.path.exists(path):
		return None
	with open(path, errors='replace') as f:
		return f.read()


def caught_by(records: List[RunRecord], case: str) -> List[RunRecord]:
	"""The runs in which @case failed as their declaration says it must."""
	out = []
	for r in records:
		for j in judge(r).judgements:
			if (j.name == case or j.name.startswith(case + '.')) and \
			   j.outcome == Outcome.PASSED and j.status in (Status.FAIL, Status.ERROR):
				out.append(r)
				break
	return out


def render(records: List[RunRecord], source: str, declared: Dict[str, List[str]]) -> str:
	comments = case_comments(source)
	revisions = ', '.join(sorted({r.suite_revision for r in records}))
	out = ['# Each case, what it guards, and a real failure of it', '',
	       'Written by `scripts/thp-ds matrix` from the same runs as [matrix.md](matrix.md) '
	       f'(suite revision `{revisions}`); do not edit. For each case: the comment above '
	       'it in `mm/tests/thp_deferred_split*.c`, the commits it cites, the runs in '
	       'which it failed as declared (an unpatched variant, or a tree exposed as '
	       'shipped), and what the first of those runs printed, cut from its guest console.',
	       '']
	for suite_name, names in declared.items():
		out += [f'## {suite_name}', '']
		for name in names:
			full = f'{suite_name}.{name}'
			out += [f'### {name}', '']
			text = comments.get(name, '')
			if text:
				out += [text, '']
			fixes = series.guarded_fixes('/*\n' + text + '\n*/') if text else []
			if fixes:
				out += ['Cites: ' + '; '.join(f'commit {h} ("{t}")' for h, t in fixes), '']
			runs = caught_by(records, full)
			if not runs:
				out += ['Failed in no run of this matrix: a self-test or a case whose '
					'checks fail only in other cases\' runs '
					'([checks.md](checks.md) lists every check).', '']
				continue
			out += ['Failed as declared in: ' + ', '.join(r.label
								    for r in runs) + '.', '']
			shown = None
			# the run whose bug is narrowest says most about this case
			for r in sorted(runs, key=lambda r: len(r.expect.expect_fail)):
				text = _console(r)
				lines = failure_lines(text, full) if text else []
				if lines:
					shown = (r, lines)
					break
			if shown:
				r, lines = shown
				out += [f'{r.label} ({r.origin} {r.version}, {r.date}):', '']
				out += ['    ' + line for line in lines] + ['']
	return '\n'.join(out) + '\n'
