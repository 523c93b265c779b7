"""What a run means: one typed record per run, and the one rule that judges it.

Every command (run, check, matrix, repeat) renders from judge(); nothing
else decides whether a run passed.  The rules:

- A case passes only when it ran and passed.  A case selected for the run
  (by the suite's case tables and --filter) that has no result did not run,
  and that fails the run.
- On an unpatched variant, each case it declares (Expect-Fail) must fail;
  every other selected case must run and pass.  A declared case may end in
  a guest crash only where the variant says so (May-Crash).
- A SKIP is counted apart, with its reason; it is allowed only where the
  port declares that case may skip on its tree.  A run where nothing passed
  proves nothing and fails.
- A guest oops not pinned on a case allowed to crash, kunit.py exiting
  non-zero without a failing case (or a would-be skip that a KUnit without
  kunit_skip() had to report as a failure), a guest stopped by the timeout, compiler
  warnings in the suite, a suite teardown that reports an error, and (as
  shipped) any report of the kernel's debug checks (WARN, KASAN, lockdep,
  DEBUG_LIST, bad page) each fail the run with their reason.  A kernel that did not build is an
  infrastructure failure (exit status 3), not a verdict on the kernel.
"""

import dataclasses
import enum
import fnmatch
from typing import Dict, FrozenSet, List, Optional, Tuple


# How a run is judged (RunRecord.judged): against its port's declarations
# (Debian's tree of the series the port was written for), or on its own
# results: every case must pass (any other tree).
JUDGED_DECLARED = "its port's declarations"
JUDGED_OWN = 'its own results'


class Status(enum.Enum):
	"""How a case ended, in kunit.py's words plus NOTRUN."""
	PASS = 'PASS'
	FAIL = 'FAIL'
	SKIP = 'SKIP'
	ERROR = 'ERROR'		# it was running when the guest crashed or was stopped
	NOTRUN = 'NOTRUN'	# no result: the guest died before it, or it was never reached


@dataclasses.dataclass(frozen=True)
class Case:
	name: str		# suite.case, or suite.case.param for a parameterised case
	status: Status
	reason: str = ''	# the skip reason, or why there is no result


@dataclasses.dataclass(frozen=True)
class Expectation:
	"""What a run of this tree and variant must show."""
	expect_fail: FrozenSet[str] = frozenset()	# variant: cases that must fail
	may_crash: FrozenSet[str] = frozenset()		# variant: of those, may crash the guest
	may_skip: Tuple[Tuple[str, str], ...] = ()	# port: (case glob, reason substring)
	# expect_fail holds the tree's declared exposures (as shipped, it lacks
	# an upstream fix), not an unpatched variant's bug
	exposure: bool = False
	# variant: cases its bug breaks only when a race lands (timing-dependent
	# cases, never the deterministic ones): they may pass or fail
	may_fail: FrozenSet[str] = frozenset()

	def declares_fail(self, name: str) -> bool:
		return _declared(name, self.expect_fail)

	def allows_crash(self, name: str) -> bool:
		return _declared(name, self.may_crash)

	def allows_fail(self, name: str) -> bool:
		return _declared(name, self.may_fail)

	def allows_skip(self, name: str, reason: str) -> bool:
		return any(fnmatch.fnmatchcase(name, glob) and text in reason
			   for glob, text in self.may_skip)


def _declared(name: str, names: FrozenSet[str]) -> bool:
	"""A declaration of 'suite.case' covers each of its parameters."""
	return any(name == n or name.startswith(n + '.') for n in names)


