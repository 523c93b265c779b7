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
		self.assertTrue(all(c.status == 'PASS' for c in cases))
		self.assertEqual(len(cases), 20)

	def test_command_uses_persistent_build_and_two_cpus(self):
		cmd = kunit_run.kunit_command('/t', '/b', '/o.json', 300, 2, 'thp_deferred_split.*')
		self.assertIn('--build_dir=/b', cmd)
		self.assertIn('--arch=x86_64', cmd)
		self.assertIn('--kunitconfig=mm/tests', cmd)
		self.assertTrue(any(a.startswith('--qemu_args=') and '-smp 2' in a for a in cmd))
		self.assertEqual(cmd[-1], 'thp_deferred_split.*')


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
