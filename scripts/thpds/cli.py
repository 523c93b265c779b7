"""thp-ds: fetch a kernel tree, apply the deferred-split suite, build, boot, report."""

import argparse
import os
import sys
import unittest
from typing import List, Optional, Tuple

from thpds import debian_source, host, kunit_run, matrix, runner, suite, tree, variants
from thpds.errors import UsageError

DEFAULT_TREE = '6.12'
CHECK_TREES = ('6.12', '7.2')
# The variant .ci/run proves is caught on the default tree.
CHECK_VARIANT = 'seed-reclaim'
# What a command reports in one line instead of a traceback.
EXPECTED_ERRORS = (UsageError, suite.SuiteError, tree.TreeError, debian_source.FetchError)


def check_arch(arch: str) -> None:
	if arch != 'x86_64':
		raise UsageError(f'--arch {arch}: the suite needs transparent huge pages, which '
				 'UML (arch/um) cannot build (it does not select '
				 'HAVE_ARCH_TRANSPARENT_HUGEPAGE); only x86_64 under QEMU is supported')


def tally(statuses) -> Tuple[int, int, int]:
	"""(passed, failed, skipped) of kunit.py statuses."""
	passed = sum(1 for s in statuses if s == 'PASS')
	skipped = sum(1 for s in statuses if s == 'SKIP')
	return passed, len(statuses) - passed - skipped, skipped


def report(run: runner.TreeRun) -> bool:
	"""Print the verdict of one run; True when it is what it should be.

	As shipped, every case must pass (or skip).  On an unpatched variant,
	exactly the cases the variant declares must fail.
	"""
	rec, res = run.record, run.result
	suite_cases = [c for c in res.cases if c.name.startswith(kunit_run.SUITE)]
	passed, failed, skipped = tally([c.status for c in res.cases])
	head = (f'[thp-ds] {rec["origin"]} {rec["version"]} ({rec["variant"]}): {passed} passed, '
		f'{failed} failed, {skipped} skipped ({rec["seconds"]} s, log {res.log_path})')
	print(head)
	if res.oops_path:
		with open(res.oops_path) as f:
			first = f.read().splitlines()
		where = next((line for line in first if 'RIP:' in line), '')
		print(f'[thp-ds]   the guest crashed: {first[0].split("] ", 1)[-1]}')
		if where:
			print(f'[thp-ds]   {where.split("] ", 1)[-1]}')
		print(f'[thp-ds]   oops excerpt: {res.oops_path}')
	if not suite_cases:
		print('[thp-ds]   no case of the suite ran: build error, crash or timeout; '
		      'see the log')
		return False
	for w in res.suite_warnings:
		print(f'[thp-ds]   compiler warning in the suite: {w}')
	if res.suite_warnings:
		return False
	bad = [c for c in res.cases if c.status not in ('PASS', 'SKIP')]
	if run.applied.variant is None:
		for c in bad:
			print(f'[thp-ds]   {c.status}: {c.name}')
		if res.returncode != 0 and not bad:
			print(f'[thp-ds]   kunit.py exited {res.returncode} without a failing case: '
			      'crash or timeout; see the log')
		return res.returncode == 0 and not bad
	verdict = variants.judge(run.applied.variant.expect_fail, rec['cases'])
	print(f'[thp-ds]   variant {run.applied.variant.name}: {run.applied.variant.title}')
	for name in sorted(verdict.caught):
		print(f'[thp-ds]   caught (failed as declared): {name}')
	for name in sorted(verdict.missed):
		print(f'[thp-ds]   MISSED (declared to fail, {rec["cases"].get(name, "did not run")}): '
		      f'{name}')
	for name in sorted(verdict.collateral):
		print(f'[thp-ds]   UNEXPECTED failure (not declared for this variant): {name}')
	print('[thp-ds]   ' + ('variant caught exactly as declared' if verdict.ok
				  else 'variant NOT caught as declared'))
	return verdict.ok


def cmd_run(args: argparse.Namespace) -> int:
	check_arch(args.arch)
	host.ensure(args.install_deps)
	run = runner.run_tree(args.tree, args.timeout, args.filter, args.accel, args.unpatched)
	return 0 if report(run) else 1


