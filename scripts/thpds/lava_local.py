"""The jobs thp-ds jobs wrote, run on this machine by LAVA's own dispatcher.

lava-run (Debian's lava-dispatcher) executes one job against one device
configuration, with no server: the device is LAVA's `qemu` device type,
rendered from lava-server's own template (qemu.jinja2) with the job's
context, as lava-server renders it for a worker.  Its log (standard
error: one YAML mapping a line) is read back by lava_results.py and judged
by verdict.judge().  This is LAVA's dispatcher, not a job runner of the
tool's: it runs the jobs one after another, as one worker would.
"""

import dataclasses
import fnmatch
import json
import os
import subprocess
import time
from typing import List

from thpds import lava, lava_lab, lava_results
from thpds.errors import InfraError, UsageError
from thpds.verdict import RunRecord

# Where lava-server keeps device-type templates: the admin's, then the
# package's (lava_server/settings/common.py).
DEVICE_TYPES = ('/etc/lava-server/dispatcher-config/device-types',
		'/usr/share/lava-server/device-types')
# One qemu device, as the lab declares each of its own (lava_lab.py).
DEVICE_DICT = lava_lab.DEVICE_DICT.format(mac=0x40)
RENDER = """
import json, sys
from jinja2 import ChoiceLoader, DictLoader, FileSystemLoader
from jinja2.sandbox import SandboxedEnvironment
paths, device, context = json.load(sys.stdin)
env = SandboxedEnvironment(loader=ChoiceLoader([DictLoader({'device.jinja2': device}),
						FileSystemLoader(paths)]),
			   autoescape=False, trim_blocks=True)
sys.stdout.write(env.get_template('device.jinja2').render(**context))
"""


def render_device(job: dict) -> str:
	"""The device configuration lava-run needs for @job: lava-server's qemu
	template rendered with the job's context."""
	if not any(os.path.isfile(os.path.join(p, 'qemu.jinja2')) for p in DEVICE_TYPES):
		raise UsageError('no qemu.jinja2 in ' + ' or '.join(DEVICE_TYPES) + ': install '
				 "lava-server (its device-type templates), or run with --install-deps")
	proc = subprocess.run([lava.LAVA_PYTHON, '-c', RENDER],
			      input=json.dumps([list(DEVICE_TYPES), DEVICE_DICT, job.get('context', {})]),
			      capture_output=True, text=True)
	if proc.returncode != 0:
		raise InfraError('cannot render the qemu device: '
				 f'{proc.stderr.strip().splitlines()[-1:]}')
	return proc.stdout


@dataclasses.dataclass
class Ran:
	name: str
	record: RunRecord
	log: str
	seconds: float


def index(out: str, match: str = '*') -> List[dict]:
	path = os.path.join(out, 'jobs', 'index.json')
	if not os.path.exists(path):
		raise UsageError(f'{path}: no jobs written there (thp-ds jobs --out {out})')
	with open(path) as f:
		entries = json.load(f)
	chosen = [e for e in entries if fnmatch.fnmatchcase(e['job'], match)]
	if not chosen:
		raise UsageError(f'no job of {path} matches {match!r}')
	return chosen


def run_one(out: str, entry: dict, job_id: int) -> Ran:
	"""Run one job with lava-run; its record, judged from its log."""
	if os.geteuid() != 0:
		raise UsageError("lava-run (LAVA's dispatcher) runs only as root")
	import yaml	# python3-yaml, as in lava_results.read_log()

	with open(os.path.join(out, entry['definition'])) as f:
		job = yaml.safe_load(f)
	with open(os.path.join(out, entry['sidecar'])) as f:
		sidecar = json.load(f)
	work = os.path.join(out, 'lava-run', entry['job'])
	os.makedirs(work, exist_ok=True)
	device = os.path.join(work, 'device.yaml')
	with open(device, 'w') as f:
		f.write(render_device(job))
	log_path = os.path.join(work, 'lava.log')
	start = time.monotonic()
	with open(log_path, 'w') as log:
		proc = subprocess.run(['lava-run', '--job-id', str(job_id), '--output-dir',
				       os.path.join(work, 'output'), '--device', device,
				       os.path.join(out, entry['definition'])],
				      stdout=subprocess.DEVNULL, stderr=log)
	seconds = time.monotonic() - start
	with open(log_path) as f:
		read = lava_results.read_log(f)
	if not read.console.strip():
		raise InfraError(f'{entry["job"]}: lava-run (exit {proc.returncode}) booted nothing; '
				 f'log {log_path}')
	rec = lava_results.record(sidecar, read, seconds)
	return Ran(entry['job'], dataclasses.replace(rec, log=log_path), log_path, seconds)
