"""Recorded kunit.py runs (scripts/tests/data/runs/<name>/) as the tool reads them.

Each directory holds what one real run left: kunit.py's output (kunit.log),
its JSON (kunit.json, absent when it wrote none), the guest's raw console
(console.log, absent in the oldest recordings), the suite's case tables at
the time (declared.json) and about.json (what was run, kunit.py's exit
status, the variant's declaration if any).
"""

import json
import os
from typing import Dict, Optional, Tuple

from thpds import cases, kunit_run, runner
from thpds.verdict import Expectation, RunRecord

DATA = os.path.join(os.path.dirname(__file__), 'data', 'runs')


def _read(d: str, name: str) -> Optional[str]:
	path = os.path.join(d, name)
	if not os.path.exists(path):
		return None
	with open(path) as f:
		return f.read()


def about(name: str) -> Dict:
	with open(os.path.join(DATA, name, 'about.json')) as f:
		return json.load(f)


def load(name: str, expect: Optional[Expectation] = None, filter_glob: Optional[str] = '',
	 **meta) -> Tuple[kunit_run.RunOutput, RunRecord]:
	"""The recording as a RunOutput and a RunRecord; @expect defaults to the
	variant's declaration in about.json, @filter_glob to the recorded one."""
	d = os.path.join(DATA, name)
	info = about(name)
	log = _read(d, 'kunit.log') or ''
	console = _read(d, 'console.log')
	raw_json = _read(d, 'kunit.json')
	declared = json.loads(_read(d, 'declared.json'))
	seen = kunit_run.interpret(log, console if console is not None else log,
				   json.loads(raw_json) if raw_json else None, declared,
				   info.get('returncode', 0))
	seen.pop('oops_excerpt')
	out = kunit_run.RunOutput(log_path=os.path.join(d, 'kunit.log'), console_path='',
				  json_path='', config_sha256='', seconds=1.0, **seen)
	if expect is None:
		expect = Expectation(frozenset(info.get('expect_fail', ())),
				     frozenset(info.get('may_crash', ())),
				     may_fail=frozenset(info.get('may_fail', ())))
	glob = info.get('filter') if filter_glob == '' else filter_glob
	fields = dict(tree='6.12', origin='linux-source-6.12', version='6.12.117-1~deb12u1',
		      kernel='6.12.117', port='6.12', variant=info.get('variant', 'shipped'),
		      filter=glob or '')
	fields.update(meta)
	return out, runner.make_record(out, cases.select(declared, glob), expect, **fields)
