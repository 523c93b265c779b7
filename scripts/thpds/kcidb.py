"""KCIDB JSON (KernelCI's common results database) of recorded runs.

KCIDB I/O schema version 5.3 (kernelci/kcidb-io, kcidb_io/schema/v05_03):
one document of checkouts -> builds -> tests, every id prefixed by its
origin ("thp_ds:").  A run of the tool is a build (its tree, target,
profile, variant, added options and .config) of a checkout (the tree's
exact version); each case's result is a test of that build, with the
status kunit.py gave it (NOTRUN is KCIDB's MISS), and the run's verdict
as one more test, "thp_ds", whose status is the verdict's.  What the tool
judged of each case against the run's declarations goes in misc: a FAIL a
variant declares is a failure the run needed.  This cannot be submitted
from here (kcidb-submit needs KernelCI's credentials); its shape is tested
against what the schema requires (scripts/tests/test_kcidb.py).
"""

import hashlib
import json
import re
from typing import Dict, Iterable, List

from thpds import document
from thpds.verdict import RunRecord, Status, judge

ORIGIN = 'thp_ds'
VERSION = {'major': 5, 'minor': 3}
STATUS = {Status.PASS: 'PASS', Status.FAIL: 'FAIL', Status.SKIP: 'SKIP',
	  Status.ERROR: 'ERROR', Status.NOTRUN: 'MISS'}


def _id(*parts: str) -> str:
	text = '-'.join(p for p in parts if p)
	return f'{ORIGIN}:{re.sub(r"[^A-Za-z0-9._+~-]+", "_", text)}'


def _time(rec: RunRecord) -> str:
	return (rec.date.replace('Z', '+00:00') if rec.date else '1970-01-01T00:00:00+00:00')


def build_id(rec: RunRecord) -> str:
	"""Readable, and unique to the run: the digest of its whole record
	(two runs of one kernel are two builds' worth of results)."""
	digest = hashlib.sha256(json.dumps(rec.to_json(), sort_keys=True).encode()).hexdigest()
	return _id(rec.tree, rec.version, rec.arch, rec.profile, rec.variant, digest[:12])


def export(records: Iterable[RunRecord]) -> Dict:
	checkouts: Dict[str, Dict] = {}
	builds: List[Dict] = []
	tests: List[Dict] = []
	for rec in records:
		verdict = judge(rec)
		checkout = _id(rec.tree, rec.version)
		checkouts.setdefault(checkout, {
			'id': checkout, 'origin': ORIGIN, 'tree_name': f'debian {rec.tree}'
			if rec.debian_suite else 'user', 'start_time': _time(rec), 'valid': True,
			'misc': {'package': rec.origin, 'version': rec.version,
				 'debian_suite': rec.debian_suite, 'kernel': rec.kernel}})
		build = build_id(rec)
		builds.append({
			'id': build, 'origin': ORIGIN, 'checkout_id': checkout,
			'start_time': _time(rec), 'architecture': rec.arch.split('-')[0],
			'compiler': 'gcc', 'config_name': 'mm/tests/.kunitconfig' + ''.join(
				f' +{o}' for o in rec.kconfig_add),
			'status': 'PASS' if rec.built else 'FAIL',
			'misc': {'target': rec.arch, 'profile': rec.profile, 'variant': rec.variant,
				 'port': rec.port, 'boot': ' '.join(rec.boot),
				 'config_sha256': rec.config_sha256,
				 'suite_revision': rec.suite_revision}})
		doc = document.verdict_json(rec, verdict)
		word = doc['result']
		tests.append({
			'id': _id(build[len(ORIGIN) + 1:], 'verdict'), 'origin': ORIGIN,
			'build_id': build, 'path': 'thp_ds', 'start_time': _time(rec),
			'duration': rec.seconds, 'status': {'PASS': 'PASS', 'FAIL': 'FAIL'}.get(
				word, 'ERROR'),
			'environment': {'comment': f'QEMU {rec.arch}, TCG'},
			'misc': {'summary': doc['summary'], 'reasons': doc['reasons'],
				 'judged_as': doc['judged_as'],
				 'missing_fixes': [f['fix'] for f in doc['missing_fixes']]}})
		for case in doc['cases']:
			tests.append({
				'id': _id(build[len(ORIGIN) + 1:], case['name']), 'origin': ORIGIN,
				'build_id': build, 'path': 'kunit.' + re.sub(r'[^A-Za-z0-9_.]+', '_',
									  case['name']),
				'start_time': _time(rec), 'status': STATUS[Status(case['status'])],
				'environment': {'comment': f'QEMU {rec.arch}, TCG'},
				'misc': {k: case[k] for k in ('outcome', 'why', 'reason', 'message',
							      'missing_fix') if case.get(k)}})
	return {'version': dict(VERSION), 'checkouts': list(checkouts.values()), 'builds': builds,
		'tests': tests}
