"""A LAVA job's results, judged as the tool judges its own runs.

LAVA's own test cases (the job's monitor) are for the lab's pages: they
cannot tell a skip from a pass, nor a crash from a missing result.  The
verdict is taken from what the guest printed: the job log's console lines
(lvl "target"), read the way a run of the tool reads kunit.py's test.log:
kunit.py parse turns the KTAP into its JSON, kunit_run.interpret() into the
cases, skips, oops, kernel reports and first failure messages, and the
job's sidecar (jobs.py) supplies the rest of the record.  verdict.judge()
then decides, as for every other run.  A live run's job boots several
times: each boot's part of the console is read as live.py reads a boot
of its own.
"""

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from typing import Dict, Iterable, List, Optional

from thpds import cases, console, kunit_run, live
from thpds.verdict import RunRecord


@dataclasses.dataclass
class JobLog:
	console: str			# the guest's console, line by line
	results: List[Dict]		# LAVA's result records (lvl "results")
	finished: bool			# LAVA's job record says it ran to its end
	error: str			# LAVA's error, if the job did not finish

	@property
	def timed_out(self) -> bool:
		"""LAVA stopped the job at its bound."""
		return not self.finished and 'timed out' in self.error.lower()


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


def live_boots(names: List[str], log: JobLog) -> List[live.BootOutput]:
	"""The live boots of a job (named @names, in order), each from its part
	of the job's console."""
	parts = live.split_boots(log.console)
	found = []
	for i, name in enumerate(names):
		text = parts[i] if i < len(parts) else ''
		b = live.parse_console(name, text, log.timed_out and i >= len(parts) - 1)
		found.append(dataclasses.replace(b, console=text))
	return found


def record(sidecar: Dict, log: JobLog, seconds: float = 0.0) -> RunRecord:
	"""The run's record: the sidecar's, with what the guest showed."""
	base = RunRecord.from_json(sidecar['record'])
	kunit_py = sidecar['kunit_py']
	declared = cases.tree_declared(sidecar['tree_path'])
	boots = live_boots(sidecar['live_boots'], log) if sidecar.get('live_boots') else []
	ktap = log.console
	if boots:
		# a live run's results, as live.read_back() reads them
		ktap = live.merge(live.first_run(boots, declared))
	parsed = kunit_parse(kunit_py, ktap)
	# the kernel was built before the job was written: kunit.py's marker
	# for a boot that started stands for it
	log_text = f'{kunit_run.STARTED} (LAVA)\n' + parsed['output']
	if log.timed_out:
		log_text += f'\ntimed out after {sidecar.get("timeout", 0)} seconds\n'
	seen = kunit_run.interpret(log_text, ktap, parsed['json'], declared, parsed['returncode'])
	if boots:
		# the kernel's complaints from its log (init printed it whole), or
		# from the console where init did not get that far
		kernel = ''.join(b.kernel_log or b.console for b in boots)
		seen.update(oops=console.oops_summary(console.oops_excerpt(log.console)),
			    kernel_reports=console.kernel_reports(kernel),
			    teardown_errors=console.teardown_errors(kernel),
			    live_errors=live.problems(boots))
	# the build's own (the sidecar has its compiler warnings) is not the job's
	for key in ('oops_excerpt', 'config_lost', 'suite_warnings'):
		seen.pop(key)
	seen['cases'] = tuple(seen['cases'])
	for key in ('teardown_errors', 'kernel_reports', 'failed_checks',
		    'parse_errors', 'unskippable'):
		seen[key] = tuple(seen[key])
	seen['live_errors'] = tuple(seen.get('live_errors', ()))
	seen['failures'] = tuple(sorted(seen['failures'].items()))
	seen['kunit_returncode'] = seen.pop('returncode')
	return dataclasses.replace(base, seconds=round(seconds, 1), **seen)
