"""thp-ds bisect and its oracle.

bisect.run() is driven over small git histories built here, whose every
revision is really compiled (gcc) and run by the oracle: a good tree, a
commit that puts a bug back, later unrelated commits, and a revision that
does not compile (125: skipped).  The oracle's exit statuses are checked
on the verdicts and errors of the real run path (run_tree mocked).
"""

import contextlib
import dataclasses
import io
import os
import shutil
import subprocess
import tempfile
import unittest
from unittest import mock

from tests import recordings
from thpds import bisect, cli, fit, host, lock, runner
from thpds.errors import InfraError, UsageError

GOOD_C = 'int main(void) { return 0; }\n'
BUG_C = 'int main(void) { return 1; }	/* the bug, put back */\n'
BROKEN_C = 'int main(void) { return 0 }\n'
# The oracle of these histories: build the revision (125 when it does not
# build), run it (its exit status is the verdict).
ORACLE = """#!/bin/sh
cc -o "$TMPDIR/prog" prog.c 2>/dev/null || exit 125
"$TMPDIR/prog"
"""


def git(repo, *args):
	return subprocess.run(['git', '-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@t',
			       *args], check=True, capture_output=True, text=True).stdout.strip()


class History:
	"""A git tree whose commits each set prog.c (or touch another file)."""

	def __init__(self, path):
		self.path = path
		os.makedirs(path)
		git(path, 'init', '-q', '-b', 'main')
		self.commits = []

	def commit(self, subject, prog=None):
		if prog is not None:
			with open(os.path.join(self.path, 'prog.c'), 'w') as f:
				f.write(prog)
		else:
			with open(os.path.join(self.path, 'README'), 'a') as f:
				f.write(subject + '\n')
		git(self.path, 'add', '-A')
		git(self.path, 'commit', '-q', '-m', subject)
		self.commits.append(git(self.path, 'rev-parse', 'HEAD'))
		return self.commits[-1]


class BisectRunTest(unittest.TestCase):
	def setUp(self):
		self.dir = tempfile.mkdtemp()
		self.addCleanup(shutil.rmtree, self.dir)
		self.oracle = os.path.join(self.dir, 'oracle')
		with open(self.oracle, 'w') as f:
			f.write(ORACLE)
		os.chmod(self.oracle, 0o755)
		env = mock.patch.dict(os.environ, {'TMPDIR': self.dir})
		env.start()
		self.addCleanup(env.stop)
		self.h = History(os.path.join(self.dir, 'linux'))

	def bisect(self, good, bad):
		with contextlib.redirect_stdout(io.StringIO()):
			before = git(self.h.path, 'status', '--porcelain'), git(self.h.path, 'rev-parse',
										 'HEAD')
			out = bisect.run(self.h.path, good, bad, os.path.join(self.dir, 'ws'),
					 [self.oracle], say=lambda text: None)
		# the user's tree: not written (its checkout, index and refs)
		self.assertEqual((git(self.h.path, 'status', '--porcelain'),
				  git(self.h.path, 'rev-parse', 'HEAD')), before)
		self.assertFalse(os.path.exists(os.path.join(self.h.path, '.git', 'BISECT_LOG')))
		return out

	def test_the_commit_that_puts_the_bug_back_is_found(self):
		good = self.h.commit('good tree', GOOD_C)
		self.h.commit('unrelated: docs')
		bug = self.h.commit('mm: uncharge before unqueue (the bug)', BUG_C)
		self.h.commit('unrelated: later')
		out = self.bisect(good, self.h.commits[-1])
		self.assertEqual(out.first_bad, bug)
		self.assertEqual(out.subject, 'mm: uncharge before unqueue (the bug)')
		self.assertIn(f'first bad commit: {bug[:12]} mm: uncharge', out.message)

	def test_a_revision_that_does_not_build_is_skipped(self):
		good = self.h.commit('good tree', GOOD_C)
		self.h.commit('unrelated 1')
		self.h.commit('unrelated 2')
		broken = self.h.commit('a typo: does not build', BROKEN_C)
		self.h.commit('fix the typo', GOOD_C)
		bug = self.h.commit('the bug', BUG_C)
		bad = self.h.commit('unrelated 3')
		out = self.bisect(good, bad)
		self.assertEqual(out.first_bad, bug)
		verdicts = {s['commit']: s['verdict'] for s in out.steps}
		self.assertEqual(verdicts[broken], 'skipped (cannot be judged)')
		self.assertEqual(verdicts[bad], 'bad (FAIL)')
		self.assertEqual(verdicts[good], 'good (PASS)')

	def test_only_skipped_revisions_left_is_no_single_commit(self):
		good = self.h.commit('good tree', GOOD_C)
		self.h.commit('does not build', BROKEN_C)
		self.h.commit('the bug, and still does not build', BROKEN_C.replace('0', '1'))
		bad = self.h.commit('builds again, with the bug', BUG_C)
		out = self.bisect(good, bad)
		self.assertEqual(out.first_bad, '')
		self.assertIn('no single first bad commit', out.message)

	def test_a_bad_end_that_passes_is_nothing_to_bisect(self):
		good = self.h.commit('good tree', GOOD_C)
		bad = self.h.commit('unrelated')
		out = self.bisect(good, bad)
		self.assertEqual(out.first_bad, '')
		self.assertIn(f'the --bad revision {bad[:12]} is good (PASS), not bad', out.message)

	def test_an_oracle_that_stops_stops_the_bisection(self):
		good = self.h.commit('good tree', GOOD_C)
		bad = self.h.commit('the bug', BUG_C)
		with open(self.oracle, 'w') as f:
			f.write('#!/bin/sh\nexit 255\n')
		with self.assertRaises(InfraError):
			self.bisect(good, bad)

	def test_a_range_that_is_not_one_is_refused(self):
		a = self.h.commit('a', GOOD_C)
		b = self.h.commit('b', BUG_C)
		with self.assertRaises(UsageError):
			bisect.check_range(self.h.path, b, a)
		with self.assertRaises(UsageError):
			bisect.revision(self.h.path, 'no-such-branch', 'good')
		self.assertEqual(bisect.revision(self.h.path, 'HEAD~1', 'good'), a)


