"""A LAVA job's results, judged as the tool judges its own runs.

LAVA's own test cases (the job's monitor) are for the lab's pages: they
cannot tell a skip from a pass, nor a crash from a missing result.  The
verdict is taken from what the guest printed: the job log's console lines
(lvl "target"), read the way a run of the tool reads kunit.py's test.log:
kunit.py parse turns the KTAP into its JSON, kunit_run.interpret() into the
cases, skips, oops, kernel reports and first failure messages, and the
job's sidecar (jobs.py) supplies the rest of the record.  verdict.judge()
then decides, as for every other run.
"""

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from typing import Dict, Iterable, List, Optional

from thpds import cases, kunit_run
from thpds.verdict import RunRecord


@dataclasses.dataclass
class JobLog:
	console: str			# the guest's console, line by line
	results: List[Dict]		# LAVA's result records (lvl "results")
	finished: bool			# LAVA's job record says it ran to its end
	error: str			# LAVA's error, if the job did not finish


def read_log(lines: Iterable[str]) -> JobLog:
	"""A LAVA job log: one YAML mapping a line, {dt, lvl, msg} (lava-run's
	standard error, or `lavacli jobs logs --raw`)."""
	# Debian's python3-yaml, needed by the LAVA commands only (host.py):
	# imported here, not when the command line starts
	import yaml

	console, results, finished, error = [], [], False, ''
	for line in lines:
		line = line.strip()
		if not line.startswith(('- {', '{')):
			continue
		try:
			entry = yaml.safe_load(line)
		except yaml.YAMLError:
			continue
		if isinstance(entry, list):
			entry = entry[0] if entry else {}
		if not isinstance(entry, dict):
			continue
		lvl, msg = entry.get('lvl'), entry.get('msg')
		if lvl == 'target' and isinstance(msg, str):
			console.append(msg.rstrip('\r'))
		elif lvl == 'results' and isinstance(msg, dict):
			results.append(msg)
			if msg.get('definition') == 'lava' and msg.get('case') == 'job':
				finished = msg.get('result') == 'pass'
				error = str(msg.get('error_msg', ''))
	return JobLog('\n'.join(console) + '\n', results, finished, error)


def kunit_parse(kunit_py: str, console: str) -> Dict:
	"""kunit.py parse over @console: its output and its JSON."""
	with tempfile.TemporaryDirectory() as d:
		log, out = os.path.join(d, 'console.log'), os.path.join(d, 'kunit.json')
		with open(log, 'w') as f:
			f.write(console)
		proc = subprocess.run([sys.executable, kunit_py, 'parse', f'--json={out}', log],
				      capture_output=True, text=True, errors='replace')
		data: Optional[Dict] = None
		if os.path.exists(out):
			with open(out) as f:
				data = json.load(f)
	return {'output': proc.stdout + proc.stderr, 'json': data, 'returncode': proc.returncode}


def record(sidecar: Dict, log: JobLog, seconds: float = 0.0) -> RunRecord:
	"""The run's record: the sidecar's, with what the guest showed."""
	base = RunRecord.from_json(sidecar['record'])
	kunit_py = sidecar['kunit_py']
	parsed = kunit_parse(kunit_py, log.console)
	# the kernel was built before the job was written: kunit.py's marker
	# for a boot that started stands for it
	log_text = f'{kunit_run.STARTED} (LAVA)\n' + parsed['output']
	if not log.finished and 'timed out' in log.error.lower():
		log_text += f'\ntimed out after {sidecar.get("timeout", 0)} seconds\n'
	seen = kunit_run.interpret(log_text, log.console, parsed['json'],
				   cases.tree_declared(sidecar['tree_path']), parsed['returncode'])
	# the build's own (the sidecar has its compiler warnings) is not the job's
	for key in ('oops_excerpt', 'config_lost', 'suite_warnings'):
		seen.pop(key)
	seen['cases'] = tuple(seen['cases'])
	for key in ('teardown_errors', 'kernel_reports', 'failed_checks',
		    'parse_errors', 'unskippable'):
		seen[key] = tuple(seen[key])
	seen['failures'] = tuple(sorted(seen['failures'].items()))
	seen['kunit_returncode'] = seen.pop('returncode')
	return dataclasses.replace(base, seconds=round(seconds, 1), **seen)
