"""Tests for thpds.kunit_run against kunit.py output recorded from real runs."""

import json
import os
import unittest

from thpds import kunit_run

DATA = os.path.join(os.path.dirname(__file__), 'data')


class JsonTest(unittest.TestCase):
	def load(self, name):
		with open(os.path.join(DATA, name)) as f:
			return kunit_run.cases_from_json(json.load(f))

	def test_recorded_pass_run(self):
		cases = self.load('kunit-6.12-pass.json')
		names = [c.name for c in cases]
		self.assertIn('thp_deferred_split.thp_ds_test_charge.order 9', names)
		self.assertIn('thp_deferred_split.thp_ds_test_free_reclaim_lock', names)
		self.assertIn('thp_deferred_split_race.thp_ds_test_race_reclaim_scan', names)
		self.assertTrue(all(c.status == 'PASS' for c in cases))
		self.assertEqual(len(cases), 21)

	def test_recorded_crash_is_pinned_on_the_running_case(self):
		with open(os.path.join(kunit_run.REPO_SOURCE)) as f:
			declared = kunit_run.declared_cases(f.read())
		with open(os.path.join(DATA, 'kunit-6.12-seed-reclaim-crash.json')) as f:
			cases = {c.name: c.status for c in kunit_run.cases_from_json(json.load(f), declared)}
		self.assertEqual(cases['thp_deferred_split_race.thp_ds_test_race_reclaim_scan'], 'ERROR')
		self.assertEqual(cases['thp_deferred_split.thp_ds_test_free_reclaim_lock'], 'FAIL')
		self.assertNotIn('thp_deferred_split_race.(crashed)', cases)
		self.assertFalse(any(name.endswith('.') for name in cases))

	def test_crash_with_later_cases_marks_them_not_run(self):
		data = {'sub_groups': [{'name': 's', 'sub_groups': [], 'test_cases': [
			{'name': 'a', 'status': 'PASS'}, {'name': '', 'status': 'ERROR'},
			{'name': '', 'status': 'ERROR'}]}]}
		cases = kunit_run.cases_from_json(data, {'s': ['a', 'b', 'c']})
		self.assertEqual([(c.name, c.status) for c in cases],
				 [('s.a', 'PASS'), ('s.b', 'ERROR'), ('s.c', 'NOTRUN')])

	def test_declared_cases_from_the_suite_source(self):
		with open(kunit_run.REPO_SOURCE) as f:
			declared = kunit_run.declared_cases(f.read())
		self.assertEqual(declared['thp_deferred_split'][0], 'thp_ds_test_checker')
		self.assertEqual(declared['thp_deferred_split'][-1], 'thp_ds_test_no_residue')
		self.assertEqual(declared['thp_deferred_split_race'], ['thp_ds_test_race_reclaim_scan'])

	def test_suite_warnings_are_picked_out(self):
		log = ('/x/mm/tests/thp_deferred_split_kunit.c:746:34: warning: format ‘%ld’ expects\n'
		       '/x/mm/vmscan.c:10:1: warning: unrelated\n')
		self.assertEqual(len(kunit_run.suite_warnings(log)), 1)

	def test_oops_excerpt_from_recorded_crash(self):
		with open(os.path.join(DATA, 'kunit-6.12-seed-reclaim-crash.log')) as f:
			oops = kunit_run.oops_excerpt(f.read())
		self.assertIn('BUG: kernel NULL pointer dereference', oops.splitlines()[0])
		self.assertIn('RIP: 0010:deferred_split_scan', oops)
		self.assertIn('</TASK>', oops.splitlines()[-1])
		with open(os.path.join(DATA, 'kunit-6.12-pass.log')) as f:
			self.assertEqual(kunit_run.oops_excerpt(f.read()), '')

	def test_reports_the_kernel_survives_are_not_crashes(self):
		log = ('[1] BUG: Bad page state in process thp_ds_scanner  pfn:03802\n'
		       '[1] WARNING: CPU: 0 PID: 78 at lib/list_debug.c:54 x\n')
		self.assertEqual(kunit_run.oops_excerpt(log), '')
		self.assertTrue(kunit_run.oops_excerpt('[2] Oops: invalid opcode: 0000 [#1] SMP\n'))

	def test_command_uses_persistent_build_and_two_cpus(self):
		cmd = kunit_run.kunit_command('/t', '/b', '/o.json', 300, 2, 'thp_deferred_split.*')
		self.assertIn('--build_dir=/b', cmd)
		self.assertIn('--arch=x86_64', cmd)
		self.assertIn('--kunitconfig=mm/tests', cmd)
		self.assertTrue(any(a.startswith('--qemu_args=') and '-smp 2' in a for a in cmd))
		self.assertEqual(cmd[-1], 'thp_deferred_split.*')
		self.assertIn('--kernel_args=oops=panic', cmd)


class TcgShimTest(unittest.TestCase):
	def test_shim_keeps_only_tcg(self):
		import subprocess
		import tempfile
		with tempfile.TemporaryDirectory() as d:
			path = os.path.join(d, 'qemu')
			with open(path, 'w') as f:
				f.write(kunit_run.QEMU_TCG_SHIM.format(real='/bin/echo'))
			os.chmod(path, 0o755)
			out = subprocess.run([path, '-m', '1024', '-accel', 'kvm', '-accel', 'hvf',
					      '-accel', 'tcg', '-append', 'a b', '-smp', '2'],
					     capture_output=True, text=True, check=True).stdout
		self.assertEqual(out, '-m 1024 -accel tcg -append a b -smp 2\n')


if __name__ == '__main__':
	unittest.main()