class OracleTest(unittest.TestCase):
	"""thp-ds oracle: git bisect run's exit statuses from the real run path."""

	def setUp(self):
		tmp = tempfile.TemporaryDirectory()
		self.addCleanup(tmp.cleanup)
		for patcher in (mock.patch.dict(os.environ, {'THP_DS_CACHE': tmp.name}),
				mock.patch.object(host, 'ensure')):
			patcher.start()
			self.addCleanup(patcher.stop)

	def oracle(self, run=None, error=None, argv=('--tree', '/src/linux')):
		def run_tree(*args, **kw):
			if error:
				raise error
			return mock.Mock(record=run)
		with mock.patch.object(runner, 'run_tree', side_effect=run_tree), \
		     contextlib.redirect_stdout(io.StringIO()), \
		     contextlib.redirect_stderr(io.StringIO()):
			return cli.main(['oracle', *argv])

	def test_pass_is_good_and_fail_is_bad(self):
		_, shipped = recordings.load('6.12-shipped')
		self.assertEqual(self.oracle(shipped), 0)
		_, failing = recordings.load('6.12-seed-reclaim', expect=None)
		failing = dataclasses.replace(failing, expect=dataclasses.replace(
			failing.expect, expect_fail=frozenset(), may_crash=frozenset()))
		self.assertEqual(self.oracle(failing), 1)

	def test_what_cannot_be_judged_is_skipped(self):
		_, rec = recordings.load('6.12-shipped')
		self.assertEqual(self.oracle(dataclasses.replace(rec, built=False)), 125)
		self.assertEqual(self.oracle(error=fit.NoPortFits('no port fits')), 125)
		self.assertEqual(self.oracle(error=InfraError('make failed')), 125)

	def test_what_is_no_verdict_stops_the_bisection(self):
		self.assertEqual(self.oracle(error=KeyboardInterrupt()), 255)
		self.assertEqual(self.oracle(error=ZeroDivisionError('a bug')), 255)
		self.assertEqual(self.oracle(argv=('--no-such-option',)), 255)

	def test_a_busy_cache_stops_the_bisection(self):
		with mock.patch.object(lock, 'acquire', side_effect=lock.CacheBusy('busy')):
			self.assertEqual(self.oracle(argv=('--tree', '/src/linux', '--no-wait')), 255)


class InheritedLockTest(unittest.TestCase):
	def test_a_step_runs_under_its_ancestors_lock_and_no_one_elses(self):
		with tempfile.TemporaryDirectory() as cache:
			with lock.held(cache, 'thp-ds bisect'):
				scripts = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
				env = dict(os.environ, **lock.handed_down(cache), PYTHONPATH=scripts)
				code = ('import sys; from thpds import lock; '
					f'print(lock.inherited({cache!r}))')
				child = subprocess.run([sys_executable(), '-c', code], env=env,
						       capture_output=True, text=True)
				self.assertEqual(child.stdout.strip(), 'True', child.stderr)
				# a pid that is not an ancestor hands nothing down
				env[lock.INHERIT] = '1'
				child = subprocess.run([sys_executable(), '-c', code], env=env,
						       capture_output=True, text=True)
				self.assertEqual(child.stdout.strip(), 'False', child.stderr)
			self.assertEqual(lock.handed_down(cache), {})


def sys_executable():
	import sys
	return sys.executable


if __name__ == '__main__':
	unittest.main()
