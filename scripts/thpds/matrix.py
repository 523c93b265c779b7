"""Tables from real runs: the verdict matrix and the repeat table.

Rendered only from the records runner.run_tree() writes, with each run's
verdict from verdict.judge(); nothing in a table is typed by hand.
"""

import json
import os
import re
import subprocess
from typing import Callable, Dict, List, Optional, Tuple

from thpds import cases, coverage, document, proof, sources, suite
from thpds.verdict import RunRecord, Status, judge


def cell(rec: RunRecord, name: str) -> str:
	"""One case of one run: PASS, **FAIL**, SKIP (reason), **CRASH**, **TIMEOUT**,
	**NOTRUN** (selected, no result), **BUILD-FAIL**, or — (the tree's suite
	has no such case or parameter, e.g. an mTHP order on a tree without mTHP)."""
	case = next((c for c in rec.cases if c.name == name), None)
	if not rec.built:
		return '**BUILD-FAIL**'
	if case is None:
		function = next((s for s in rec.selected if name == s or name.startswith(s + '.')),
				None)
		if function is None:
			return '—'
		as_params = any(c.name.startswith(function + '.') for c in rec.cases)
		unparameterised = any(c.name == function for c in rec.cases)
		# a tree runs a case with its parameters or without (5.10 has none):
		# the other form's rows are not that tree's
		if as_params if function == name else (as_params or unparameterised):
			return '—'
		text = '**NOTRUN**'
	elif case.status == Status.ERROR:
		text = '**CRASH**' if rec.oops else '**TIMEOUT**' if rec.timed_out else '**ERROR**'
	elif case.status == Status.SKIP:
		text = f'SKIP ({case.reason})' if case.reason else 'SKIP'
	elif case.status == Status.PASS:
		text = 'PASS'
	else:
		text = f'**{case.status.value}**'
	if rec.expect.declares_fail(name):
		failed = case is not None and case.status in (Status.FAIL, Status.ERROR)
		text += (' (exposed)' if rec.expect.exposure else ' (expected)') if failed \
			else ' (MISSED)'
	return text


def merged(path: str, records: List[RunRecord]) -> List[RunRecord]:
	"""The runs recorded in @path whose (tree, setting) @records do not run,
	then @records: every run in the table is still one the tool recorded."""
	if not os.path.exists(path):
		return records
	with open(path) as f:
		old = [RunRecord.from_json(d) for d in json.load(f)]
	fresh = {(r.tree, r.setting) for r in records}
	return [r for r in old if (r.tree, r.setting) not in fresh] + records


def run_verdict(rec: RunRecord) -> str:
	verdict = judge(rec)
	if not rec.built:
		return 'BUILD-FAIL'
	text = verdict.summary()
	if rec.oops:
		text += f'; guest crashed: {rec.oops}'
	return text


def reading(records: List[RunRecord]) -> List[str]:
	"""Per tree (and target), in words: exposed as shipped to what, and what
	closes it."""
	out = ['## Reading', '']
	for key in dict.fromkeys((r.tree, r.setting) for r in records):
		mine = [r for r in records if (r.tree, r.setting) == key]
		name = f'{key[0]} {key[1]}' if key[1] else key[0]
		runs = {r.variant: r for r in mine}
		shipped, backported = runs.get('shipped'), runs.get('backported')
		if shipped is None:
			out.append(f'- **{name}**: no shipped run in this matrix.')
			continue
		head = f'- **{name}** ({shipped.origin} {shipped.version}): '
		verdict = judge(shipped)
		if not shipped.built or not verdict.ok:
			out.append(head + f'as shipped {run_verdict(shipped)}.')
		elif shipped.expect.exposure:
			why = suite.port_exposures(shipped.port)
			out.append(head + 'exposed as shipped:')
			for case in sorted(shipped.expect.expect_fail):
				out.append(f'  - `{case.split(".", 1)[1]}`: {why.get(case, "(no longer declared)")}')
			out.append('  - with the port\'s backports: ' + (run_verdict(backported)
								   if backported else 'not run'))
		else:
			out.append(head + 'not exposed: every case as shipped ' + verdict.summary()
				   + '.')
		variants_run = [r for r in mine if r.variant not in ('shipped', 'backported')]
		caught = [r.variant for r in variants_run if judge(r).ok]
		missed = [r.variant for r in variants_run if not judge(r).ok]
		if caught or missed:
			out.append(f'  - unpatched variants caught as declared: {", ".join(caught) or "none"}'
				   + (f'; NOT as declared: {", ".join(missed)}' if missed else ''))
	return out + ['']


