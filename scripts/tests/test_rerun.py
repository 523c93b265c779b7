"""Tests for thpds.rerun: the initramfs it boots, and how it reads the guest."""

import os
import shutil
import subprocess
import tempfile
import unittest

from thpds import rerun

LOG = '''[    1.0] Run /init as init process
THPDS-STATE-BEFORE-BEGIN
root subtree_control: memory
root cgroups: init.scope
THPDS-STATE-BEFORE-END
THPDS-RESULTS-BEGIN 1 thp_deferred_split_checker
    ok 1 thp_ds_test_checker_bound
ok 1 thp_deferred_split_checker
THPDS-RESULTS-END 1 thp_deferred_split_checker
THPDS-RESULTS-BEGIN 1 thp_deferred_split
    ok 1 thp_ds_test_checker
ok 1 thp_deferred_split
THPDS-RESULTS-END 1 thp_deferred_split
THPDS-RESULTS-BEGIN 1 thp_deferred_split_race
    ok 1 thp_ds_test_race_reclaim_scan
ok 1 thp_deferred_split_race
THPDS-RESULTS-END 1 thp_deferred_split_race
THPDS-RESULTS-BEGIN 2 thp_deferred_split_checker
    ok 1 thp_ds_test_checker_bound
ok 1 thp_deferred_split_checker
THPDS-RESULTS-END 2 thp_deferred_split_checker
THPDS-RESULTS-BEGIN 2 thp_deferred_split
    ok 1 thp_ds_test_checkerX
    not ok 5 thp_ds_test_enqueue
not ok 1 thp_deferred_split
THPDS-RESULTS-END 2 thp_deferred_split
THPDS-STATE-AFTER-BEGIN
root subtree_control: memory
root cgroups: init.scope thp_ds_kunit.3
THPDS-STATE-AFTER-END
THPDS-DONE
'''


DECLARED = {'thp_deferred_split_checker': ['thp_ds_test_checker_bound'],
	    'thp_deferred_split': ['thp_ds_test_checker'],
	    'thp_deferred_split_race': ['thp_ds_test_race_reclaim_scan']}


class ParseTest(unittest.TestCase):
	def test_every_failure_is_named(self):
		result = rerun.parse(LOG)
		result.declared = DECLARED
		problems = result.problems()
		self.assertIn('run 2 of thp_deferred_split: not ok 5 thp_ds_test_enqueue; '
			      'not ok 1 thp_deferred_split; thp_ds_test_checker did not pass', problems)
		self.assertIn('run 2 of thp_deferred_split_race: no results', problems)
		self.assertIn('the system is not as the suite found it: root cgroups: init.scope '
			      '-> root cgroups: init.scope thp_ds_kunit.3', problems)

	def test_a_clean_rerun(self):
		log = LOG.replace('checkerX', 'checker').replace('not ok 5', 'ok 5').replace(
			'not ok 1 thp_deferred_split\n', 'ok 1 thp_deferred_split\n')
		log = log.replace(' thp_ds_kunit.3', '').replace(
			'THPDS-RESULTS-END 2 thp_deferred_split\n',
			'THPDS-RESULTS-END 2 thp_deferred_split\nTHPDS-RESULTS-BEGIN 2 '
			'thp_deferred_split_race\n    ok 1 thp_ds_test_race_reclaim_scan\n'
			'THPDS-RESULTS-END 2 thp_deferred_split_race\n')
		result = rerun.parse(log)
		result.declared = DECLARED
		self.assertEqual(result.problems(), [])
		result.declared = {'thp_deferred_split': ['thp_ds_test_checker', 'thp_ds_test_lost']}
		self.assertEqual(result.problems(), ['run 1 of thp_deferred_split: thp_ds_test_lost did '
						     'not pass', 'run 2 of thp_deferred_split: '
						     'thp_ds_test_lost did not pass'])

	def test_a_guest_that_never_finished(self):
		result = rerun.parse(LOG.replace('THPDS-DONE', ''))
		self.assertIn('the guest did not finish the runs (see the log)', result.problems())


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
				f.write(rerun.initramfs(fake))
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
