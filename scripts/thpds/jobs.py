"""thp-ds jobs: the runs of a matrix as LAVA jobs, ready for any lab.

For each run the matrix would make, the kernel is built as the run would
build it (the same tree, port, variant, profile and target, in the same
build directory, so each variant is an incremental rebuild), the image is
staged under <out>/artifacts/<job>/, and <out>/jobs/<job>.yaml (the LAVA
job, lava.py) is written beside <out>/jobs/<job>.thp-ds.json: the run's
record without results (the cases it must run, what it must show, the
tree's exact version and suite, the .config's hash), from which its
results are judged when they come back.  A run of the live profile is a
job of its live boots one after the other (live.py), each with its
initramfs staged beside the kernel.  Nothing is booted here.
"""

import dataclasses
import json
import os
import shutil
import time
from typing import Optional, Sequence

from thpds import kunit_run, lava, live, runner, tree
from thpds.errors import InfraError, UsageError
from thpds.target import Target
from thpds.verdict import RunRecord

SIDECAR = 'thp-ds-lava-job/1'


@dataclasses.dataclass
class Staged:
	name: str
	job: str		# the LAVA job definition (YAML)
	sidecar: str		# the run's record without results (JSON)
	kernel: str		# the staged kernel image


def job_name(spec: str, target: Target, profile: str, variant: str,
	     boot: Sequence[str]) -> str:
	tree = os.path.basename(spec.rstrip('/')) if runner.is_path(spec) else spec
	return lava.slug(tree, target.name, '' if profile == 'default' else profile, variant,
			 *boot)


def stage(spec: str, variant: Optional[str], target: Target, profile: str,
	  boot: Sequence[str], out: str, timeout: int, url_base: str = '',
	  build_jobs: Optional[int] = None) -> Staged:
	"""Build one run's kernel and write its job and sidecar under @out;
	@url_base: where the lab will find <out> (default: file:// URLs of this
	machine)."""
	import yaml	# Debian's python3-yaml: only this command writes YAML

	p = runner.plan(spec, None, variant, profile, target, boot, ())
	t = p.tree
	name = job_name(spec, target, profile, p.variant, boot)
	live_run = profile in runner.LIVE_PROFILES
	if live_run:
		why_not = runner.profile_refusal(t, profile, target)
		if why_not:
			raise UsageError(f'jobs: {t.meta["origin"]} {t.meta["version"]} cannot run the '
					 f'{profile} profile: {why_not}')
	logs = os.path.join(out, 'logs')
	os.makedirs(logs, exist_ok=True)
	log_path = os.path.join(logs, f'{name}.build.log')
	print(f'[thp-ds] {name}: building {t.meta["origin"]} {t.meta["version"]} (port {p.port}, '
	      f'{p.variant}) for a LAVA job', flush=True)
	try:
		with open(log_path, 'w') as log:
			status = kunit_run.build(t.path, p.build_dir, runner.cache_dir(), log, build_jobs,
						 runner.PROFILES[profile], target)
		image = lava.kernel_path(p.build_dir, target)
		if status != 0 or not os.path.isfile(image):
			raise InfraError(f'{name}: the kernel did not build (log {log_path})')
		kernel = os.path.join(out, 'artifacts', name, os.path.basename(image))
		os.makedirs(os.path.dirname(kernel), exist_ok=True)
		shutil.copyfile(image, kernel)
		config_sha256 = kunit_run.config_sha256(p.build_dir)
		with open(log_path, errors='replace') as f:
			warnings = tuple(kunit_run.suite_warnings(f.read()))
	finally:
		if p.applied.variant or p.applied.backported:
			runner.apply_suite(t, None)
	def url_of(path: str) -> str:
		return (f'{url_base.rstrip("/")}/artifacts/{name}/{os.path.basename(path)}'
			if url_base else 'file://' + os.path.abspath(path))

	url = url_of(kernel)
	tool_args = (*runner.tool_boot(p.port, target), *boot)
	live_boots = []
	for b in live.boots_for(p.selected) if live_run else ():
		# the live system's init, printing on the console (live.OUTPUT_CONSOLE)
		initrd = os.path.join(os.path.dirname(kernel), f'live-{b.name}.cpio')
		with open(initrd, 'wb') as f:
			f.write(live.initramfs(live.BUSYBOX, live.init_script(b.suites, on_console=True)))
		live_boots.append((b.name, url_of(initrd), [
			lava.CONSOLE[target.arch], *kunit_run.KERNEL_ARGS,
			*live.boot_args(t.path, b, tool_args), *live.ON_CONSOLE_ARGS]))
	record = RunRecord(
		tree=os.path.realpath(spec) if runner.is_path(spec) else spec,
		origin=t.meta['origin'], version=t.meta['version'], kernel=tree.kernel_version(t.path),
		port=p.port, variant=p.variant, selected=p.selected, cases=(),
		expect=runner.expectation(p.applied, target, p.declared, boot, profile),
		debian_suite=t.meta.get('suite', ''), judged=p.judged, suite_source=p.source,
		offline=t.meta.get('offline', ''), kunit_from=t.meta.get('kunit_from', ''),
		suite_revision=runner.suite_revision(), accel='tcg', arch=target.name,
		profile=profile, boot=tuple(boot), config_sha256=config_sha256,
		suite_warnings=warnings,
		date=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()))
	cmdline = lava.command_line(target, tool_args)
	job = lava.definition(name, target, url, cmdline, timeout, {
		'tree': record.tree, 'version': record.version, 'port': p.port,
		'variant': p.variant, 'target': target.name, 'profile': profile,
		'boot': ' '.join(boot), 'suite_revision': record.suite_revision},
		[(ramdisk, line) for _, ramdisk, line in live_boots])
	error = lava.schema_error(job)
	if error:	# a bug in lava.py: never hand a lab a job it refuses
		raise InfraError(f'{name}: LAVA\'s schema refuses the job: {error}')
	jobs_dir = os.path.join(out, 'jobs')
	os.makedirs(jobs_dir, exist_ok=True)
	job_path = os.path.join(jobs_dir, f'{name}.yaml')
	with open(job_path, 'w') as f:
		yaml.safe_dump(job, f, sort_keys=False, width=100)
	sidecar = os.path.join(jobs_dir, f'{name}.thp-ds.json')
	with open(sidecar, 'w') as f:
		json.dump({'schema': SIDECAR, 'job': name, 'kernel': os.path.abspath(kernel),
			   'timeout': timeout, 'tree_path': t.path,
			   'live_boots': [b for b, _, _ in live_boots],
			   'kunit_py': os.path.join(t.path, 'tools/testing/kunit/kunit.py'),
			   'record': record.to_json()}, f, indent=1)
	return Staged(name, job_path, sidecar, kernel)