def unit_tests() -> unittest.TestResult:
	"""The tooling's own unit tests (scripts/tests), run in this process."""
	scripts = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
	tests = unittest.defaultTestLoader.discover(os.path.join(scripts, 'tests'),
						    top_level_dir=scripts)
	return unittest.TextTestRunner(stream=sys.stdout, verbosity=1).run(tests)


def cmd_check(args: argparse.Namespace) -> int:
	"""The project's tests: tooling unit tests, the suite on each tree as
	shipped, and the declared variant on the first tree.  Counts are cases;
	a run that produced no verdict at all counts as one failure."""
	host.ensure(args.install_deps)
	result = unit_tests()
	failed = len(result.failures) + len(result.errors)
	skipped = len(result.skipped)
	passed = result.testsRun - failed - skipped
	lines = [f'tooling unit tests: {passed} passed, {failed} failed, {skipped} skipped']
	jobs = [(spec, None) for spec in args.trees]
	if args.variant:
		jobs.append((args.trees[0], args.variant))
	for spec, variant in jobs:
		label = f'{spec} {variant or variants.SHIPPED}'
		try:
			run = runner.run_tree(spec, args.timeout, variant=variant)
		except EXPECTED_ERRORS as e:
			print(f'thp-ds: {label}: {e}', file=sys.stderr)
			failed += 1
			lines.append(f'{label}: could not be prepared: {e}')
			continue
		ok = report(run)
		rec = run.record
		if variant:
			# one check per declared case: did it fail, as it must?
			verdict = variants.judge(run.applied.variant.expect_fail, rec['cases'])
			p = len(verdict.caught)
			f = len(verdict.missed) + len(verdict.collateral)
			s = 0
		else:
			p, f, s = tally(list(rec['cases'].values()))
		if not ok and f == 0:
			f = 1	# no verdict: build error, crash or timeout
		passed, failed, skipped = passed + p, failed + f, skipped + s
		lines.append(f'{label} ({rec["origin"]} {rec["version"]}): {p} passed, {f} failed, '
			     f'{s} skipped, {rec["seconds"]} s')
	print('\n[thp-ds] summary')
	for line in lines:
		print('[thp-ds]   ' + line)
	print(f'{passed} passed, {failed} failed' + (f', {skipped} skipped' if skipped else ''))
	return 1 if failed else 0


def cmd_matrix(args: argparse.Namespace) -> int:
	"""Run every tree as shipped and with each variant; write docs/results."""
	host.ensure(args.install_deps)
	records = []
	all_ok = True
	for spec in args.trees:
		port = suite.port_for(tree.kernel_version(runner.prepare(spec).path))
		for variant in [None] + sorted(variants.for_port(port)):
			run = runner.run_tree(spec, args.timeout, variant=variant)
			all_ok &= report(run)
			records.append(run.record)
	os.makedirs(args.out, exist_ok=True)
	with open(os.path.join(args.out, 'matrix.md'), 'w') as f:
		f.write(matrix.render_markdown(records))
	with open(os.path.join(args.out, 'matrix.json'), 'w') as f:
		f.write(matrix.render_json(records))
	print(f'[thp-ds] wrote {args.out}/matrix.md and matrix.json')
	return 0 if all_ok else 1


def cmd_repeat(args: argparse.Namespace) -> int:
	"""Run the same tree, variant and filter N times; tabulate how each ended."""
	host.ensure(args.install_deps)
	runs = []
	rec = None
	cases: List[str] = []
	for _ in range(args.count):
		run = runner.run_tree(args.tree, args.timeout, args.filter, variant=args.unpatched)
		rec = run.record
		cases = cases or sorted(rec['cases'])
		with open(run.result.log_path) as f:
			runs.append(matrix.classify_repeat(rec, f.read(), cases))
		print(f'[thp-ds] run {len(runs)}/{args.count}: '
		      f'{"failed" if runs[-1]["failed"] else "passed"}, '
		      f'{runs[-1]["debug_list_reports"]} DEBUG_LIST reports'
		      + (f', oops: {runs[-1]["oops"]}' if runs[-1]['oops'] else ''), flush=True)
	text = matrix.render_repeat(rec, runs, cases)
	print(text)
	if args.out:
		os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
		with open(args.out, 'w') as f:
			f.write(text)
	return 0


def cmd_fetch(args: argparse.Namespace) -> int:
	t = runner.prepare(args.tree)
	print(f'{t.meta["origin"]} {t.meta["version"]} at {t.path}')
	return 0