@dataclasses.dataclass
class RunRecord:
	"""One kernel run, as recorded: what ran, what was expected, how it ended."""
	tree: str
	origin: str
	version: str
	kernel: str
	port: str
	variant: str
	selected: Tuple[str, ...]		# suite.case functions the run had to run
	cases: Tuple[Case, ...]
	expect: Expectation = Expectation()
	filter: str = ''
	built: bool = True
	kunit_returncode: int = 0
	timed_out: bool = False
	oops: str = ''				# first line (and RIP) of the guest's oops
	suite_warnings: Tuple[str, ...] = ()	# compiler warnings in the suite's files
	teardown_errors: Tuple[str, ...] = ()	# the suite could not restore the system
	kernel_reports: Tuple[str, ...] = ()	# KASAN, lockdep, DEBUG_LIST, ... in the log
	failed_checks: Tuple[str, ...] = ()	# 'case:line' of each failed expectation
	parse_errors: Tuple[str, ...] = ()	# where kunit.py lost track of the KTAP
	# what a live run's system lacked (live.py): no swap area, an init that
	# did not finish, a suite with no results
	live_errors: Tuple[str, ...] = ()
	# skips that a KUnit without kunit_skip() (5.10) reported as failures
	unskippable: Tuple[str, ...] = ()
	config_sha256: str = ''
	# each failed result's first message: ('suite.case[.param]', text)
	failures: Tuple[Tuple[str, str], ...] = ()
	debian_suite: str = ''			# the archive suite the Debian tree came from
	# how the run is judged: against its port's declarations (Debian's tree
	# of the port's own series), on its own results (any other tree), or,
	# on an unpatched variant, against "variant <name>'s declarations"
	judged: str = JUDGED_DECLARED
	suite_source: str = 'this repository'	# or the suite the tree carries
	offline: str = ''			# why the archive was not read (a cached tree was used)
	kunit_from: str = ''			# the tree whose kunit.py ran it, if not its own
	suite_revision: str = ''
	accel: str = ''
	arch: str = 'x86_64'			# x86_64, or arm64-<page size>
	profile: str = 'default'
	boot: Tuple[str, ...] = ()		# kernel options added to the tool's own
	kconfig_add: Tuple[str, ...] = ()	# CONFIG_X=v the user added (--kconfig-add)
	date: str = ''
	seconds: float = 0.0
	log: str = ''

	def to_json(self) -> Dict:
		out = dataclasses.asdict(self)
		out['cases'] = [{'name': c.name, 'status': c.status.value, 'reason': c.reason}
				for c in self.cases]
		out['expect'] = {'expect_fail': sorted(self.expect.expect_fail),
				 'may_crash': sorted(self.expect.may_crash),
				 'may_skip': [list(s) for s in self.expect.may_skip],
				 'exposure': self.expect.exposure,
				 'may_fail': sorted(self.expect.may_fail)}
		for key in ('selected', 'suite_warnings', 'teardown_errors', 'kernel_reports',
			    'failed_checks', 'parse_errors', 'unskippable', 'boot', 'live_errors',
			    'kconfig_add'):
			out[key] = list(getattr(self, key))
		out['failures'] = dict(self.failures)
		return out

	@classmethod
	def from_json(cls, data: Dict) -> 'RunRecord':
		fields = {f.name for f in dataclasses.fields(cls)}
		kw = {k: v for k, v in data.items() if k in fields}
		kw['cases'] = tuple(Case(c['name'], Status(c['status']), c.get('reason', ''))
				    for c in data['cases'])
		exp = data.get('expect', {})
		kw['expect'] = Expectation(frozenset(exp.get('expect_fail', ())),
					   frozenset(exp.get('may_crash', ())),
					   tuple(tuple(s) for s in exp.get('may_skip', ())),
					   bool(exp.get('exposure', False)),
					   frozenset(exp.get('may_fail', ())))
		for key in ('selected', 'suite_warnings', 'teardown_errors', 'kernel_reports',
			    'failed_checks', 'parse_errors', 'unskippable', 'boot', 'live_errors',
			    'kconfig_add'):
			kw[key] = tuple(data.get(key, ()))
		kw['failures'] = tuple(sorted((data.get('failures') or {}).items()))
		return cls(**kw)

	@property
	def setting(self) -> str:
		"""Where the run differs from a default one: target (other than
		x86_64), profile (other than default), boot options, added Kconfig;
		'' for none."""
		parts = [] if self.arch == 'x86_64' else [self.arch]
		parts += [] if self.profile == 'default' else [self.profile]
		return ' '.join(parts + list(self.boot) + list(self.kconfig_add))

	@property
	def label(self) -> str:
		"""The run's name in tables: tree, its setting, variant."""
		setting = f' {self.setting}' if self.setting else ''
		return f'{self.tree}{setting} {self.variant}'

	def case_status(self, name: str) -> Optional[Status]:
		return next((c.status for c in self.cases if c.name == name), None)


class Outcome(enum.Enum):
	PASSED = 'passed'
	FAILED = 'failed'
	SKIPPED = 'skipped'


@dataclasses.dataclass(frozen=True)
class Judgement:
	"""One case, judged against what the run expected of it."""
	name: str
	status: Status
	outcome: Outcome
	why: str