def render_markdown(records: List[RunRecord]) -> str:
	cols = [r.label for r in records]
	names = case_names(records)
	out = ['# Verdict matrix', '',
	       'Written by `scripts/thp-ds matrix` from the runs below; do not edit.',
	       'A cell in bold failed or has no result; `(expected)` marks a failure the '
	       'variant declares, `(exposed)` one the port declares for the tree as shipped '
	       '(ports/<X.Y>/exposures), `(MISSED)` a declared failure that did not happen; '
	       '**NOTRUN**: selected but no result; `—`: the tree\'s suite has no such case '
	       'or parameter.', '',
	       '| run | package version | kernel | port | suite | .config sha256 | date (UTC) | '
	       'verdict |', '|---|---|---|---|---|---|---|---|']
	for col, r in zip(cols, records):
		out.append(f'| {col} | {r.origin} {r.version} | {r.kernel} | {r.port} | '
			   f'`{r.suite_revision}` | `{r.config_sha256[:12]}` | {r.date} | '
			   f'{run_verdict(r)} |')
	out += [''] + reading(records)
	out += ['| case | ' + ' | '.join(cols) + ' |', '|---|' + '---|' * len(cols)]
	for name in names:
		short = name.split('.', 1)[1] if '.' in name else name
		out.append(f'| {short} | ' + ' | '.join(cell(r, name) for r in records) + ' |')
	return '\n'.join(out) + '\n'


def case_names(records: List[RunRecord]) -> List[str]:
	names: List[str] = []
	for r in records:
		names += [c.name for c in r.cases if c.name not in names]
		names += [s for s in r.selected if not any(n == s or n.startswith(s + '.')
							   for n in names)]
	return names


# The cells of a declared failure that crashed the guest or failed without
# crashing it: which one a race lands on is timing (May-Crash).
CAUGHT = ('**FAIL** (expected)', '**CRASH** (expected)', '**ERROR** (expected)')
# The cells of a case a variant's race may break or not (May-Fail).
RACED = ('PASS', '**FAIL**', '**CRASH**', '**ERROR**')


def compare(mine: List[RunRecord], theirs: List[RunRecord]) -> Tuple[List[str], List[str]]:
	"""Where two matrices of the same runs differ, cell by cell: each run
	of @mine (by its label) against the run of @theirs with that label, its
	verdict and every case's cell; a run @theirs lacks is a difference.
	Also, apart: the cells of a case its run allows to crash the guest that
	failed in one and crashed in the other (both caught), and of a case a
	variant's race may break or not (May-Fail): timing decides.
	"""
	by_label = {r.label: r for r in theirs}
	diffs, races = [], []
	for r in mine:
		other = by_label.get(r.label)
		if other is None:
			diffs.append(f'{r.label}: not in the other matrix')
			continue
		if judge(r).ok != judge(other).ok:
			diffs.append(f'{r.label}: verdict {judge(r).summary()!r} against '
				     f'{judge(other).summary()!r}')
		for name in case_names([r, other]):
			a, b = cell(r, name), cell(other, name)
			if a == b:
				continue
			line = f'{r.label} {name}: {a} against {b}'
			if a in CAUGHT and b in CAUGHT and r.expect.allows_crash(name) or \
			   a in RACED and b in RACED and r.expect.allows_fail(name):
				races.append(line)
			else:
				diffs.append(line)
	return diffs, races


def render_json(records: List[RunRecord]) -> str:
	"""Each run's result document (document.py), as result.json has it
	but for the log's path, which names the machine that ran it."""
	rows = []
	for r in records:
		row = document.document(r)
		row.pop('log', None)
		rows.append(row)
	return json.dumps(rows, indent=1) + '\n'


def suite_at(revision: str) -> Optional[Dict[str, str]]:
	"""The suite's C files at a run's suite revision ('+': its base
	commit), by path, or None where the revision is unknown."""
	rev = revision.rstrip('+')
	proc = subprocess.run(['git', '-C', suite.REPO, 'ls-tree', '--name-only', rev,
			       f'{sources.SUITE_DIR}/'], capture_output=True, text=True)
	if proc.returncode:
		return None
	found = {}
	for rel in filter(sources.is_source, proc.stdout.split()):
		shown = subprocess.run(['git', '-C', suite.REPO, 'show', f'{rev}:{rel}'],
				       capture_output=True, text=True)
		if shown.returncode:
			return None
		found[rel] = shown.stdout
	return found or None


