"""thp-ds: fetch a kernel tree, apply the deferred-split suite, build, boot, report.

Exit status: 0 the verdict is PASS; 1 the verdict is FAIL; 2 usage error
(bad input, nothing changed); 3 the infrastructure failed (download,
unpack, git, build, disk full, apt): no verdict.  Errors are one line.
"""

import argparse
import dataclasses
import fnmatch
import json
import os
import signal
import subprocess
import sys
import time
import traceback
import unittest
from typing import List, Optional, Sequence

from thpds import (bisect, cache, cases, debian_source, diagnose, document, host, jobs, junit,
		   kcidb, lava_lab, lava_local, lava_results, lock, matrix, patches, report, rerun,
		   runner, suite, target, variants)
from thpds.errors import ThpDsError, UsageError
from thpds.verdict import RunRecord, judge

DEFAULT_TREE = '6.12'
CHECK_TREES = ('6.12', '7.2', '6.1', '7.3')
# The full matrix: every tree a port serves (5.10's cold build takes ~10
# minutes on 2 cores, which CI's budget leaves to this documented command).
MATRIX_TREES = ('6.12', '7.2', '6.1', '5.10', '7.3')
# Beyond x86_64, what `check` (and so CI) runs the first tree on.
CHECK_TARGETS = ('x86_64', 'arm64-4k', 'x86_64-smp4')
# The variant .ci/run proves is caught on the default tree.
CHECK_VARIANT = 'seed-reclaim'
# The trees check runs in the live profile (a swap area) too.
CHECK_LIVE = ('7.2', '6.1')
# The trees check runs on two NUMA nodes too, and in the PREEMPT_RT profile
# (none: up to 7.3 at least, THP depends on !PREEMPT_RT, docs/configurations.md).
CHECK_NUMA = ('7.2',)
CHECK_RT = ()
# The boot options check boots the first tree with, one at a time.
CHECK_BOOTS = ('cgroup_disable=memory', 'transparent_hugepage=never')
ORACLE_CODES = """exit status (git bisect run's):
  0    the revision's verdict is PASS (good)
  1    its verdict is FAIL (bad)
  125  it cannot be judged (no port fits, it does not build): git skips it
  255  interrupted, or the tool failed: git bisect run stops"""
BISECT_CODES = """exit status:
  0  the first bad commit was found (printed with its subject)
  1  no single commit: the ends are not good and bad, or only skipped ones are left
  2  usage error: not a git tree, a revision it does not have, good not before bad
  3  the infrastructure failed (git, download, build of an end): no answer"""
EXIT_CODES = """exit status:
  0  the verdict is PASS (every selected case as expected)
  1  the verdict is FAIL
  2  usage error: bad input or an unusable environment; nothing changed
  3  the infrastructure failed (download, unpack, git, build, disk, apt): no verdict"""


def chosen_target(args: argparse.Namespace) -> target.Target:
	return target.parse(getattr(args, 'arch', 'x86_64'), getattr(args, 'page_size', None),
			    getattr(args, 'numa', False), getattr(args, 'cpus', target.CPUS))


def positive(text: str) -> int:
	value = int(text)
	if value < 1:
		raise argparse.ArgumentTypeError(f'must be 1 or more, not {value}')
	return value


def cmd_run(args: argparse.Namespace) -> int:
	start = time.monotonic()
	where = chosen_target(args)
	cases.select(cases.repo_declared(), args.filter)	# a bad filter fails before any work
	host.ensure(args.install_deps, (*where.packages(), *host.profile_packages(args.profile)))
	run = runner.run_tree(args.tree, args.timeout, args.filter, args.accel,
			      chosen_variant(args), args.profile, target=where, boot=args.boot,
			      kconfig=args.kconfig_add, jobs=args.jobs)
	verdict = judge(run.record)
	report.show(run.record, verdict)
	write_exports(args, [run.record], single=True)
	print(f'[thp-ds] wall clock {time.monotonic() - start:.1f} s, of which kunit.py '
	      f'(build and boot) {run.record.seconds} s', flush=True)
	return verdict.exit_code


def write_exports(args: argparse.Namespace, records: List[RunRecord],
		  single: bool = False) -> None:
	"""--json FILE and --junit FILE: the result documents of @records (one
	document, not a list, for a @single run) and their JUnit XML."""
	if getattr(args, 'json', None):
		docs = [document.document(r) for r in records]
		document.write(args.json, docs[0] if single and len(docs) == 1 else docs)
		print(f'[thp-ds] wrote {args.json} ({document.SCHEMA})', flush=True)
	if getattr(args, 'junit', None):
		junit.write(args.junit, records)
		print(f'[thp-ds] wrote {args.junit} (JUnit XML)', flush=True)


def chosen_variant(args: argparse.Namespace) -> Optional[str]:
	"""--unpatched VARIANT, or --backported; an unpatched variant is applied on
	top of the port's backports anyway, so both at once say nothing more."""
	if args.unpatched and args.backported:
		raise UsageError('--unpatched and --backported: a variant is always applied on '
				 'top of the backports; give one of them')
	return args.unpatched or (variants.BACKPORTED if args.backported else None)


def unit_tests() -> unittest.TestResult:
	"""The tooling's own unit tests (scripts/tests), run in this process."""
	scripts = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
	tests = unittest.defaultTestLoader.discover(os.path.join(scripts, 'tests'),
						    top_level_dir=scripts)
	return unittest.TextTestRunner(stream=sys.stdout, verbosity=1).run(tests)