def cmd_list(args: argparse.Namespace) -> int:
	apt = debian_source.PrivateApt(runner.cache_dir())
	apt.update()
	for series in debian_source.available_series(apt):
		_, version, suite_name = debian_source.resolve(apt, series)
		print(f'{series}\t{version}\t{suite_name}')
	for port in suite.ports():
		found = variants.for_port(port)
		print(f'port {port}: unpatched variants: {", ".join(sorted(found)) or "none"}')
	return 0


def parser() -> argparse.ArgumentParser:
	p = argparse.ArgumentParser(prog='thp-ds', description=__doc__)
	sub = p.add_subparsers(dest='command', required=True)

	r = sub.add_parser('run', help='apply the suite to a tree, build, boot in QEMU, report')
	r.add_argument('--tree', default=DEFAULT_TREE,
		       help='Debian kernel series (6.12, 7.2, ...) or a path to your own kernel '
		       'tree (copied, never modified); default %(default)s')
	r.add_argument('--unpatched', metavar='VARIANT',
		       help="put a historical bug back (see 'thp-ds list'): the run passes when "
		       'exactly the cases the variant declares fail')
	r.add_argument('--arch', default='x86_64', help='only x86_64 (QEMU) is supported')
	r.add_argument('--filter', help='kunit.py filter glob, e.g. "thp_deferred_split.*migrate*"')
	r.add_argument('--timeout', type=int, default=300,
		       help='seconds the guest may run before it is stopped (default %(default)s)')
	r.add_argument('--accel', choices=('tcg', 'auto'), default='tcg',
		       help="tcg (default): QEMU's emulator only, the same on every host; auto: "
		       'whatever kunit.py asks for (newer ones try KVM first)')
	r.add_argument('--install-deps', action='store_true',
		       help='apt-get install missing host packages (needs root)')
	r.set_defaults(func=cmd_run)

	c = sub.add_parser('check', help="the project's tests: tooling unit tests, then the "
			   'suite on each tree; ends with "N passed, N failed"')
	c.add_argument('--trees', nargs='+', default=list(CHECK_TREES),
		       help='trees to run the suite on (default: %(default)s)')
	c.add_argument('--variant', default=CHECK_VARIANT,
		       help='unpatched variant to prove caught on the first tree '
		       '(default %(default)s; "" for none)')
	c.add_argument('--timeout', type=int, default=300)
	c.add_argument('--install-deps', action='store_true',
		       help='apt-get install missing host packages (needs root)')
	c.set_defaults(func=cmd_check)

	m = sub.add_parser('matrix', help='run each tree as shipped and with every unpatched '
			   'variant; write the verdict table (markdown and JSON)')
	m.add_argument('--trees', nargs='+', default=list(CHECK_TREES))
	m.add_argument('--out', default=os.path.join(suite.REPO, 'docs', 'results'),
		       help='output directory (default: docs/results of this repository)')
	m.add_argument('--timeout', type=int, default=300)
	m.add_argument('--install-deps', action='store_true')
	m.set_defaults(func=cmd_matrix)

	rp = sub.add_parser('repeat', help='run one tree/variant/filter N times and tabulate '
			    'how often the cases failed, DEBUG_LIST reported, the guest oopsed')
	rp.add_argument('--tree', default=DEFAULT_TREE)
	rp.add_argument('--unpatched', metavar='VARIANT')
	rp.add_argument('--filter', default='thp_deferred_split_race.*')
	rp.add_argument('--count', type=int, default=20)
	rp.add_argument('--timeout', type=int, default=300)
	rp.add_argument('--out', help='also write the table here (markdown)')
	rp.add_argument('--install-deps', action='store_true')
	rp.set_defaults(func=cmd_repeat)

	f = sub.add_parser('fetch', help='fetch and prepare a tree without building it')
	f.add_argument('--tree', default=DEFAULT_TREE)
	f.set_defaults(func=cmd_fetch)

	ls = sub.add_parser('list', help='kernel series the Debian archive offers now, and the '
			    'unpatched variants of each port')
	ls.set_defaults(func=cmd_list)
	return p


def main(argv: Optional[List[str]] = None) -> int:
	args = parser().parse_args(argv)
	try:
		return args.func(args)
	except EXPECTED_ERRORS as e:
		print(f'thp-ds: {e}', file=sys.stderr)
		return 2
