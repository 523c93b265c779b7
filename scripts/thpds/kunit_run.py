"""Run the suite with the tree's own kunit.py and read back what it reported.

kunit.py does the configuring, building, booting and KTAP parsing; this
module only chooses its arguments (persistent build directory, ccache,
QEMU with two CPUs, TCG) and turns its JSON, plus what the guest printed
(console.py), into a RunOutput.  Judging that output is verdict.py's job.
"""

import dataclasses
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence, Set, TextIO

from thpds import console, coverage, kconfig_check, progress
from thpds.cases import tree_declared
from thpds.target import DEFAULT as DEFAULT_TARGET, Target
from thpds.verdict import Case, Status

# An oops ends the run at once (the guest reboots, QEMU runs with
# -no-reboot and exits) instead of leaving a half-dead kernel for
# kunit.py's timeout to find.
KERNEL_ARGS = ('oops=panic', 'panic=-1',
	       # kunit.py loses its way when an unrelated kernel message lands
	       # between a "KTAP version 1" line and its "# Subtest:" (seen: the
	       # PS/2 mouse probe, and the TSC's late calibration and
	       # clocksource switch, all asynchronous, printed during the suite).
	       # No PS/2 mouse, and no TSC clocksource to calibrate or watch:
	       # the guest keeps time with the HPET or the ACPI PM timer.
	       'i8042.noaux', 'tsc=unstable')

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

# kunit.py's words for the stages it reached, and for KTAP it could not follow.
STARTED = 'Starting KUnit Kernel'
TIMED_OUT = re.compile(r'timed out after \d+ seconds')
PARSE_ERROR = re.compile(r'\[ERROR\] Test: .*(Expected test number \d+ but found \d+|'
			 r'No more test results)')


def tcg_shim_dir(cache: str, target: Target = DEFAULT_TARGET) -> str:
	"""A directory holding a TCG-only shim of @target's QEMU."""
	binary = target.qemu_binary
	real = shutil.which(binary)
	if real is None:
		raise FileNotFoundError(f'{binary} not found (Debian package {target.qemu_package})')
	real = os.path.realpath(real)
	d = os.path.join(cache, 'qemu-tcg')
	os.makedirs(d, exist_ok=True)
	path = os.path.join(d, binary)
	text = QEMU_TCG_SHIM.format(real=real)
	if not os.path.exists(path) or open(path).read() != text:
		tmp = path + '.tmp'
		with open(tmp, 'w') as f:
			f.write(text)
		os.chmod(tmp, 0o755)
		os.replace(tmp, path)
	return d


@dataclasses.dataclass
class RunOutput:
	"""What one kunit.py invocation produced."""
	returncode: int
	built: bool
	timed_out: bool
	cases: List[Case]
	log_path: str			# kunit.py's own output
	console_path: str		# the guest's raw console (kunit.py's test.log)
	json_path: str
	config_sha256: str
	seconds: float
	oops: str = ''			# one-line summary of the first oops
	oops_path: str = ''		# its excerpt
	suite_warnings: List[str] = dataclasses.field(default_factory=list)
	teardown_errors: List[str] = dataclasses.field(default_factory=list)
	kernel_reports: List[str] = dataclasses.field(default_factory=list)
	failed_checks: List[str] = dataclasses.field(default_factory=list)
	parse_errors: List[str] = dataclasses.field(default_factory=list)
	live_errors: List[str] = dataclasses.field(default_factory=list)	# live.problems()
	unskippable: List[str] = dataclasses.field(default_factory=list)
	config_lost: List[str] = dataclasses.field(default_factory=list)	# not built: see kconfig_check
	# each failed result's first message (console.first_failures)
	failures: Dict[str, str] = dataclasses.field(default_factory=dict)