def cmd_check(args: argparse.Namespace) -> int:
	"""The project's tests: the tooling's unit tests, then each kernel run,
	every selected case counted once and judged against what its run
	expects of it (a variant's declared cases must fail)."""
	others = [target.from_name(name) for name in args.targets if name != 'x86_64']
	suite.check_boot(args.boots)
	host.ensure(args.install_deps, [p for t in others for p in t.packages()]
		    + (list(host.profile_packages('live')) if args.live else [])
		    + list(host.CHECK_PACKAGES))
	result = unit_tests()
	failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
	skipped = len(result.skipped)
	passed = result.testsRun - failed - skipped
	lines = [f'tooling unit tests: {passed} passed, {failed} failed, {skipped} skipped']
	records: List[RunRecord] = []
	default = 'default'
	first = args.trees[0]

	def shipped_and_variant(spec, where=target.DEFAULT, profile=default, boot=()):
		"""A tree as shipped, then with the variant (where one is asked for)."""
		return [(spec, v, where, profile, boot)
			for v in [None] + ([args.variant] if args.variant else [])]
	jobs = shipped_and_variant(first) + \
		[(spec, None, target.DEFAULT, default, ()) for spec in args.trees[1:]]
	# each other target: the first tree as shipped and with the variant
	for where in others:
		jobs += shipped_and_variant(first, where)
	# the first tree booted with each option: as shipped and with the variant
	for option in args.boots:
		jobs += shipped_and_variant(first, boot=(option,))
	# two NUMA nodes: as shipped, then (below) the variants only they reach
	jobs += [(spec, None, target.NUMA, default, ()) for spec in args.numa]
	# PREEMPT_RT: as shipped and with the variant
	for spec in args.rt:
		jobs += shipped_and_variant(spec, profile='rt')
	# the live profile: as shipped, then (below) the variants only it reaches
	jobs += [(spec, None, target.DEFAULT, 'live', ()) for spec in args.live]
	while jobs:
		spec, variant, where, profile, boot = jobs.pop(0)
		setting = ' '.join(([] if where.default else [where.name])
				   + ([] if profile == default else [profile]) + list(boot))
		label = f'{spec} {setting + " " if setting else ""}{variant or variants.SHIPPED}'
		try:
			run = runner.run_tree(spec, args.timeout, variant=variant, target=where,
					      profile=profile, boot=boot, jobs=args.jobs)
		except ThpDsError as e:
			print(f'thp-ds: {label}: {e}', file=sys.stderr)
			failed += 1
			lines.append(f'{label}: no verdict: {first_line(e)}')
			continue
		if variant is None and suite.port_backports(run.applied.port):
			# an exposed tree: right after it, the same tree with its backports
			jobs.insert(0, (spec, variants.BACKPORTED, where, profile, boot))
		if variant is None and not boot and (profile != default or not where.default):
			# the variants confined to this profile or target
			jobs[0:0] = [(spec, name, where, profile, boot) for name, v in
				     sorted(variants.for_port(run.applied.port).items())
				     if v.confined_to(profile, where.name)]
		verdict = judge(run.record)
		report.show(run.record, verdict)
		records.append(run.record)
		p, f, s = verdict.tally()
		passed, failed, skipped = passed + p, failed + f, skipped + s
		lines.append(f'{label} ({run.record.origin} {run.record.version}, port '
			     f'{run.record.port}): {verdict.summary()}, {run.record.seconds} s')
		lines += [f'  {line}' for line in diagnose.diagnose(run.record)]
	if args.series:
		try:
			p, f, more = patches.project_check(args.trees[0], args.timeout)
		except ThpDsError as e:
			p, f, more = 0, 1, [f'series of {args.trees[0]}: no verdict: {first_line(e)}']
		passed, failed = passed + p, failed + f
		lines += more
	write_exports(args, records)
	print('\n[thp-ds] summary')
	for line in lines:
		print('[thp-ds]   ' + line)
	if skipped:
		print(f'[thp-ds] {skipped} skipped, each where its port allows it (see above)')
	# CI reads this last line: exactly "N passed, N failed"
	print(f'{passed} passed, {failed} failed')
	return 1 if failed else 0


def cmd_matrix(args: argparse.Namespace) -> int:
	"""Run every tree as shipped and with each variant, on each target and
	in each profile; write docs/results."""
	targets = [target.from_name(name) for name in args.targets]
	host.ensure(args.install_deps, [p for t in targets for p in t.packages()]
		    + [p for name in args.profiles for p in host.profile_packages(name)])
	suite.check_boot([o for o in args.boots if o != DEFAULT_BOOT])
	records = []
	runs, refused = matrix_runs(args, targets)
	for spec, where, profile, boot, variant in runs:
		run = runner.run_tree(spec, args.timeout, variant=variant, target=where,
				      profile=profile, boot=boot, jobs=args.jobs)
		report.show(run.record, judge(run.record))
		records.append(run.record)
	os.makedirs(args.out, exist_ok=True)
	if args.merge:
		records = matrix.merged(os.path.join(args.out, 'matrix.json'), records)
	matrix.write(args.out, records, with_proof=not args.merge)
	print(f'[thp-ds] wrote {args.out}/matrix.md and matrix.json')
	write_exports(args, records)
	for line in refused:
		print(f'[thp-ds] not run: {line}')
	return 0 if all(judge(r).ok for r in records) else 1


def matrix_runs(args: argparse.Namespace, targets: Sequence[target.Target]):
	"""The runs of the matrix @args asks for, in order, as (tree, target,
	profile, boot options, variant); and the (tree, target, profile) it
	cannot run, each with the reason (said as it is found)."""
	runs, refused = [], []
	for profile in args.profiles:
		for where in targets:
			for spec in args.trees:
				t = runner.prepare(spec)
				why_not = runner.profile_refusal(t, profile, where)
				if why_not:
					print(f'[thp-ds] {spec} {where.name} {profile}: not run: {why_not}',
					      flush=True)
					refused.append(f'{spec} {where.name} {profile}: {why_not}')
					continue
				for option in args.boots:
					boot = () if option == DEFAULT_BOOT else (option,)
					for variant in matrix_variants(runner.port_of(t), profile, boot,
								       where):
						runs.append((spec, where, profile, boot, variant))
	return runs, refused


# In a profile other than the default, the runs that say something new
# there: as shipped (and backported), the seed's reclaim bug, the variants
# whose path only that profile reaches, and those that declare a failure
# of a case that needs a swap area.
PROFILE_VARIANTS = ('seed-reclaim',)


# matrix --boots: the column of the tool's own boot, and the boot options
# that change the deferred split queue's paths or take them away: without
# the memory controller (kdump kernels), without kmem accounting (7.x's
# queue is then per node), and THP enabled always or never (the suite's
# PMD-size cases then skip, the mTHP ones still run).
DEFAULT_BOOT = 'default'
BOOT_COLUMNS = ('cgroup_disable=memory', 'cgroup.memory=nokmem',
		'transparent_hugepage=always', 'transparent_hugepage=never')