@dataclasses.dataclass
class Verdict:
	judgements: List[Judgement]
	reasons: List[str]			# run-level failures, in words
	infrastructure: bool = False		# the run could not produce a verdict on the kernel
	variant: bool = False			# judged against an unpatched variant's declaration
	exposure: bool = False			# ... or the shipped tree's declared exposures
	must_fail: bool = True			# some selected case is declared to fail (not only may)

	@property
	def ok(self) -> bool:
		return not self.reasons and all(j.outcome != Outcome.FAILED for j in self.judgements)

	def count(self, outcome: Outcome) -> int:
		return sum(1 for j in self.judgements if j.outcome == outcome)

	@property
	def exit_code(self) -> int:
		if self.ok:
			return 0
		return 3 if self.infrastructure else 1

	def tally(self) -> Tuple[int, int, int]:
		"""(passed, failed, skipped) cases; a run-level failure that no case
		shows counts as one more failure, so that it is never lost."""
		passed, failed = self.count(Outcome.PASSED), self.count(Outcome.FAILED)
		if not self.ok and failed == 0:
			failed = 1
		return passed, failed, self.count(Outcome.SKIPPED)

	def summary(self) -> str:
		if self.infrastructure:
			return 'no verdict: ' + '; '.join(self.reasons)
		passed, failed, skipped = self.tally()
		word = 'PASS' if self.ok else 'FAIL'
		if self.variant:
			caught = sum(1 for j in self.judgements if j.outcome == Outcome.PASSED
				     and j.status in (Status.FAIL, Status.ERROR))
			if self.exposure and self.ok and not caught:
				# a boot option took the exposed paths away (the judge
				# let every declared exposure skip)
				return (f'{word}: not exposed in this boot (every declared exposure '
					f'skipped; {passed} other cases passed, {failed} wrong, '
					f'{skipped} skipped)')
			if self.exposure:
				return (f'{word}: {"exposed" if self.ok else "NOT"} as declared '
					f'({caught} declared exposures failed, {passed - caught} other '
					f'cases passed, {failed} wrong, {skipped} skipped)')
			if not self.must_fail:
				return (f'{word}: {"as" if self.ok else "NOT as"} declared (no selected '
					f'case must fail here: {caught} failed where the variant allows '
					f'it, {passed - caught} other cases passed, {failed} wrong, '
					f'{skipped} skipped)')
			return (f'{word}: {"caught" if self.ok else "NOT caught"} as declared '
				f'({caught} declared failures, {passed - caught} other cases passed, '
				f'{failed} wrong, {skipped} skipped)')
		return f'{word} ({passed} passed, {failed} failed, {skipped} skipped)'


def in_selection(name: str, selected: Tuple[str, ...]) -> Optional[str]:
	"""The selected case function that result @name belongs to, if any."""
	return next((s for s in selected if name == s or name.startswith(s + '.')), None)


def _judge_case(case: Case, expect: Expectation, oops: str, variant: bool,
		timed_out: bool = False) -> Judgement:
	def j(outcome: Outcome, why: str) -> Judgement:
		return Judgement(case.name, case.status, outcome, why)

	reason = f' ({case.reason})' if case.reason else ''
	if expect.declares_fail(case.name):
		if case.status == Status.SKIP and expect.allows_skip(case.name, case.reason):
			return j(Outcome.SKIPPED, f'skipped{reason}, as the port or the boot option '
				 'allows: its path is not there to break')
		if case.status == Status.FAIL:
			return j(Outcome.PASSED, 'failed: the tree lacks the fix, as the port declares'
				 if expect.exposure else 'failed, as the variant declares')
		# a guest that dies mid-flood may never print its oops: a death
		# that is not the timeout counts as the crash the variant allows
		if case.status == Status.ERROR and not timed_out and expect.allows_crash(case.name):
			return j(Outcome.PASSED, 'crashed the guest, which the variant allows'
				 + ('' if oops else ' (no oops reached the console)'))
		if case.status == Status.ERROR:
			return j(Outcome.FAILED, 'MISSED: declared to fail, but the guest '
				 + ('crashed' if oops else 'stopped') + ' in it' + reason)
		if expect.exposure:
			return j(Outcome.FAILED, f'NOT EXPOSED: declared exposed as shipped, but '
				 f'{case.status.value}{reason} (has the tree taken the fix? see '
				 'ports/<X.Y>/exposures)')
		return j(Outcome.FAILED, f'MISSED: declared to fail, but {case.status.value}{reason}')
	if case.status == Status.PASS:
		return j(Outcome.PASSED, 'passed')
	if case.status == Status.SKIP:
		if expect.allows_skip(case.name, case.reason):
			return j(Outcome.SKIPPED, f'skipped{reason}, as the port or the boot option '
				 'allows')
		return j(Outcome.FAILED, f'skipped{reason}, but this case never skips on this tree')
	prefix = 'UNEXPECTED: ' if variant else ''
	if case.status == Status.ERROR and not timed_out and expect.allows_fail(case.name) \
	   and expect.allows_crash(case.name):
		return j(Outcome.PASSED, 'crashed the guest, which the variant allows (its race '
			 'landed)' + ('' if oops else ' (no oops reached the console)'))
	if case.status == Status.FAIL and expect.allows_fail(case.name):
		return j(Outcome.PASSED, 'failed, which the variant allows (its race landed)')
	if case.status == Status.FAIL:
		return j(Outcome.FAILED, prefix + 'failed')
	if case.status == Status.ERROR:
		return j(Outcome.FAILED, prefix + ('the guest crashed in it' if oops
						   else 'the guest stopped in it') + reason)
	return j(Outcome.FAILED, prefix + 'did not run' + reason)


