"""Run the suite with the tree's own kunit.py and read back its JSON.

kunit.py does the configuring, building, booting and KTAP parsing; this
module only chooses its arguments (persistent build directory, ccache,
QEMU with two CPUs) and turns its JSON into per-case results.
"""

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from typing import Dict, List, Optional

SUITE = 'thp_deferred_split'
# Two CPUs: the lock-discipline case frees on one while holding the lock on the other.
QEMU_ARGS = '-smp 2 -m 2048'

# Newer kunit.py asks QEMU for '-accel kvm -accel hvf -accel tcg'.  KVM
# nested in a VM can fail to emulate an instruction and stop the guest
# ("KVM internal error"), which then hangs until the timeout.  With
# accel='tcg' a shim first in PATH drops every accelerator but TCG, so all
# trees run the same way whatever kunit.py version they carry.
QEMU_TCG_SHIM = """#!/bin/sh
# thp-ds: run {real} with TCG only (see scripts/thpds/kunit_run.py)
n=$#
while [ "$n" -gt 0 ]; do
	a=$1; shift; n=$((n - 1))
	if [ "$a" = -accel ] && [ "$n" -gt 0 ]; then
		b=$1; shift; n=$((n - 1))
		[ "$b" = tcg ] && set -- "$@" -accel tcg
		continue
	fi
	set -- "$@" "$a"
done
exec {real} "$@"
"""


def tcg_shim_dir(cache: str) -> str:
	"""A directory holding the TCG-only qemu-system-x86_64 shim."""
	real = shutil.which('qemu-system-x86_64')
	if real is None:
		raise FileNotFoundError('qemu-system-x86_64 not found (Debian package qemu-system-x86)')
	real = os.path.realpath(real)
	d = os.path.join(cache, 'qemu-tcg')
	os.makedirs(d, exist_ok=True)
	path = os.path.join(d, 'qemu-system-x86_64')
	with open(path, 'w') as f:
		f.write(QEMU_TCG_SHIM.format(real=real))
	os.chmod(path, 0o755)
	return d


@dataclasses.dataclass
class CaseResult:
	name: str
	status: str		# PASS, FAIL, SKIP, ERROR (kunit.py's words)
	log: str


@dataclasses.dataclass
class RunResult:
	returncode: int
	cases: List[CaseResult]
	log_path: str
	json_path: str
	config_sha256: str
	seconds: float

	@property
	def counts(self) -> Dict[str, int]:
		out: Dict[str, int] = {}
		for c in self.cases:
			out[c.status] = out.get(c.status, 0) + 1
		return out


def kunit_command(tree: str, build_dir: str, json_path: str, timeout: int,
		  jobs: int, filter_glob: Optional[str] = None) -> List[str]:
	cmd = [sys.executable, os.path.join(tree, 'tools/testing/kunit/kunit.py'), 'run',
	       '--arch=x86_64', f'--build_dir={build_dir}', '--kunitconfig=mm/tests',
	       '--make_options=CC=ccache gcc', f'--jobs={jobs}',
	       f'--qemu_args={QEMU_ARGS}', f'--timeout={timeout}', f'--json={json_path}']
	if filter_glob:
		cmd.append(filter_glob)
	return cmd


def cases_from_json(data: dict) -> List[CaseResult]:
	"""Flatten kunit.py's KernelCI-style JSON to 'suite.case[.param]' results."""
	out: List[CaseResult] = []

	def walk(node: dict, prefix: str) -> None:
		for sub in node.get('sub_groups', []) or []:
			walk(sub, f'{prefix}{sub["name"]}.')
		for case in node.get('test_cases', []) or []:
			out.append(CaseResult(prefix + case['name'], case.get('status', 'ERROR'),
					      case.get('log', '')))
	walk(data, '')
	return out


def config_sha256(build_dir: str) -> str:
	path = os.path.join(build_dir, '.config')
	if not os.path.exists(path):
		return ''
	with open(path, 'rb') as f:
		return hashlib.sha256(f.read()).hexdigest()


def run(tree: str, build_dir: str, out_dir: str, cache: str, timeout: int = 300,
	filter_glob: Optional[str] = None, jobs: Optional[int] = None,
	accel: str = 'tcg') -> RunResult:
	os.makedirs(out_dir, exist_ok=True)
	os.makedirs(build_dir, exist_ok=True)
	log_path = os.path.join(out_dir, 'kunit.log')
	json_path = os.path.join(out_dir, 'kunit.json')
	if os.path.exists(json_path):
		os.remove(json_path)
	env = dict(os.environ, CCACHE_DIR=os.path.join(cache, 'ccache'))
	if accel == 'tcg':
		env['PATH'] = tcg_shim_dir(cache) + os.pathsep + env.get('PATH', '')
	cmd = kunit_command(tree, build_dir, json_path, timeout, jobs or os.cpu_count() or 1,
			    filter_glob)
	start = time.monotonic()
	with open(log_path, 'w') as log:
		log.write('$ ' + ' '.join(cmd) + '\n')
		log.flush()
		proc = subprocess.Popen(cmd, cwd=tree, env=env, stdout=subprocess.PIPE,
					stderr=subprocess.STDOUT, text=True)
		assert proc.stdout is not None
		for line in proc.stdout:
			sys.stdout.write(line)
			log.write(line)
		proc.wait()
	seconds = time.monotonic() - start
	cases: List[CaseResult] = []
	if os.path.exists(json_path):
		with open(json_path) as f:
			cases = cases_from_json(json.load(f))
	return RunResult(proc.returncode, cases, log_path, json_path,
			 config_sha256(build_dir), seconds)