def matrix_variants(port: str, profile: str, boot: Sequence[str] = (),
		    where: target.Target = target.DEFAULT) -> List[Optional[str]]:
	"""The runs of a port's tree in a matrix of @profile booted with @boot on
	@where, in order: None (as shipped), backported where the port has
	backports, then its variants (with a boot option, the seed's reclaim bug
	and those confined to @where; those confined to a target, on that target
	only)."""
	backported = [variants.BACKPORTED] if suite.port_backports(port) else []
	mine = variants.for_port(port)
	if boot:
		names = [n for n, v in mine.items() if not v.profile
			 and (n in PROFILE_VARIANTS or v.target == where.name != '')]
	elif profile == 'default':
		names = [n for n, v in mine.items() if not v.profile
			 and v.target in ('', where.name)]
	else:
		# and those that declare a failure only a live run can show
		needs_swap = [g for g, _ in suite.swap_skips(port)] \
			if profile in runner.LIVE_PROFILES else []
		names = [n for n, v in mine.items() if v.profile == profile or n in PROFILE_VARIANTS
			 or any(fnmatch.fnmatchcase(c, g) for c in v.expect_fail for g in needs_swap)]
	return [None] + backported + sorted(names)


def cmd_repeat(args: argparse.Namespace) -> int:
	"""Build once, boot the same kernel N times; tabulate how each run ended.

	Exits 0 only when every run produced a verdict and every verdict
	passed (as shipped: all pass; on a variant: caught as declared)."""
	cases.select(cases.repo_declared(), args.filter)
	suite.check_boot(args.boot)
	where = chosen_target(args)
	host.ensure(args.install_deps, where.packages())
	records = []
	name = '+'.join((chosen_variant(args) or variants.SHIPPED, *args.boot))
	for i in range(args.count):
		run = runner.run_tree(args.tree, args.timeout, args.filter,
				      variant=chosen_variant(args), profile=args.profile,
				      mode='run' if i == 0 else 'exec',
				      out_name=f'repeat-{name}/{i + 1}', target=where, boot=args.boot,
				      kconfig=args.kconfig_add, jobs=args.jobs)
		rec = run.record
		records.append(rec)
		print(f'[thp-ds] run {i + 1}/{args.count}: {matrix.repeat_outcome(rec)}', flush=True)
		if not rec.built:
			break
	text = matrix.render_repeat(records)
	print(text)
	write_exports(args, records)
	if args.out:
		os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
		with open(args.out, 'w') as f:
			f.write(text)
	verdicts = [judge(r) for r in records]
	if any(v.infrastructure or not r.cases for v, r in zip(verdicts, records)):
		return 3
	return 0 if all(v.ok for v in verdicts) and len(records) == args.count else 1


def cmd_rerun(args: argparse.Namespace) -> int:
	"""Boot the debug profile's kernel as a small live system and run the
	suites again from KUnit's debugfs, twice: every run is judged as any
	run is, and the system must be left as the suite found it."""
	host.ensure(args.install_deps, host.RERUN_PACKAGES)
	# the debug kernel with the suite as it is now (booting whatever the
	# build directory last held would judge an older suite): built, and
	# its own boot's run judged, as thp-ds run --profile debug does
	built = runner.run_tree(args.tree, args.timeout, profile='debug')
	verdicts = [judge(built.record)]
	report.show(built.record, verdicts[0])
	build_dir, results = runner.run_dirs(built.tree, 'debug')
	out_dir = os.path.join(results, 'rerun')
	start = time.monotonic()
	booted = rerun.boot(build_dir, out_dir, args.timeout)
	for i, rec in enumerate(rerun.records(booted, built.record, built.tree.path, build_dir,
					       out_dir, time.monotonic() - start), 1):
		document.write(os.path.join(out_dir, f'result-{i}.json'), document.document(rec))
		verdicts.append(judge(rec))
		report.show(rec, verdicts[-1])
	for line in booted.state.get('BEFORE', []):
		print(f'[thp-ds]   before and after: {line}' if line in booted.state.get('AFTER', [])
		      else f'[thp-ds]   before: {line}')
	ok = all(v.ok for v in verdicts)
	print(f'[thp-ds] {built.record.origin} {built.record.version} (debug profile): the suites '
	      f'run {rerun.RUNS} times more from debugfs on a live system: '
	      + ('PASS' if ok else 'FAIL') + f' (console {os.path.join(out_dir, "console-rerun.log")})')
	return 0 if ok else 1


def cmd_patches(args: argparse.Namespace) -> int:
	host.ensure(args.install_deps)
	out = patches.make(args.tree, args.out, not args.no_build, args.timeout)
	print('[thp-ds] recipients (scripts/get_maintainer.pl):')
	for line in out.recipients.splitlines():
		print(f'  {line}')
	print('[thp-ds] the MAINTAINERS sections each patch reaches:')
	for name, reached in out.reach:
		print(f'  {name}: {"; ".join(reached) or "(none)"}')
	bad = [f for f in out.findings if not f.ok]
	for f in bad:
		print(f'[thp-ds]   FAILED {f.check} {f.subject}: {f.detail}')
	print(f'[thp-ds] series {"checked" if not bad else "NOT clean"}: {len(out.files)} files '
	      f'in {out.out_dir}', flush=True)
	return 0 if not bad else 1


def cmd_fetch(args: argparse.Namespace) -> int:
	t = runner.prepare(args.tree)
	print(f'{t.meta["origin"]} {t.meta["version"]} at {t.path}')
	return 0


def cmd_jobs(args: argparse.Namespace) -> int:
	"""The runs of a matrix as LAVA jobs: each kernel built and staged, each
	job and its sidecar written (docs/lava.md)."""
	targets = [target.from_name(name) for name in args.targets]
	host.ensure(args.install_deps, [p for t in targets for p in t.packages()]
		    + [p for profile in args.profiles for p in host.profile_packages(profile)]
		    + list(host.LAVA_PACKAGES))
	suite.check_boot([o for o in args.boots if o != DEFAULT_BOOT])
	args.out = os.path.abspath(args.out or os.path.join(runner.cache_dir(), 'lava'))
	runs, refused = matrix_runs(args, targets)
	staged = [jobs.stage(spec, variant, where, profile, boot, args.out, args.timeout,
			     args.artifact_url, args.jobs)
		  for spec, where, profile, boot, variant in runs]
	index = os.path.join(args.out, 'jobs', 'index.json')
	document.write(index, [{'job': s.name, 'definition': os.path.relpath(s.job, args.out),
				'sidecar': os.path.relpath(s.sidecar, args.out),
				'kernel': os.path.relpath(s.kernel, args.out)} for s in staged])
	print(f'[thp-ds] wrote {len(staged)} LAVA jobs, their sidecars and kernels under '
	      f'{args.out} (index {index})', flush=True)
	for line in refused:
		print(f'[thp-ds] not run: {line}')
	return 0


