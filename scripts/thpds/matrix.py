"""The verdict table: every tree x (as shipped, each unpatched variant).

Rendered only from the records of real runs (runner.run_tree writes them);
nothing in the table is typed by hand.
"""

import json
import re
from typing import Dict, List

from thpds import variants

MARK = {'PASS': 'pass', 'SKIP': 'skip', 'FAIL': '**FAIL**', 'ERROR': '**ERROR**'}


def column_verdict(rec: Dict) -> str:
	crash = f'; guest crashed: {rec["oops"]}' if rec.get('oops') else ''
	return _verdict(rec) + crash


def _verdict(rec: Dict) -> str:
	if not rec['cases']:
		return 'no result (build error, crash or timeout)'
	if rec['variant'] == variants.SHIPPED:
		bad = [n for n, s in rec['cases'].items() if s not in ('PASS', 'SKIP')]
		return 'all pass' if not bad and rec['kunit_returncode'] == 0 else f'{len(bad)} failing'
	v = variants.judge(rec['expect_fail'], rec['cases'])
	if v.ok:
		return f'caught as declared ({len(v.caught)} cases)'
	return (f'NOT as declared: {len(v.missed)} missed, '
		f'{len(v.collateral)} unexpected')


def render_markdown(records: List[Dict]) -> str:
	cols = [f'{r["tree"]} {r["variant"]}' for r in records]
	cases: List[str] = []
	for r in records:
		cases += [c for c in r['cases'] if c not in cases]
	out = ['# Verdict matrix', '',
	       'Written by `scripts/thp-ds matrix` from the runs below; do not edit.',
	       'A cell in bold failed; `(expected)` marks a failure the variant declares.', '',
	       '| run | package version | kernel | port | suite | .config sha256 | date (UTC) | verdict |',
	       '|---|---|---|---|---|---|---|---|']
	for col, r in zip(cols, records):
		out.append(f'| {col} | {r["origin"]} {r["version"]} | {r["kernel"]} | {r["port"]} | '
			   f'`{r.get("suite_revision", "?")}` | `{r["config_sha256"][:12]}` | '
			   f'{r["date"]} | {column_verdict(r)} |')
	out += ['', '| case | ' + ' | '.join(cols) + ' |',
		'|---|' + '---|' * len(cols)]
	for case in cases:
		cells = []
		for r in records:
			status = r['cases'].get(case)
			cell = MARK.get(status, status or '—')
			if status in ('FAIL', 'ERROR') and case in r['expect_fail']:
				cell += ' (expected)'
			elif case in r['expect_fail']:
				cell += ' (MISSED)'
			cells.append(cell)
		short = case.split('.', 1)[1] if '.' in case else case
		out.append(f'| {short} | ' + ' | '.join(cells) + ' |')
	return '\n'.join(out) + '\n'


def render_json(records: List[Dict]) -> str:
	keep = ('tree', 'origin', 'version', 'kernel', 'port', 'variant', 'suite_revision', 'expect_fail',
		'config_sha256', 'accel', 'date', 'seconds', 'kunit_returncode', 'cases', 'oops')
	return json.dumps([{k: r.get(k) for k in keep} for r in records], indent=1) + '\n'


DEBUG_LIST_REPORT = re.compile(r'list_(add|del) corruption')


def classify_repeat(rec: Dict, log_text: str, cases: List[str]) -> Dict:
	"""One run of a repeated case: its status and how the kernel complained."""
	statuses = {c: rec['cases'].get(c, 'NOTRUN') for c in cases}
	return {
		'date': rec['date'], 'statuses': statuses,
		'failed': any(s in ('FAIL', 'ERROR') for s in statuses.values()),
		'debug_list_reports': len(DEBUG_LIST_REPORT.findall(log_text)),
		'oops': rec.get('oops', ''),
	}


def render_repeat(rec: Dict, runs: List[Dict], cases: List[str]) -> str:
	caught = sum(1 for r in runs if r['failed'])
	with_list = sum(1 for r in runs if r['debug_list_reports'])
	oopsed = sum(1 for r in runs if r['oops'])
	out = [f'# Repeated runs: {rec["tree"]} {rec["variant"]}', '',
	       'Written by `scripts/thp-ds repeat` from the runs below; do not edit.', '',
	       f'- tree: {rec["origin"]} {rec["version"]} (kernel {rec["kernel"]}, port {rec["port"]}), '
	       f'.config sha256 `{rec["config_sha256"][:12]}`, suite revision '
	       f'`{rec.get("suite_revision", "?")}`',
	       f'- cases: {", ".join(cases)}',
	       f'- runs: {len(runs)}; a case failed in {caught}; CONFIG_DEBUG_LIST reported list '
	       f'corruption in {with_list}; the guest oopsed in {oopsed}', '',
	       '| # | date (UTC) | status | DEBUG_LIST reports | oops |', '|---|---|---|---|---|']
	for i, r in enumerate(runs, 1):
		status = ', '.join(sorted(set(r['statuses'].values())))
		out.append(f'| {i} | {r["date"]} | {status} | {r["debug_list_reports"]} | '
			   f'{r["oops"] or "—"} |')
	return '\n'.join(out) + '\n'