def judge(rec: RunRecord) -> Verdict:
	"""The verdict on one run: the only place that decides pass or fail."""
	if not rec.built:
		return Verdict([Judgement(s, Status.NOTRUN, Outcome.FAILED, 'not built')
				for s in rec.selected],
			       ['the kernel did not build (see the log)'], infrastructure=True)
	# judged against the declaration only when the run selected a declared
	# case (one that must fail, or one a race may fail: May-Fail, May-Fail-On):
	# a --filter that leaves them all out is a plain run
	# (a declaration may name one parameter of a selected case)
	must_fail = any(rec.expect.declares_fail(name) or
			any(n.startswith(name + '.') for n in rec.expect.expect_fail)
			for name in rec.selected)
	variant = must_fail or any(rec.expect.allows_fail(name) for name in rec.selected)
	judgements = []
	for case in rec.cases:
		if in_selection(case.name, rec.selected):
			judgements.append(_judge_case(case, rec.expect, rec.oops, variant,
						      rec.timed_out))
	for sel in rec.selected:
		if not any(in_selection(c.name, (sel,)) for c in rec.cases):
			judgements.append(_judge_case(Case(sel, Status.NOTRUN, 'no result'),
						      rec.expect, rec.oops, variant, rec.timed_out))

	reasons = []
	suites = sorted({s.split('.', 1)[0] for s in rec.selected})
	for suite in suites:
		if not any(c.name.startswith(suite + '.') and c.status != Status.NOTRUN
			   for c in rec.cases):
			reasons.append(f'suite {suite} has no result in kunit.py\'s output')
	crashed = [c for c in rec.cases if c.status == Status.ERROR]
	if rec.oops and not any(rec.expect.allows_crash(c.name) for c in crashed):
		reasons.append(f'the guest crashed: {rec.oops}')
	if rec.timed_out:
		reasons.append('the guest was stopped by the timeout before the suite finished')
	if rec.parse_errors:
		reasons.append('kunit.py\'s reading of the guest\'s KTAP output cannot be trusted '
			       '(a kernel message interrupted it, or a skip printed as "ok"): '
			       + rec.parse_errors[0])
	failing = [j for j in judgements if j.status in (Status.FAIL, Status.ERROR)]
	# kunit.py counts a would-be skip of a KUnit that cannot skip as a failure
	if rec.kunit_returncode != 0 and not failing and not rec.unskippable:
		reasons.append(f'kunit.py exited {rec.kunit_returncode} without a failing case')
	if not any(j.outcome == Outcome.PASSED for j in judgements):
		reasons.append('no case passed: the run proves nothing')
	# a variant that a boot option took every path of caught nothing (a tree
	# whose exposure the option takes away is not exposed in that boot)
	declared = [j for j in judgements if rec.expect.declares_fail(j.name)]
	if declared and not rec.expect.exposure and \
	   all(j.outcome == Outcome.SKIPPED for j in declared):
		reasons.append('every declared failure skipped: the run caught nothing (a boot '
			       'option that takes the path away is declared Unreached-With)')
	for w in rec.suite_warnings:
		reasons.append(f'compiler warning in the suite: {w}')
	for e in rec.teardown_errors:
		reasons.append(f'the suite could not restore the system: {e}')
	for e in rec.live_errors:
		reasons.append(f'the live system was not as the run needs it: {e}')
	if rec.kernel_reports and not variant:
		reasons.append('the kernel reported: ' + '; '.join(rec.kernel_reports))
	return Verdict(judgements, reasons, variant=variant,
		       exposure=variant and rec.expect.exposure, must_fail=must_fail)