def cmd_lava_run(args: argparse.Namespace) -> int:
	"""Run the jobs thp-ds jobs wrote with LAVA's dispatcher on this
	machine, judge each from its log, and write their matrix."""
	host.ensure(args.install_deps, host.LAVA_RUN_PACKAGES)
	out = os.path.abspath(args.out or os.path.join(runner.cache_dir(), 'lava'))
	records = []
	start = time.monotonic()
	for i, entry in enumerate(lava_local.index(out, args.match), 1):
		ran = lava_local.run_one(out, entry, i)
		report.show(ran.record, judge(ran.record))
		records.append(ran.record)
	return lava_results_out(args, records, os.path.join(out, 'results'),
				f'{len(records)} LAVA jobs run by lava-run in '
				f'{time.monotonic() - start:.0f} s')


def lava_results_out(args: argparse.Namespace, records: List[RunRecord], results: str,
		     what: str) -> int:
	"""The matrix of LAVA jobs' records in @results (and --json, --junit),
	then, with --compare, every verdict and cell against a thp-ds matrix;
	the exit status: 0 when every job passed and nothing differs."""
	os.makedirs(results, exist_ok=True)
	with open(os.path.join(results, 'matrix.md'), 'w') as f:
		f.write(matrix.render_markdown(records))
	with open(os.path.join(results, 'matrix.json'), 'w') as f:
		f.write(matrix.render_json(records))
	write_exports(args, records)
	print(f'[thp-ds] {what}; matrix in {results}', flush=True)
	same = True
	if args.compare:
		diffs, races = matrix.compare(records, document.load(args.compare))
		for line in diffs:
			print(f'[thp-ds]   differs: {line}')
		for line in races:
			print(f'[thp-ds]   the race landed otherwise (both caught): {line}')
		same = not diffs
		print(f'[thp-ds] against {args.compare}: '
		      + (f'{len(diffs)} differences' if diffs else 'every verdict and cell equal')
		      + (f', {len(races)} race cells caught both ways' if races else ''),
		      flush=True)
	return 0 if same and all(judge(r).ok for r in records) else 1


def cmd_lava_lab(args: argparse.Namespace) -> int:
	"""start, stop or status of the LAVA lab on this machine; run: the jobs
	thp-ds jobs wrote, submitted to it (docs/lava.md)."""
	if args.action == 'stop':
		stopped = lava_lab.stop()
		print('[thp-ds] stopped: ' + (', '.join(stopped) or 'nothing was running'))
		return 0
	if args.action == 'status':
		for what, how in lava_lab.status().items():
			print(f'{what}: {how}')
		return 0
	host.ensure(args.install_deps, host.LAB_PACKAGES)
	start = time.monotonic()
	uri = lava_lab.start(args.workers)
	print(f'[thp-ds] LAVA lab up at {lava_lab.URL} with {args.workers} workers '
	      f'({time.monotonic() - start:.0f} s)', flush=True)
	if args.action == 'start':
		return 0
	if args.action == 'matrix':
		# the matrix's runs written as jobs first (their kernels built)
		built = time.monotonic()
		cmd_jobs(args)
		print(f'[thp-ds] jobs written in {time.monotonic() - built:.0f} s', flush=True)
	out = os.path.abspath(args.out or os.path.join(runner.cache_dir(), 'lava'))
	entries = lava_local.index(out, args.match)
	cpus = 1
	for e in entries:
		with open(os.path.join(out, e['definition'])) as f:
			cpus = max(cpus, lava_lab.guest_cpus(f.read()))
	shared = lava_lab.shared_cores(args.workers, cpus, os.cpu_count() or 1)
	if shared:
		print(f'[thp-ds] note: {shared}', flush=True)
	start = time.monotonic()
	ids = {lava_lab.submit(uri, os.path.join(out, e['definition'])): e for e in entries}
	print(f'[thp-ds] submitted {len(ids)} jobs: {min(ids)}-{max(ids)}', flush=True)
	finished = lava_lab.wait(uri, sorted(ids), args.timeout + 600)
	seconds = time.monotonic() - start
	records = []
	for job_id, entry in sorted(ids.items()):
		with open(os.path.join(out, entry['sidecar'])) as f:
			sidecar = json.load(f)
		read = lava_results.read_log(lava_lab.log_lines(uri, job_id))
		rec = lava_results.record(sidecar, read)
		rec = dataclasses.replace(rec, log=f'LAVA job {job_id} ({finished[job_id].get("health")})')
		report.show(rec, judge(rec))
		records.append(rec)
	return lava_results_out(args, records, os.path.join(out, 'results-lab'),
				f'{len(records)} LAVA jobs on {args.workers} workers: {seconds:.0f} s '
				'from the first submission to the last job finished')


def cmd_oracle(args: argparse.Namespace) -> int:
	"""One revision judged for git bisect run: 0 PASS, 1 FAIL, 125 when it
	cannot be judged (no port fits, no build, no verdict), 255 (stop the
	bisection) when interrupted or the tool itself fails."""
	try:
		where = chosen_target(args)
		run = runner.run_tree(args.tree, args.timeout, args.filter, args.accel,
				      profile=args.profile, target=where, boot=args.boot,
				      kconfig=args.kconfig_add, jobs=args.jobs)
		verdict = judge(run.record)
		report.show(run.record, verdict)
		ok = None if verdict.infrastructure else verdict.ok
	except ThpDsError as e:
		print(f'thp-ds: cannot judge this revision: {first_line(e)}', file=sys.stderr)
		ok = None
	status = bisect.oracle_status(ok)
	print(f'[thp-ds] oracle: {bisect.WORDS[status]}, exit {status}', flush=True)
	return status


def oracle_command(args: argparse.Namespace, ws: str) -> List[str]:
	"""The argv git bisect run runs at each step: thp-ds oracle on the
	clone @ws with this bisect's options, under this process's lock, with
	the cache and home it would not find in git's environment."""
	cmd = ['env', f'HOME={os.path.expanduser("~")}', f'THP_DS_CACHE={runner.cache_dir()}',
	       *(f'{k}={v}' for k, v in lock.handed_down(runner.cache_dir()).items()),
	       sys.executable, os.path.join(suite.REPO, 'scripts', 'thp-ds'), 'oracle',
	       '--tree', ws, '--timeout', str(args.timeout), '--accel', args.accel,
	       '--profile', args.profile, '--arch', args.arch, '--cpus', str(args.cpus)]
	cmd += ['--filter', args.filter] if args.filter else []
	cmd += ['--page-size', args.page_size] if args.page_size else []
	cmd += ['--numa'] if args.numa else []
	cmd += ['--jobs', str(args.jobs)] if args.jobs else []
	for option in args.boot:
		cmd += ['--boot', option]
	for option in args.kconfig_add:
		cmd += ['--kconfig-add', option]
	return cmd


