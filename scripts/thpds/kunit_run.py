"""Run the suite with the tree's own kunit.py and read back its JSON.

kunit.py does the configuring, building, booting and KTAP parsing; this
module only chooses its arguments (persistent build directory, ccache,
QEMU with two CPUs) and turns its JSON into per-case results.
"""

import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from typing import Dict, List, Optional

SUITE = 'thp_deferred_split'
SUITE_SOURCE = 'mm/tests/thp_deferred_split_kunit.c'
REPO_SOURCE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
	os.path.abspath(__file__)))), SUITE_SOURCE)
# An oops ends the run at once (the guest reboots, QEMU runs with
# -no-reboot and exits) instead of leaving a half-dead kernel for
# kunit.py's timeout to find.
KERNEL_ARGS = ('oops=panic', 'panic=-1')
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
	oops_path: str = ''	# excerpt of the first oops/panic, when the guest crashed
	suite_warnings: List[str] = dataclasses.field(default_factory=list)


def kunit_command(tree: str, build_dir: str, json_path: str, timeout: int,
		  jobs: int, filter_glob: Optional[str] = None) -> List[str]:
	cmd = [sys.executable, os.path.join(tree, 'tools/testing/kunit/kunit.py'), 'run',
	       '--arch=x86_64', f'--build_dir={build_dir}', '--kunitconfig=mm/tests',
	       '--make_options=CC=ccache gcc', f'--jobs={jobs}',
	       f'--qemu_args={QEMU_ARGS}', f'--timeout={timeout}', f'--json={json_path}']
	cmd += [f'--kernel_args={a}' for a in KERNEL_ARGS]
	if filter_glob:
		cmd.append(filter_glob)
	return cmd


def declared_cases(source: str) -> Dict[str, List[str]]:
	"""Suite name -> its case functions in run order, read from the C source."""
	tables = {m.group(1): re.findall(r'KUNIT_CASE\w*\((\w+)', m.group(2))
		  for m in re.finditer(r'struct kunit_case (\w+)\[\] = \{(.*?)\n\};', source, re.S)}
	suites = {}
	for m in re.finditer(r'struct kunit_suite \w+ = \{(.*?)\n\};', source, re.S):
		name = re.search(r'\.name = "([^"]+)"', m.group(1))
		table = re.search(r'\.test_cases = (\w+)', m.group(1))
		if name and table and table.group(1) in tables:
			suites[name.group(1)] = tables[table.group(1)]
	return suites


def cases_from_json(data: dict, declared: Optional[Dict[str, List[str]]] = None
		    ) -> List[CaseResult]:
	"""Flatten kunit.py's KernelCI-style JSON to 'suite.case[.param]' results.

	When the kernel crashes, kunit.py records the case that was running as
	an unnamed ERROR and knows nothing of the cases after it.  With the
	suite's declared case order, the first case without a result is named
	as the one that crashed (status ERROR) and the rest as NOTRUN.
	"""
	out: List[CaseResult] = []

	def walk(node: dict, prefix: str, missing: List[str]) -> None:
		crashed = False
		for sub in node.get('sub_groups', []) or []:
			walk(sub, f'{prefix}{sub["name"]}.', [])
		for case in node.get('test_cases', []) or []:
			name = case['name']
			if not name:
				if crashed:
					continue	# kunit.py reports one crash twice
				crashed = True
				name = missing.pop(0) if missing else '(crashed)'
			out.append(CaseResult(prefix + name, case.get('status', 'ERROR'),
					      case.get('log', '')))
		for name in missing:
			out.append(CaseResult(prefix + name, 'NOTRUN', ''))

	for suite in data.get('sub_groups', []) or []:
		seen = {sub['name'] for sub in suite.get('sub_groups', []) or []}
		seen |= {c['name'] for c in suite.get('test_cases', []) or [] if c['name']}
		missing = [c for c in (declared or {}).get(suite['name'], []) if c not in seen]
		walk(suite, f'{suite["name"]}.', missing)
	return out


def suite_warnings(log: str) -> List[str]:
	"""Compiler warnings in the suite's own files (seen when they were rebuilt)."""
	return [line.strip() for line in log.splitlines()
		if re.search(r'mm/tests/thp_deferred_split_kunit\.[ch]:\d+:\d+: (warning|error):', line)]


# What ends a kernel: an oops (with oops=panic, a panic follows).  Reports
# the kernel survives, such as "BUG: Bad page state" or a WARN, are not
# crashes; the cases see those through the taint flags.
OOPS_START = re.compile(r'(Oops: |BUG: kernel NULL pointer dereference|BUG: unable to handle|'
			r'general protection fault|kernel BUG at |Kernel panic - not syncing)')


def oops_excerpt(log: str, limit: int = 40) -> str:
	"""The first oops or panic in a console log, up to its call trace's end."""
	lines = log.splitlines()
	for i, line in enumerate(lines):
		if OOPS_START.search(line):
			end = i
			while end < len(lines) and end - i < limit and '</TASK>' not in lines[end]:
				end += 1
			return '\n'.join(lines[i:end + 1]) + '\n'
	return ''


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
	declared = {}
	if os.path.exists(os.path.join(tree, SUITE_SOURCE)):
		with open(os.path.join(tree, SUITE_SOURCE)) as f:
			declared = declared_cases(f.read())
	if os.path.exists(json_path):
		with open(json_path) as f:
			cases = cases_from_json(json.load(f), declared)
	oops_path = os.path.join(out_dir, 'oops.txt')
	with open(log_path) as f:
		log_text = f.read()
	oops = oops_excerpt(log_text)
	warnings = suite_warnings(log_text)
	if oops:
		with open(oops_path, 'w') as f:
			f.write(oops)
	elif os.path.exists(oops_path):
		os.remove(oops_path)
	return RunResult(proc.returncode, cases, log_path, json_path,
			 config_sha256(build_dir), seconds, oops_path if oops else '', warnings)