def kunit_command(tree: str, build_dir: str, json_path: str, timeout: int, jobs: int,
		  filter_glob: Optional[str] = None, mode: str = 'run',
		  kconfig_add: Sequence[str] = (), target: Target = DEFAULT_TARGET,
		  boot: Sequence[str] = ()) -> List[str]:
	"""kunit.py run (configure, build, boot), exec (boot what is built) or
	build (configure and build only); @boot: kernel command-line options
	after the tool's own."""
	cmd = [sys.executable, os.path.join(tree, 'tools/testing/kunit/kunit.py'), mode,
	       *target.kunit_args(), f'--build_dir={build_dir}', '--kunitconfig=mm/tests']
	cmd += [f'--kconfig_add={opt}' for opt in (*target.kconfig(), *kconfig_add)]
	if mode in ('run', 'build'):
		cmd += [f'--make_options=CC=ccache {target.cross_compile}gcc', f'--jobs={jobs}']
	if mode == 'build':
		return cmd
	cmd += [f'--qemu_args={target.qemu_args()}', f'--timeout={timeout}',
		f'--json={json_path}']
	cmd += [f'--kernel_args={a}' for a in (*KERNEL_ARGS, *boot)]
	if filter_glob:
		cmd.append(filter_glob)
	return cmd


def cases_from_json(data: dict, declared: Optional[Dict[str, List[str]]] = None,
		    finished: Optional[Set[str]] = None) -> List[Case]:
	"""Flatten kunit.py's JSON to 'suite.case[.param]' results.

	When the kernel dies, kunit.py records one unnamed ERROR per result it
	is missing and knows nothing of the cases after the crash.  The crash
	belongs to the case that was running: a parameterised case whose own
	KTAP result line never came (@finished: the names that have one, from
	console.ktap_results()), or else the suite's first declared case without
	a result.  The declared cases after it are NOTRUN.
	"""
	out: List[Case] = []
	for suite in data.get('sub_groups', []) or []:
		sname = suite['name']
		groups = suite.get('sub_groups', []) or []
		named = [c for c in suite.get('test_cases', []) or [] if c['name']]
		stopped = any(not c['name'] for c in suite.get('test_cases', []) or []) or \
			any(not p['name'] for g in groups for p in g.get('test_cases', []) or [])
		crashed_in = ''
		for group in groups:
			params = [p for p in group.get('test_cases', []) or [] if p['name']]
			for p in params:
				out.append(Case(f'{sname}.{group["name"]}.{p["name"]}',
						Status(p.get('status', 'ERROR'))))
			if stopped and not crashed_in and finished is not None and \
			   f'{sname}.{group["name"]}' not in finished:
				crashed_in = group['name']
				after = f" after parameter '{params[-1]['name']}'" if params else ''
				out.append(Case(f'{sname}.{crashed_in}', Status.ERROR,
						f'the guest stopped in this case{after}'))
		for c in named:
			out.append(Case(f'{sname}.{c["name"]}', Status(c.get('status', 'ERROR'))))
		seen = {g['name'] for g in groups} | {c['name'] for c in named}
		missing = [c for c in (declared or {}).get(sname, []) if c not in seen]
		if stopped and not crashed_in:
			name = missing.pop(0) if missing else '(unknown case)'
			out.append(Case(f'{sname}.{name}', Status.ERROR, 'the guest stopped in this case'))
		for name in missing:
			out.append(Case(f'{sname}.{name}', Status.NOTRUN,
					'no result: the guest stopped before it'))
	return out


def with_skip_reasons(cases: List[Case], reasons: Dict[str, str]) -> List[Case]:
	return [dataclasses.replace(c, reason=reasons.get(c.name, c.reason))
		if c.status == Status.SKIP else c for c in cases]


def with_unskippable_skips(cases: List[Case], reasons: Dict[str, str]) -> List[Case]:
	"""A failure that only says the case would skip (a KUnit that cannot
	skip) is a SKIP with that reason; the port's may-skip then judges it."""
	return [dataclasses.replace(c, status=Status.SKIP, reason=reasons[c.name])
		if c.status == Status.FAIL and c.name in reasons else c for c in cases]