def cmd_bisect(args: argparse.Namespace) -> int:
	"""The first commit of a user's git tree whose verdict is FAIL."""
	src = runner.check_user_tree(args.tree)
	good = bisect.revision(src, args.good, 'good')
	bad = bisect.revision(src, args.bad, 'bad')
	bisect.check_range(src, good, bad)
	where = chosen_target(args)
	runner.check_request(src, args.filter, None, where, args.boot, args.profile,
			     args.kconfig_add)
	host.ensure(args.install_deps, (*where.packages(), *host.profile_packages(args.profile)))
	ws = os.path.join(runner.cache_dir(), 'bisect', runner.user_tree_name(src))
	print(f'[thp-ds] bisecting {src} from {good[:12]} (good) to {bad[:12]} (bad) in a clone '
	      f'at {ws}; each revision is judged on its own results', flush=True)
	outcome = bisect.run(src, good, bad, ws, oracle_command(args, ws),
			     say=lambda text: print(f'[thp-ds] {text}', flush=True))
	print('[thp-ds] revisions judged:')
	for step in outcome.steps:
		print(f'[thp-ds]   {step["commit"][:12]} {step["verdict"]}: {step["subject"]}')
	print(f'[thp-ds] {outcome.message}', flush=True)
	return 0 if outcome.first_bad else 1


def cmd_export(args: argparse.Namespace) -> int:
	"""The result documents and JUnit XML of runs already recorded: their
	result.json files, a matrix.json, or directories of runs.  Exits 0 when
	every run's verdict is PASS, 1 otherwise, as matrix does."""
	if not (args.json or args.junit or args.kcidb):
		raise UsageError('export: give --json FILE, --junit FILE, --kcidb FILE, or more')
	records: List[RunRecord] = []
	for path in args.inputs:
		if not os.path.exists(path):
			raise UsageError(f'export: {path}: no such file or directory')
		try:
			found = document.load(path)
		except (ValueError, KeyError, TypeError, AttributeError) as e:
			raise UsageError(f'export: {path}: not a thp-ds result ({type(e).__name__}: '
					 f'{first_line(e)})')
		if not found:
			raise UsageError(f'export: {path}: no result.json under it')
		records += found
	write_exports(args, records)
	if args.kcidb:
		document.write(args.kcidb, kcidb.export(records))
		print(f'[thp-ds] wrote {args.kcidb} (KCIDB {kcidb.VERSION["major"]}.'
		      f'{kcidb.VERSION["minor"]})', flush=True)
	return 0 if all(judge(r).ok for r in records) else 1


def cmd_list(args: argparse.Namespace) -> int:
	apt = debian_source.PrivateApt(runner.cache_dir())
	apt.update()
	print('series\tversion\tsuite\tkind\t(--tree SERIES takes the first of each series; '
	      '--tree SERIES=VERSION any)')
	for series in debian_source.available_series(apt):
		for i, offer in enumerate(debian_source.offers(apt, series)):
			print(f'{series}\t{offer.version}\t{offer.suite}\t{offer.tier_name}'
			      + (f'\t<- --tree {series}' if i == 0 else ''))
	for port in suite.ports():
		found = variants.for_port(port)
		names = [n + (f' ({v.profile} profile only)' if v.profile else '')
			 + (f' ({v.target} only)' if v.target else '') for n, v in sorted(found.items())]
		print(f'port {port}: unpatched variants: {", ".join(names) or "none"}')
		for name, why in suite.port_exposures(port).items():
			print(f'port {port}: exposed as shipped: {name}: {why}')
	return 0


def cmd_cache(args: argparse.Namespace) -> int:
	"""What the cache holds; with --prune*, remove parts of it."""
	root = runner.cache_dir()
	if not cache.prunes(args):
		print(cache.report(root))
		return 0
	removed = cache.prune(root, args.prune or (), args.prune_builds, args.prune_debs)
	for path, size in removed:
		print(f'[thp-ds] removed {path} ({cache.human(size)})')
	print(f'[thp-ds] freed {cache.human(sum(size for _, size in removed))}')
	return 0


def add_run_options(p: argparse.ArgumentParser) -> None:
	p.add_argument('--tree', default=DEFAULT_TREE,
		       help='Debian kernel series (6.12, 7.2, ...) or a path to your own kernel '
		       'tree (copied, never modified); default %(default)s')
	p.add_argument('--unpatched', metavar='VARIANT',
		       help="put a historical bug back (see 'thp-ds list'): the run passes when "
		       'exactly the cases the variant declares fail')
	p.add_argument('--backported', action='store_true',
		       help="apply the port's stable backports (ports/<X.Y>/backports) to a tree "
		       'exposed as shipped: the run passes when every case passes')
	p.add_argument('--timeout', type=positive, default=300,
		       help='seconds the guest may run before it is stopped (default %(default)s)')
	p.add_argument('--profile', choices=sorted(runner.PROFILES), default='default',
		       help='debug: add KASAN, lockdep, DEBUG_OBJECTS and friends; live: boot a '
		       'live system with a swap area and run the suites there from KUnit\'s '
		       'debugfs (x86_64, KUnit 6.7+); each in a build directory of its own')
	add_build_options(p)
	add_install_option(p)
	add_lock_option(p)
	add_refresh_option(p)


def add_build_options(p: argparse.ArgumentParser) -> None:
	p.add_argument('--kconfig-add', metavar='CONFIG_X=V', action='append', default=[],
		       help='add this option to the kernel the suite builds (repeatable), on top '
		       "of the suite's mm/tests/.kunitconfig; built in a directory of its own, "
		       'recorded with the run.  One that takes away what the suite, the target or '
		       'the profile sets is refused with the reason, as is one the tree\'s '
		       'Kconfig drops')
	add_jobs_option(p)


def add_jobs_option(p: argparse.ArgumentParser, what: str = '') -> None:
	p.add_argument('--jobs', type=positive, default=None,
		       help=f'{what}parallel build jobs (default: the number of CPUs)')


