"""A run's machine-readable result: its record, its verdict and why.

One JSON document per run, the same wherever it is written: result.json
beside the run's logs, `run --json FILE`, each element of matrix.json.  It
is the RunRecord (what ran and how it ended, RunRecord.to_json()) with the
verdict judge() gives it, each case's outcome, the first message of each
failed case, and the known fix a failure points to.  Nothing in it is
decided here: the verdict and the diagnosis come from verdict.py and
diagnose.py, as the printed report's do.

The format is versioned (SCHEMA) and described by a JSON Schema,
docs/schema/result.schema.json (docs/json.md); a reader should check
"schema" before anything else.  A change that removes or retypes a field
takes a new version; adding a field does not.
"""

import json
import os
from typing import Dict, List, Optional, Tuple

from thpds import diagnose, suite
from thpds.verdict import RunRecord, Status, Verdict, judge

SCHEMA = 'thp-ds-result/1'
SCHEMA_FILE = os.path.join(suite.REPO, 'docs', 'schema', 'result.schema.json')


def result_word(verdict: Verdict) -> str:
	"""PASS, FAIL, or NO-VERDICT where the infrastructure failed."""
	if verdict.infrastructure:
		return 'NO-VERDICT'
	return 'PASS' if verdict.ok else 'FAIL'


def judged_as(verdict: Verdict) -> str:
	"""Against what the run was judged: an unpatched variant's declared
	failures, the tree's declared exposures, or every case must pass."""
	if verdict.exposure:
		return 'exposures'
	return 'variant' if verdict.variant else 'all-pass'


def _findings(rec: RunRecord) -> Tuple[List[diagnose.Finding], List[str]]:
	"""The known fixes @rec's failures point to, and the failed cases none
	explains.  Only for a tree as shipped or backported: an unpatched
	variant's failures are the bug the variant put back, not a fix the
	tree lacks."""
	if rec.variant not in ('shipped', 'backported'):
		return [], []
	return diagnose.findings(rec)


def verdict_json(rec: RunRecord, verdict: Optional[Verdict] = None) -> Dict:
	verdict = verdict or judge(rec)
	found, unexplained = _findings(rec)
	fixes = {case: f for f in found for case in f.cases}
	reasons = {c.name: c.reason for c in rec.cases}
	messages = dict(rec.failures)
	cases: List[Dict] = []
	for j in verdict.judgements:
		case = {'name': j.name, 'status': j.status.value, 'outcome': j.outcome.value,
			'why': j.why, 'reason': reasons.get(j.name, '')}
		if j.status in (Status.FAIL, Status.ERROR):
			case['message'] = messages.get(j.name, '')
			fix = fixes.get(diagnose.function(j.name))
			if fix:
				case['missing_fix'] = fix.fix
		cases.append(case)
	passed, failed, skipped = verdict.tally()
	return {
		'result': result_word(verdict),
		'exit_status': verdict.exit_code,
		'summary': verdict.summary(),
		'judged_as': judged_as(verdict),
		'reasons': list(verdict.reasons),
		'passed': passed, 'failed': failed, 'skipped': skipped,
		'cases': cases,
		'diagnosis': diagnose.diagnose(rec),
		'missing_fixes': [{'fix': f.fix, 'cases': list(f.cases), 'backport': f.backport,
				   'closing': f.closing} for f in found],
		'unexplained': unexplained,
	}


def document(rec: RunRecord, verdict: Optional[Verdict] = None) -> Dict:
	"""The versioned result document of one run."""
	out = {'schema': SCHEMA}
	out.update(rec.to_json())
	out['target'] = rec.arch
	out['verdict'] = verdict_json(rec, verdict)
	return out


def write(path: str, docs) -> None:
	"""Write one document (a dict) or several (a list) to @path atomically."""
	directory = os.path.dirname(os.path.abspath(path))
	os.makedirs(directory, exist_ok=True)
	tmp = path + '.tmp'
	with open(tmp, 'w') as f:
		json.dump(docs, f, indent=1)
		f.write('\n')
	os.replace(tmp, path)


def load(path: str) -> List[RunRecord]:
	"""The runs in a result document, a list of them (matrix.json), or a
	directory of runs (every result.json under it)."""
	if os.path.isdir(path):
		found = []
		for dirpath, dirs, names in os.walk(path):
			dirs.sort()
			if 'result.json' in names:
				found += load(os.path.join(dirpath, 'result.json'))
		return found
	with open(path) as f:
		data = json.load(f)
	rows = data if isinstance(data, list) else [data]
	return [RunRecord.from_json(row) for row in rows]
