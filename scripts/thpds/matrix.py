"""The verdict table: every tree x (as shipped, each unpatched variant).

Rendered only from the records of real runs (runner.run_tree writes them);
nothing in the table is typed by hand.
"""

import json
from typing import Dict, List

from thpds import variants

MARK = {'PASS': 'pass', 'SKIP': 'skip', 'FAIL': '**FAIL**', 'ERROR': '**ERROR**'}


def column_verdict(rec: Dict) -> str:
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
	       '| run | package version | kernel | port | .config sha256 | date (UTC) | verdict |',
	       '|---|---|---|---|---|---|---|']
	for col, r in zip(cols, records):
		out.append(f'| {col} | {r["origin"]} {r["version"]} | {r["kernel"]} | {r["port"]} | '
			   f'`{r["config_sha256"][:12]}` | {r["date"]} | {column_verdict(r)} |')
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
	keep = ('tree', 'origin', 'version', 'kernel', 'port', 'variant', 'expect_fail',
		'config_sha256', 'accel', 'date', 'seconds', 'kunit_returncode', 'cases')
	return json.dumps([{k: r[k] for k in keep} for r in records], indent=1) + '\n'