def add_oracle_options(p: argparse.ArgumentParser) -> None:
	"""What bisect and oracle take: a user's tree and how to run it."""
	p.add_argument('--tree', required=True, metavar='PATH',
		       help='your kernel tree, a git work tree (copied, never modified)')
	p.add_argument('--filter', help='judge only these cases (a kunit.py filter glob)')
	p.add_argument('--timeout', type=positive, default=300)
	p.add_argument('--profile', choices=sorted(runner.PROFILES), default='default')
	p.add_argument('--accel', choices=('tcg', 'auto'), default='tcg')
	add_target_options(p)
	add_boot_option(p)
	add_build_options(p)
	add_install_option(p)
	add_lock_option(p)


def add_boot_option(p: argparse.ArgumentParser) -> None:
	p.add_argument('--boot', metavar='OPTION', action='append', default=[],
		       help='boot the kernel with this command-line option too, e.g. '
		       'cgroup_disable=memory, cgroup.memory=nokmem, transparent_hugepage=never '
		       '(repeatable); results go to <variant>+<options>; every case must pass '
		       'except the skips ports/boot-options allows for the option (a variant: '
		       'its declaration for the option, docs/configurations.md)')


def add_target_options(p: argparse.ArgumentParser) -> None:
	p.add_argument('--arch', default='x86_64',
		       help='x86_64 (default) or arm64 (cross-built with aarch64-linux-gnu-, '
		       'booted in qemu-system-aarch64); each has a build directory of its own')
	p.add_argument('--page-size', choices=target.PAGE_SIZES,
		       help='arm64 only: 4k (default), 16k or 64k pages (CONFIG_ARM64_*K_PAGES)')
	p.add_argument('--numa', action='store_true',
		       help='x86_64 only: boot two NUMA nodes, a CPU and half the memory each '
		       '(CONFIG_NUMA with ACPI, QEMU -numa); a build directory of its own')
	p.add_argument('--cpus', type=int, default=target.CPUS,
		       help=f'CPUs the guest boots with ({target.CPUS} to {target.MAX_CPUS}, default '
		       '%(default)s); the race then scans the queue from every CPU but the '
		       'freeing one.  The same build: results of their own (x86_64-smp4)')


def add_export_options(p: argparse.ArgumentParser, what: str) -> None:
	p.add_argument('--json', metavar='FILE',
		       help=f'also write {what} as result documents (docs/json.md, schema '
		       f'{document.SCHEMA})')
	p.add_argument('--junit', metavar='FILE',
		       help=f'also write {what} as JUnit XML (one testsuite per run, one testcase '
		       'per case; docs/json.md)')


def add_install_option(p: argparse.ArgumentParser) -> None:
	p.add_argument('--install-deps', action='store_true',
		       help='install missing host packages with apt-get (as root, or through sudo)')


def add_refresh_option(p: argparse.ArgumentParser) -> None:
	p.add_argument('--refresh', action='store_true',
		       help="refresh the archive's package lists now (otherwise at most hourly)")


def add_lock_option(p: argparse.ArgumentParser) -> None:
	p.add_argument('--no-wait', action='store_true',
		       help='if another thp-ds is using the cache, exit with status 2 instead of '
		       'waiting for it')