def render_checks(records: List[RunRecord], source: Dict[str, str],
		  source_of: Callable[[str], Optional[Dict[str, str]]] = suite_at) -> str:
	"""docs/results/checks.md: every check of the suite's files @source
	(path -> text) and the runs that failed it.  A failed check is a line
	of the source the run was built from: only runs of this very source
	count; the others are named apart."""
	sites = coverage.sites(source)
	same = {rev: source_of(rev) == source for rev in {r.suite_revision for r in records}}
	counted = [r for r in records if same[r.suite_revision]]
	runs = [(r.label, [coverage.parse_failed(c) for c in r.failed_checks]) for r in counted]
	revisions = sorted({r.suite_revision for r in counted})
	text = coverage.render(sites, coverage.coverage(sites, runs), ', '.join(revisions))
	others = [r for r in records if not same[r.suite_revision]]
	if others:
		text += ('\nNot counted: ' + str(len(others)) + ' runs built from another suite source ('
			 + ', '.join(sorted({f'`{r.suite_revision}`' for r in others}))
			 + '), whose line numbers are that source\'s: '
			 + ', '.join(r.label for r in others) + '.\n')
	return text


def write(out_dir: str, records: List[RunRecord], with_proof: bool = True) -> None:
	"""matrix.md, matrix.json and checks.md; proof.md too when the runs'
	consoles are at hand (a fresh matrix, not records read back: a merged
	matrix's older runs point at consoles later runs have overwritten)."""
	repo = sources.repo_files()
	source = sources.c_text(repo)
	files = {rel: repo[rel].decode() for rel in sources.in_order(repo)}
	outputs = [('matrix.md', render_markdown(records)),
		   ('matrix.json', render_json(records)),
		   ('checks.md', render_checks(records, files))]
	if with_proof and any(r.log for r in records):
		outputs.append(('proof.md', proof.render(records, source,
							   cases.declared_cases(source))))
	for name, text in outputs:
		tmp = os.path.join(out_dir, name + '.tmp')
		with open(tmp, 'w') as f:
			f.write(text)
		os.replace(tmp, os.path.join(out_dir, name))


DEBUG_LIST_REPORT = re.compile(r'DEBUG_LIST')


def repeat_outcome(rec: RunRecord) -> str:
	"""One repeated run, in a few words: its verdict and how the kernel complained."""
	if not rec.cases:
		return 'no result' + ('' if rec.built else ' (not built)')
	verdict = judge(rec)
	text = verdict.summary()
	lists = [r for r in rec.kernel_reports if DEBUG_LIST_REPORT.search(r)]
	if lists:
		text += '; ' + ', '.join(lists)
	if rec.oops:
		text += f'; oops: {rec.oops}'
	return text


def render_repeat(records: List[RunRecord]) -> str:
	first = records[0]
	verdicts = [judge(r) for r in records]
	no_result = sum(1 for r in records if not r.cases)
	ok = sum(1 for r, v in zip(records, verdicts) if r.cases and v.ok)
	failing = sum(1 for r in records if any(c.status in (Status.FAIL, Status.ERROR)
						for c in r.cases))
	with_list = sum(1 for r in records if any(DEBUG_LIST_REPORT.search(x)
						  for x in r.kernel_reports))
	oopsed = sum(1 for r in records if r.oops)
	out = [f'# Repeated runs: {first.label}'
	       + (f' ({first.profile} profile)' if first.profile != 'default' else ''), '',
	       'Written by `scripts/thp-ds repeat` from the runs below; do not edit.', '',
	       f'- tree: {first.origin} {first.version} (kernel {first.kernel}, port {first.port}), '
	       f'.config sha256 `{first.config_sha256[:12]}`, suite revision '
	       f'`{first.suite_revision}`; built once, then booted {len(records)} times',
	       f'- cases: {first.filter or "all"} ({len(first.selected)} case functions)',
	       f'- runs: {len(records)}; verdict PASS in {ok}, FAIL in '
	       f'{len(records) - ok - no_result}, no result in {no_result}; a case failed or '
	       f'crashed in {failing}; CONFIG_DEBUG_LIST reported list corruption in {with_list}; '
	       f'the guest oopsed in {oopsed}', '',
	       '| # | date (UTC) | seconds | verdict | how it ended |', '|---|---|---|---|---|']
	for i, (r, v) in enumerate(zip(records, verdicts), 1):
		out.append(f'| {i} | {r.date} | {r.seconds} | '
			   f'{"PASS" if v.ok and r.cases else "no result" if not r.cases else "FAIL"} | '
			   f'{repeat_outcome(r)} |')
	return '\n'.join(out) + '\n'
