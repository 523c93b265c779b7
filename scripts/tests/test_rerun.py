"""Tests for thpds.rerun: the live system it boots, and how each run of it is
read back and judged."""

import os
import shutil
import subprocess
import tempfile
import unittest

from thpds import live, rerun, runner, suite
from thpds.verdict import RunRecord, judge

LOG = '''[    1.0] Run /init as init process
THPDS-STATE-BEFORE-BEGIN
root subtree_control: memory
root cgroups: init.scope
THPDS-STATE-BEFORE-END
THPDS-RESULTS-BEGIN 1 thp_deferred_split_checker
KTAP version 1
1..1
    KTAP version 1
    # Subtest: thp_deferred_split_checker
    1..1
    ok 1 thp_ds_test_checker_bound
ok 1 thp_deferred_split_checker
THPDS-RESULTS-END 1 thp_deferred_split_checker
THPDS-RESULTS-BEGIN 2 thp_deferred_split_checker
KTAP version 1
1..1
    KTAP version 1
    # Subtest: thp_deferred_split_checker
    1..1
    not ok 1 thp_ds_test_checker_bound
not ok 1 thp_deferred_split_checker
THPDS-RESULTS-END 2 thp_deferred_split_checker
THPDS-STATE-AFTER-BEGIN
root subtree_control: memory
root cgroups: init.scope thp_ds_kunit.3
THPDS-STATE-AFTER-END
THPDS-DONE
'''


class StateTest(unittest.TestCase):
	def test_a_changed_system_is_named(self):
		b = live.parse_console('rerun', LOG)
		self.assertEqual(rerun.state_change(b),
				 ['the system is not as the suite found it: root cgroups: init.scope -> '
				  'root cgroups: init.scope thp_ds_kunit.3'])
		self.assertEqual(rerun.state_change(live.parse_console(
			'rerun', LOG.replace(' thp_ds_kunit.3', ''))), [])

	def test_a_guest_that_printed_no_state(self):
		b = live.parse_console('rerun', 'THPDS-DONE\n')
		self.assertEqual(rerun.state_change(b), ['the guest printed no state before or after'])

	def test_the_init_sets_the_system_up_without_a_swap_area(self):
		init = rerun.init_script()
		self.assertIn('echo +memory > $C/cgroup.subtree_control', init)
		self.assertNotIn('swapon', init)
		self.assertIn('for i in 1 2; do', init)
		self.assertIn('for s in ' + ' '.join(rerun.SUITES) + '; do', init)


class JudgedTest(unittest.TestCase):
	"""Each run is judged by verdict.judge(): a failed case and a changed system fail."""

	def test_each_run_is_a_record_judged_as_any_run(self):
		# kunit.py parse of a tree the cache holds (none on a bare machine's first run)
		trees = os.path.join(runner.cache_dir(), 'trees')
		tree = next((os.path.join(trees, t) for t in ('debian-6.12', 'debian-7.2')
			     if os.path.exists(os.path.join(trees, t, 'tools/testing/kunit/kunit.py'))),
			    '')
		if not tree:
			self.skipTest('no kernel tree with kunit.py in the cache yet')
		base = RunRecord(tree='6.12', origin='o', version='v', kernel='k', port='6.12',
				 variant='shipped', cases=(),
				 selected=('thp_deferred_split_checker.thp_ds_test_checker_bound',),
				 expect=runner.expectation(suite.Applied('6.12'), profile='debug'))
		with tempfile.TemporaryDirectory() as d:
			recs = rerun.records(live.parse_console('rerun', LOG), base, tree, d, d)
		self.assertEqual(len(recs), 2)
		self.assertTrue(judge(recs[0]).ok, judge(recs[0]).summary())
		self.assertFalse(judge(recs[1]).ok)
		self.assertIn('the system is not as the suite found it', ' '.join(recs[1].teardown_errors))


class InitramfsTest(unittest.TestCase):
	def test_the_kernel_can_unpack_it(self):
		if not shutil.which('cpio'):
			self.skipTest('cpio not installed')
		with tempfile.TemporaryDirectory() as d:
			fake = os.path.join(d, 'busybox')
			with open(fake, 'wb') as f:
				f.write(b'\x7fELF fake')
			path = os.path.join(d, 'initrd')
			with open(path, 'wb') as f:
				f.write(live.initramfs(fake, rerun.init_script()))
			with open(path, 'rb') as archive:
				listing = subprocess.run(['cpio', '-itv', '--quiet'], stdin=archive,
							 capture_output=True, text=True,
							 check=True).stdout
		names = [line.split()[-1] for line in listing.splitlines()]
		self.assertEqual(names, ['dev', 'proc', 'sys', 'bin', 'tmp', 'dev/console',
					 'bin/busybox', 'init'])
		self.assertTrue(any(line.startswith('crw') and 'dev/console' in line
				    for line in listing.splitlines()))


if __name__ == '__main__':
	unittest.main()