def parser() -> argparse.ArgumentParser:
	p = argparse.ArgumentParser(prog='thp-ds', description=__doc__.split('\n\n')[0],
				    epilog=EXIT_CODES,
				    formatter_class=argparse.RawDescriptionHelpFormatter)
	sub = p.add_subparsers(dest='command', required=True)

	r = sub.add_parser('run', help='apply the suite to a tree, build, boot in QEMU, report',
			   epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
	add_run_options(r)
	add_target_options(r)
	r.add_argument('--filter', help='kunit.py filter glob, e.g. "thp_deferred_split.*migrate*"; '
		       'only the cases it selects are judged')
	r.add_argument('--accel', choices=('tcg', 'auto'), default='tcg',
		       help="tcg (default): QEMU's emulator only, the same on every host; auto: "
		       'whatever kunit.py asks for (newer ones try KVM first)')
	add_boot_option(r)
	add_export_options(r, 'the run')
	r.set_defaults(func=cmd_run)

	c = sub.add_parser('check', help="the project's tests: tooling unit tests, then the "
			   'suite on each tree; ends with "N passed, N failed"')
	c.add_argument('--trees', nargs='+', default=list(CHECK_TREES),
		       help='trees to run the suite on (default: %(default)s)')
	c.add_argument('--variant', default=CHECK_VARIANT,
		       help='unpatched variant to prove caught on the first tree '
		       '(default %(default)s; "" for none)')
	c.add_argument('--targets', nargs='+', default=list(CHECK_TARGETS),
		       help='targets: the trees run on x86_64; each other target runs the first '
		       'tree as shipped and with the variant (default: %(default)s)')
	c.add_argument('--live', nargs='*', default=list(CHECK_LIVE),
		       help='trees to run in the live profile too (a swap area): as shipped and '
		       'with each variant only that profile reaches (default: %(default)s)')
	c.add_argument('--numa', nargs='*', default=list(CHECK_NUMA),
		       help='trees to run on two NUMA nodes too (x86_64-numa): as shipped and '
		       'with each variant only that target reaches (default: %(default)s)')
	c.add_argument('--rt', nargs='*', default=list(CHECK_RT),
		       help='trees to run in the PREEMPT_RT profile too: as shipped and with the '
		       'variant (default: %(default)s)')
	c.add_argument('--boots', nargs='*', default=list(CHECK_BOOTS), metavar='OPTION',
		       help='boot options to boot the first tree with, one run each, as shipped '
		       'and with the variant (default: %(default)s)')
	c.add_argument('--no-series', dest='series', action='store_false',
		       help="skip writing and checking the first tree's patch series")
	c.add_argument('--timeout', type=positive, default=300)
	add_jobs_option(c)
	add_export_options(c, 'every kernel run')
	add_install_option(c)
	add_lock_option(c)
	c.set_defaults(func=cmd_check)

	s = sub.add_parser('patches', help='write the series a maintainer receives (upstream, or '
			   'the stable backports of an exposed tree) and check it: checkpatch, '
			   'git am, bisectable builds, the suite, get_maintainer',
			   epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
	s.add_argument('--tree', default=DEFAULT_TREE,
		       help='Debian kernel series or a path to your own kernel tree (copied, never '
		       'modified); default %(default)s')
	s.add_argument('--out', help='directory for the patch files (default: '
		       '~/.cache/thp-ds/series/<tree>)')
	s.add_argument('--no-build', action='store_true',
		       help='skip the builds at every patch and the suite run')
	s.add_argument('--timeout', type=positive, default=300)
	add_install_option(s)
	add_refresh_option(s)
	add_lock_option(s)
	s.set_defaults(func=cmd_patches)

	m = sub.add_parser('matrix', help='run each tree as shipped and with every unpatched '
			   'variant; write the verdict table (markdown and JSON)')
	m.add_argument('--trees', nargs='+', default=list(MATRIX_TREES),
		       help='trees (series or paths) to run (default: %(default)s)')
	m.add_argument('--out', default=os.path.join(suite.REPO, 'docs', 'results'),
		       help='output directory (default: docs/results of this repository)')
	m.add_argument('--targets', nargs='+', default=['x86_64'],
		       help='x86_64, x86_64-numa, arm64-4k, arm64-16k, arm64-64k, and any of them '
		       'but x86_64-numa with -smpN for N CPUs, e.g. x86_64-smp4 (default: '
		       '%(default)s)')
	m.add_argument('--profiles', nargs='+', default=['default'],
		       choices=sorted(runner.PROFILES),
		       help='build profiles to run each tree in (default: %(default)s); live: '
		       'shipped, backported, seed-reclaim and the variants only the live '
		       'profile reaches, on the trees whose KUnit can run a suite after boot')
	m.add_argument('--boots', nargs='+', default=[DEFAULT_BOOT], metavar='OPTION',
		       help='kernel command-line options to boot each tree with, one column each '
		       f'({DEFAULT_BOOT!r}: the tool\'s own boot only; default: %(default)s); '
		       'with an option, as shipped, backported and seed-reclaim run.  The boot '
		       f'columns: {" ".join(BOOT_COLUMNS)}')
	m.add_argument('--merge', action='store_true',
		       help="keep the runs of the existing matrix.json whose tree and setting "
		       '(target, profile, boot) this matrix does not run (add a tree without '
		       're-running every target); proof.md is left as it is')
	m.add_argument('--timeout', type=positive, default=300)
	add_jobs_option(m)
	add_export_options(m, 'every run')
	add_install_option(m)
	add_lock_option(m)
	m.set_defaults(func=cmd_matrix)

	rp = sub.add_parser('repeat', help='build once, boot the same kernel N times, tabulate '
			    'each run\'s verdict, DEBUG_LIST reports and oopses')
	add_run_options(rp)
	add_target_options(rp)
	add_boot_option(rp)
	rp.add_argument('--filter', default=None,
			help='kunit.py filter glob (default: every case)')
	rp.add_argument('--count', type=positive, default=20)
	rp.add_argument('--out', help='also write the table here (markdown)')
	add_export_options(rp, 'every run')
	rp.set_defaults(func=cmd_repeat)

	rr = sub.add_parser('rerun', help='run the suites again from KUnit\'s debugfs on the '
			    'debug kernel, as on a live system; check it is left as it was')
	rr.add_argument('--tree', default=DEFAULT_TREE)
	rr.add_argument('--timeout', type=positive, default=600)
	add_install_option(rr)
	add_lock_option(rr)
	add_refresh_option(rr)
	rr.set_defaults(func=cmd_rerun)

	j = sub.add_parser('jobs', help='the runs of a matrix as LAVA jobs: build each kernel, '
			   'stage it, write its job definition and the record its results are '
			   'judged against (docs/lava.md)')
	j.add_argument('--trees', nargs='+', default=list(MATRIX_TREES),
		       help='trees (series or paths) (default: %(default)s)')
	j.add_argument('--targets', nargs='+', default=['x86_64'],
		       help='targets, as for matrix (default: %(default)s)')
	j.add_argument('--profiles', nargs='+', default=['default'],
		       choices=sorted(runner.PROFILES), help='build profiles (default: %(default)s)')
	j.add_argument('--boots', nargs='+', default=[DEFAULT_BOOT], metavar='OPTION',
		       help='boot columns, as for matrix (default: %(default)s)')
	j.add_argument('--out', help='where the jobs, sidecars and kernels go (default: '
		       '~/.cache/thp-ds/lava)')
	j.add_argument('--artifact-url', default='', metavar='URL',
		       help='the URL the lab will serve --out at (default: file:// URLs of this '
		       'machine, for a LAVA on it)')
	j.add_argument('--timeout', type=positive, default=300,
		       help="bound on each guest's run, as for run (default %(default)s)")
	add_jobs_option(j)
	add_install_option(j)
	add_lock_option(j)
	j.set_defaults(func=cmd_jobs)

	lr = sub.add_parser('lava-run', help="run the jobs thp-ds jobs wrote with LAVA's own "
			    'dispatcher (lava-run) on this machine, judge them, write their matrix')
	lr.add_argument('--out', help='where thp-ds jobs wrote them (default: ~/.cache/thp-ds/lava)')
	lr.add_argument('--match', default='*', metavar='GLOB',
			help='only the jobs whose name matches (default: every job)')
	lr.add_argument('--compare', metavar='MATRIX_JSON',
			help="compare every run's verdict and cells with the same runs of a "
			"matrix.json (thp-ds matrix's); exit 1 on any difference")
	add_export_options(lr, 'every job')
	add_install_option(lr)
	add_lock_option(lr)
	lr.set_defaults(func=cmd_lava_run)

	ll = sub.add_parser('lava-lab', help='a LAVA lab on this machine (lava-server, N workers, '
			    'loopback only): start, stop, status, or run the jobs thp-ds jobs wrote '
			    'on it (docs/lava.md)')
	ll.add_argument('action', choices=('start', 'stop', 'status', 'run', 'matrix'),
			help='start, stop or status of the lab; run: the jobs thp-ds jobs wrote; '
			'matrix: start, write the matrix\'s jobs (as thp-ds jobs), run them')
	ll.add_argument('--trees', nargs='+', default=list(MATRIX_TREES),
			help='matrix: trees (default: %(default)s)')
	ll.add_argument('--targets', nargs='+', default=['x86_64'],
			help='matrix: targets (default: %(default)s)')
	ll.add_argument('--profiles', nargs='+', default=['default'], choices=sorted(runner.PROFILES),
			help='matrix: build profiles (default: %(default)s)')
	ll.add_argument('--boots', nargs='+', default=[DEFAULT_BOOT], metavar='OPTION',
			help='matrix: boot columns (default: %(default)s)')
	ll.add_argument('--artifact-url', default='', metavar='URL', help=argparse.SUPPRESS)
	add_jobs_option(ll, 'matrix: ')
	ll.add_argument('--workers', type=positive, default=2,
			help='lava-worker processes, each with a qemu device (default %(default)s)')
	ll.add_argument('--out', help='where thp-ds jobs wrote the jobs (default: '
			'~/.cache/thp-ds/lava)')
	ll.add_argument('--match', default='*', metavar='GLOB',
			help='run: only the jobs whose name matches')
	ll.add_argument('--timeout', type=positive, default=300,
			help='run: the guests\' bound the jobs were written with (default %(default)s)')
	ll.add_argument('--compare', metavar='MATRIX_JSON',
			help='run: compare every verdict and cell with a thp-ds matrix.json')
	add_export_options(ll, 'every job')
	add_install_option(ll)
	add_lock_option(ll)
	ll.set_defaults(func=cmd_lava_lab)

	b = sub.add_parser('bisect', help='the first commit of your git tree the suite fails on: '
			   'git bisect run with the suite as its test, in a clone (your tree is '
			   'never written)', epilog=BISECT_CODES,
			   formatter_class=argparse.RawDescriptionHelpFormatter)
	add_oracle_options(b)
	b.add_argument('--good', required=True, metavar='REV',
		       help='a revision the suite passes on')
	b.add_argument('--bad', required=True, metavar='REV',
		       help='a later revision the suite fails on')
	b.set_defaults(func=cmd_bisect)

	o = sub.add_parser('oracle', help='judge one revision for git bisect run: exit 0 PASS, '
			   '1 FAIL, 125 cannot be judged; e.g. git bisect run thp-ds oracle --tree .',
			   epilog=ORACLE_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
	add_oracle_options(o)
	o.set_defaults(func=cmd_oracle)

	e = sub.add_parser('export', help='result documents (JSON) and JUnit XML of recorded runs: '
			   'result.json files, matrix.json, or directories of runs')
	e.add_argument('inputs', nargs='+', metavar='RESULT',
		       help='a result.json, a matrix.json, or a directory searched for result.json '
		       '(e.g. ~/.cache/thp-ds/results)')
	add_export_options(e, 'the runs')
	e.add_argument('--kcidb', metavar='FILE',
		       help="write the runs as KCIDB JSON (KernelCI's results database, schema "
		       '5.3; docs/lava.md)')
	e.set_defaults(func=cmd_export)

	f = sub.add_parser('fetch', help='fetch and prepare a tree without building it')
	f.add_argument('--tree', default=DEFAULT_TREE)
	add_lock_option(f)
	add_refresh_option(f)
	f.set_defaults(func=cmd_fetch)

	ls = sub.add_parser('list', help='kernel series the Debian archive offers now, and the '
			    'unpatched variants of each port')
	add_lock_option(ls)
	add_refresh_option(ls)
	ls.set_defaults(func=cmd_list)

	ca = sub.add_parser('cache', help='what the cache holds (trees, builds, debs, apt lists, '
			    'ccache, results; free disk), and removing parts of it')
	ca.add_argument('--prune', nargs='+', metavar='TREE',
			help='remove these trees (a name as listed, a series such as 6.12, or the '
			'path of your tree) with their build directories')
	ca.add_argument('--prune-builds', action='store_true',
			help='remove every build directory (the next run builds from scratch, '
			'with ccache)')
	ca.add_argument('--prune-debs', action='store_true',
			help='remove the downloaded .debs and what interrupted runs left unpacked')
	add_lock_option(ca)
	ca.set_defaults(func=cmd_cache)
	return p


def first_line(e: BaseException) -> str:
	text = str(e).strip()
	return text.splitlines()[0] if text else type(e).__name__


def locks_cache(args: argparse.Namespace) -> bool:
	"""Every command touches trees, builds, debs or apt state, except
	'export' (it reads results), a 'cache' that only reports, and
	'lava-lab status' and 'stop' (the lab's processes, not the cache)."""
	if args.command == 'export':
		return False
	if args.command == 'lava-lab' and args.action in ('status', 'stop'):
		return False
	return args.command != 'cache' or cache.prunes(args)


class Terminated(KeyboardInterrupt):
	"""SIGTERM or SIGHUP: stop as on Ctrl-C, so that every cleanup runs."""


def _terminate(signum: int, frame) -> None:
	raise Terminated(signal.Signals(signum).name)


def main(argv: Optional[List[str]] = None) -> int:
	words = sys.argv[1:] if argv is None else argv
	if words[:1] != ['oracle']:
		return _main(argv)
	# git bisect run counts 1-127 but 125 as "bad": anything that is not a
	# verdict (bad usage, a busy cache, an interruption, a bug in the tool)
	# must stop the bisection instead (255)
	try:
		status = _main(argv)
	except SystemExit as e:		# argparse
		status = e.code if isinstance(e.code, int) else 2
	return status if status in (bisect.GOOD, bisect.BAD, bisect.SKIP) else bisect.ABORT


def _main(argv: Optional[List[str]] = None) -> int:
	args = parser().parse_args(argv)	# argparse itself exits 2 on bad usage
	# Python dies at once on SIGTERM, skipping the cleanups that stop
	# kunit.py's make and QEMU (which run in a session of their own).
	for sig in (signal.SIGTERM, signal.SIGHUP):
		signal.signal(sig, _terminate)
	try:
		if getattr(args, 'refresh', False):
			debian_source.request_refresh()
		if not locks_cache(args):
			return args.func(args)
		words = sys.argv[1:] if argv is None else argv
		# One thp-ds at a time per cache, for the whole command: a second
		# one must not check a tree out under a running build.
		with lock.held(runner.cache_dir(), ' '.join(['thp-ds', *words]),
			       wait=not args.no_wait):
			return args.func(args)
	except ThpDsError as e:
		print(f'thp-ds: {e}', file=sys.stderr)
		return e.exit_code
	except KeyboardInterrupt:
		print('thp-ds: interrupted; the next run repairs what was left half done',
		      file=sys.stderr)
		return 130
	except (OSError, subprocess.CalledProcessError) as e:
		print(f'thp-ds: {first_line(e)}', file=sys.stderr)
		return 3
	except Exception as e:	# a bug in the tool: still one line, and no verdict
		if os.environ.get('THP_DS_TRACEBACK'):
			traceback.print_exc()
		print(f'thp-ds: internal error: {type(e).__name__}: {first_line(e)} '
		      '(THP_DS_TRACEBACK=1 shows where)', file=sys.stderr)
		return 3