def suite_warnings(log: str) -> List[str]:
	"""Compiler warnings in the suite's own files (seen when they were rebuilt)."""
	return [line.strip() for line in log.splitlines()
		if re.search(r'mm/tests/thp_deferred_split\w*\.[ch]:\d+:\d+: (warning|error):', line)]


def config_sha256(build_dir: str) -> str:
	path = os.path.join(build_dir, '.config')
	if not os.path.exists(path):
		return ''
	with open(path, 'rb') as f:
		return hashlib.sha256(f.read()).hexdigest()


def interpret(log_text: str, console_text: str, json_data: Optional[dict],
	      declared: Dict[str, List[str]], returncode: int) -> dict:
	"""What a run showed, from kunit.py's output, the guest's console and
	kunit.py's JSON (None when it wrote none): RunOutput's fields."""
	results = console.ktap_results(console_text)
	cases: List[Case] = []
	if json_data is not None:
		cases = cases_from_json(json_data, declared, set(results) if results else None)
	cases = with_skip_reasons(cases, {name: reason for name, (_, reason) in results.items()
					  if reason is not None})
	unskippable = console.unskippable_skips(console_text)
	cases = with_unskippable_skips(cases, unskippable)
	excerpt = console.oops_excerpt(console_text)
	return dict(returncode=returncode, built=STARTED in log_text,
		    timed_out=bool(TIMED_OUT.search(log_text)), cases=cases,
		    oops=console.oops_summary(excerpt), oops_excerpt=excerpt,
		    unskippable=sorted(c.name for c in cases
				       if c.status == Status.SKIP and c.name in unskippable),
		    config_lost=kconfig_check.lost_options(log_text),
		    suite_warnings=suite_warnings(log_text),
		    teardown_errors=console.teardown_errors(console_text),
		    kernel_reports=console.kernel_reports(console_text),
		    parse_errors=[console.strip_timestamp(line).strip() for line in log_text.splitlines()
				  if PARSE_ERROR.search(line)]
				 + console.hidden_skips(console_text, results),
		    failed_checks=[f'{case}:{name}:{line}' for case, name, line in
				   coverage.failed_lines(console_text)],
		    failures=console.first_failures(console_text))


def read_output(tree: str, build_dir: str, out_dir: str, returncode: int,
		seconds: float) -> RunOutput:
	"""Collect what kunit.py left in out_dir and build_dir after a run."""
	log_path = os.path.join(out_dir, 'kunit.log')
	json_path = os.path.join(out_dir, 'kunit.json')
	console_path = os.path.join(out_dir, 'console.log')
	with open(log_path, errors='replace') as f:
		log_text = f.read()
	console_text = ''
	if STARTED in log_text and os.path.exists(os.path.join(build_dir, 'test.log')):
		shutil.copyfile(os.path.join(build_dir, 'test.log'), console_path)
		with open(console_path, errors='replace') as f:
			console_text = f.read()
	seen = interpret(log_text, console_text, read_json(json_path), tree_declared(tree),
			 returncode)
	oops_path = write_oops(out_dir, seen.pop('oops_excerpt'))
	return RunOutput(log_path=log_path, console_path=console_path if console_text else '',
			 json_path=json_path, config_sha256=config_sha256(build_dir),
			 seconds=seconds, oops_path=oops_path, **seen)


def read_json(path: str) -> Optional[dict]:
	"""kunit.py's JSON, or None where it wrote none."""
	if not os.path.exists(path):
		return None
	with open(path) as f:
		return json.load(f)


def write_oops(out_dir: str, excerpt: str) -> str:
	"""Keep the oops excerpt as oops.txt in @out_dir (none left from an earlier
	run when there is no oops); its path, or ''."""
	oops_path = os.path.join(out_dir, 'oops.txt')
	if excerpt:
		with open(oops_path, 'w') as f:
			f.write(excerpt)
		return oops_path
	if os.path.exists(oops_path):
		os.remove(oops_path)
	return ''


