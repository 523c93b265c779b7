"""Each rule of the judge is guarded: removing it makes a recorded-run test fail.

Mutation test: for each rule, a copy of the tool with that one rule taken
out of verdict.judge() runs tests.test_verdict; the copy must fail.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

SCRIPTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# rule -> (the code that enforces it, what it becomes without the rule)
RULES = {
	'a suite with no result fails': (
		"reasons.append(f'suite {suite} has no result in kunit.py\\'s output')", 'pass'),
	'an oops the variant does not allow fails': (
		"reasons.append(f'the guest crashed: {rec.oops}')", 'pass'),
	'a timeout fails': (
		"reasons.append('the guest was stopped by the timeout before the suite finished')",
		'pass'),
	"kunit.py's non-zero exit without a failing case fails": (
		"reasons.append(f'kunit.py exited {rec.kunit_returncode} without a failing case')",
		'pass'),
	'a run where nothing passed fails': (
		"reasons.append('no case passed: the run proves nothing')", 'pass'),
	'compiler warnings fail': ("reasons.append(f'compiler warning in the suite: {w}')", 'pass'),
	'teardown errors fail': (
		"reasons.append(f'the suite could not restore the system: {e}')", 'pass'),
	'kernel reports fail a shipped run': (
		"reasons.append('the kernel reported: ' + '; '.join(rec.kernel_reports))", 'pass'),
	'a selected case without result did not run': (
		"judgements.append(_judge_case(Case(sel, Status.NOTRUN, 'no result'),",
		"(_judge_case(Case(sel, Status.NOTRUN, 'no result'),"),
	'a skip is allowed only where the port says': (
		'if expect.allows_skip(case.name, case.reason):', 'if True:'),
	'a crash is allowed only where the variant says': (
		'if case.status == Status.ERROR and not timed_out and expect.allows_crash(case.name):',
		'if case.status == Status.ERROR:'),
	'a KTAP kunit.py could not follow fails': (
		"reasons.append('kunit.py\\'s reading of the guest\\'s KTAP output cannot be trusted '",
		"(('kunit.py\\'s reading of the guest\\'s KTAP output cannot be trusted '"),
	'only a May-Fail case may fail without a declaration': (
		'if case.status == Status.FAIL and expect.allows_fail(case.name):',
		'if case.status == Status.FAIL:'),
	'a declared exposure that does not fail is not exposed': (
		"return j(Outcome.FAILED, f'NOT EXPOSED: declared exposed as shipped, but '",
		"return j(Outcome.PASSED, f'NOT EXPOSED: declared exposed as shipped, but '"),
	'a declared case that does not fail is missed': (
		"return j(Outcome.FAILED, f'MISSED: declared to fail, but {case.status.value}{reason}')",
		"return j(Outcome.PASSED, '')"),
	'an undeclared failure fails': (
		"return j(Outcome.FAILED, prefix + 'failed')", "return j(Outcome.PASSED, '')"),
	'only selected cases are judged': ('if in_selection(case.name, rec.selected):', 'if True:'),
	'a kernel that did not build is no verdict': ('if not rec.built:', 'if False:'),
}


class RulesGuardedTest(unittest.TestCase):
	def test_removing_any_rule_fails_a_test(self):
		with open(os.path.join(SCRIPTS, 'thpds', 'verdict.py')) as f:
			source = f.read()
		with tempfile.TemporaryDirectory() as tmp:
			copy = os.path.join(tmp, 'scripts')
			shutil.copytree(SCRIPTS, copy, ignore=shutil.ignore_patterns('__pycache__'))
			for rule, (code, without) in RULES.items():
				with self.subTest(rule=rule):
					self.assertTrue(code in source, f'the rule moved: update RULES[{rule!r}]')
					with open(os.path.join(copy, 'thpds', 'verdict.py'), 'w') as f:
						f.write(source.replace(code, without, 1))
					proc = subprocess.run([sys.executable, '-m', 'unittest',
							       'tests.test_verdict'], cwd=copy,
							      capture_output=True, text=True)
					self.assertNotEqual(proc.returncode, 0,
							    f'no test fails without the rule: {rule}')


if __name__ == '__main__':
	unittest.main()