def stop_group(proc: subprocess.Popen, grace: float = 5.0) -> None:
	"""Stop @proc's whole process group (kunit.py, make, QEMU), if anything is left."""
	for sig in (signal.SIGTERM, signal.SIGKILL):
		try:
			os.killpg(proc.pid, sig)
		except ProcessLookupError:
			break
		try:
			proc.wait(timeout=grace)
			os.killpg(proc.pid, 0)	# raises when the group is gone
		except ProcessLookupError:
			break
		except subprocess.TimeoutExpired:
			continue
		time.sleep(0.2)
	proc.wait()


def run(tree: str, build_dir: str, out_dir: str, cache: str, timeout: int = 300,
	filter_glob: Optional[str] = None, jobs: Optional[int] = None, accel: str = 'tcg',
	mode: str = 'run', kconfig_add: Sequence[str] = (),
	target: Target = DEFAULT_TARGET, boot: Sequence[str] = ()) -> RunOutput:
	os.makedirs(out_dir, exist_ok=True)
	os.makedirs(build_dir, exist_ok=True)
	for stale in ('kunit.json', 'console.log'):
		if os.path.exists(os.path.join(out_dir, stale)):
			os.remove(os.path.join(out_dir, stale))
	if os.path.exists(os.path.join(build_dir, 'test.log')):
		os.remove(os.path.join(build_dir, 'test.log'))
	json_path = os.path.join(out_dir, 'kunit.json')
	cmd = kunit_command(tree, build_dir, json_path, timeout, jobs or os.cpu_count() or 1,
			    filter_glob, mode, kconfig_add, target, boot)
	start = time.monotonic()
	with open(os.path.join(out_dir, 'kunit.log'), 'w') as log:
		returncode = _stream(cmd, tree, cache, log, target if accel == 'tcg' else None,
				     progress.BuildWatch(cache, os.path.basename(tree), build_dir))
	return read_output(tree, build_dir, out_dir, returncode, time.monotonic() - start)


def build(tree: str, build_dir: str, cache: str, log: TextIO, jobs: Optional[int] = None,
	  kconfig_add: Sequence[str] = (), target: Target = DEFAULT_TARGET) -> int:
	"""kunit.py build (configure and build, no boot), its output to @log."""
	os.makedirs(build_dir, exist_ok=True)
	cmd = kunit_command(tree, build_dir, '', 0, jobs or os.cpu_count() or 1, None, 'build',
			    kconfig_add, target)
	return _stream(cmd, tree, cache, log, None,
		       progress.BuildWatch(cache, os.path.basename(tree), build_dir))


def _stream(cmd: List[str], tree: str, cache: str, log: TextIO,
	    tcg: Optional[Target], watch: Optional[progress.BuildWatch] = None) -> int:
	"""Run a kunit.py command in @tree, its output to stdout and @log; with
	@tcg, that target's QEMU is the TCG shim; @watch follows its stages.
	Its exit status."""
	# unbuffered: kunit.py's stage lines must arrive when it prints them,
	# for the progress lines' times (progress.py)
	env = dict(os.environ, CCACHE_DIR=os.path.join(cache, 'ccache'), PYTHONUNBUFFERED='1')
	if tcg is not None:
		env['PATH'] = tcg_shim_dir(cache, tcg) + os.pathsep + env.get('PATH', '')
	log.write('$ ' + ' '.join(cmd) + '\n')
	log.flush()
	# A session of its own, so that an interrupted run can stop kunit.py
	# together with the make and QEMU it started: left behind, they would
	# go on writing the build directory.
	proc = subprocess.Popen(cmd, cwd=tree, env=env, stdout=subprocess.PIPE,
				stderr=subprocess.STDOUT, text=True, errors='replace',
				start_new_session=True)
	assert proc.stdout is not None
	try:
		for line in proc.stdout:
			sys.stdout.write(line)
			log.write(line)
			if watch:
				watch.line(line)
		proc.wait()
	finally:
		stop_group(proc)
		if watch:
			watch.close(proc.returncode if proc.returncode is not None else -1)
	return proc.returncode
