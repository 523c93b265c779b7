"""Tests for thpds.kunit_run and thpds.console against recorded runs."""

import os
import subprocess
import sys
import tempfile
import time
import unittest

from tests import recordings
from thpds import cases, console, kunit_run
from thpds.verdict import Status


SCRIPTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def text(name, file):
	with open(os.path.join(recordings.DATA, name, file)) as f:
		return f.read()


class JsonTest(unittest.TestCase):
	def test_recorded_pass_run(self):
		out, _ = recordings.load('6.12-shipped')
		names = [c.name for c in out.cases]
		self.assertIn('thp_deferred_split.thp_ds_test_charge.order 9', names)
		self.assertIn('thp_deferred_split_race.thp_ds_test_race_reclaim_scan', names)
		self.assertTrue(all(c.status == Status.PASS for c in out.cases))
		self.assertEqual(len(out.cases), 21)

	def test_crash_with_later_cases_marks_them_not_run(self):
		data = {'sub_groups': [{'name': 's', 'sub_groups': [], 'test_cases': [
			{'name': 'a', 'status': 'PASS'}, {'name': '', 'status': 'ERROR'},
			{'name': '', 'status': 'ERROR'}]}]}
		out = kunit_run.cases_from_json(data, {'s': ['a', 'b', 'c']})
		self.assertEqual([(c.name, c.status) for c in out],
				 [('s.a', Status.PASS), ('s.b', Status.ERROR), ('s.c', Status.NOTRUN)])

	def test_declared_cases_from_the_suite_source(self):
		declared = cases.repo_declared()
		self.assertEqual(declared['thp_deferred_split_checker'][0], 'thp_ds_test_checker')
		self.assertEqual(declared['thp_deferred_split'][0], 'thp_ds_test_checker_leak')
		self.assertEqual(declared['thp_deferred_split_race'], ['thp_ds_test_race_reclaim_scan'])

	def test_built_and_not_built(self):
		out, _ = recordings.load('6.12-shipped')
		self.assertTrue(out.built)
		seen = kunit_run.interpret('[1] Building KUnit Kernel ...\nerror: x\n', '', None, {}, 1)
		self.assertFalse(seen['built'])
		self.assertEqual(seen['cases'], [])

	def test_suite_warnings_are_picked_out(self):
		log = ('/x/mm/tests/thp_deferred_split_kunit.c:746:34: warning: format ‘%ld’ expects\n'
		       '/x/mm/vmscan.c:10:1: warning: unrelated\n'
		       # every file of the suite, not only its first
		       '/x/mm/tests/thp_deferred_split_check.c:268:6: warning: no previous prototype\n'
		       '/x/mm/tests/thp_deferred_split.h:9:1: error: unknown type\n')
		self.assertEqual(len(kunit_run.suite_warnings(log)), 3)

	def test_command_uses_persistent_build_and_two_cpus(self):
		cmd = kunit_run.kunit_command('/t', '/b', '/o.json', 300, 2, 'thp_deferred_split.*')
		self.assertIn('--build_dir=/b', cmd)
		self.assertIn('--arch=x86_64', cmd)
		self.assertIn('--kunitconfig=mm/tests', cmd)
		self.assertTrue(any(a.startswith('--qemu_args=') and '-smp 2' in a for a in cmd))
		self.assertEqual(cmd[-1], 'thp_deferred_split.*')
		self.assertIn('--kernel_args=oops=panic', cmd)

	def test_boot_options_come_after_the_tools_own(self):
		cmd = kunit_run.kunit_command('/t', '/b', '/o.json', 300, 2,
					      boot=('cgroup_disable=memory',))
		args = [a for a in cmd if a.startswith('--kernel_args=')]
		self.assertEqual(args[-1], '--kernel_args=cgroup_disable=memory')
		self.assertIn('--kernel_args=oops=panic', args[:-1])

	def test_exec_boots_without_building(self):
		cmd = kunit_run.kunit_command('/t', '/b', '/o.json', 300, 2, mode='exec',
					      kconfig_add=('CONFIG_KASAN=y',))
		self.assertEqual(cmd[2], 'exec')
		self.assertNotIn('--jobs=2', cmd)
		self.assertIn('--kconfig_add=CONFIG_KASAN=y', cmd)


class ConsoleTest(unittest.TestCase):
	def test_oops_excerpt_from_recorded_crash(self):
		oops = console.oops_excerpt(text('6.12-seed-reclaim-race-crash', 'kunit.log'))
		self.assertIn('BUG: kernel NULL pointer dereference', oops.splitlines()[0])
		self.assertIn('RIP: 0010:deferred_split_scan', oops)
		self.assertIn('</TASK>', oops.splitlines()[-1])
		self.assertEqual(console.oops_excerpt(text('6.12-shipped', 'kunit.log')), '')

	def test_oops_summary_names_where(self):
		excerpt = console.oops_excerpt(text('param-crash', 'console.log'))
		self.assertEqual(console.oops_summary(excerpt),
				 'BUG: kernel NULL pointer dereference, address: 0000000000000000 '
				 '(at thp_ds_test_free_reclaim+0x7b/0x310)')

	def test_an_arm64_oops_is_summarised_from_its_pc(self):
		out, _ = recordings.load('6.12-arm64-64k-race-crash')
		self.assertEqual(out.oops, 'Unable to handle kernel NULL pointer dereference at '
				 'virtual address 0000000000000000 (at deferred_split_scan+0x2b0/0x684)')
		race = [c for c in out.cases if c.name.startswith('thp_deferred_split_race.')]
		self.assertEqual([(c.status, c.reason) for c in race],
				 [(Status.ERROR, 'the guest stopped in this case')])
		self.assertIn('WARN at mm/huge_memory.c:3730 __folio_unqueue_deferred_split',
			      out.kernel_reports)
		excerpt = console.oops_excerpt(text('6.12-arm64-64k-race-crash', 'console.log'))
		self.assertIn('pc : deferred_split_scan+0x2b0/0x684', excerpt)
		self.assertIn('lr : deferred_split_scan+0x2a0/0x684', excerpt)

	def test_reports_the_kernel_survives_are_not_crashes(self):
		log = ('[1] BUG: Bad page state in process thp_ds_scanner  pfn:03802\n'
		       '[1] WARNING: CPU: 0 PID: 78 at lib/list_debug.c:54 x+0x1/0x2\n')
		self.assertEqual(console.oops_excerpt(log), '')
		self.assertTrue(console.oops_excerpt('[2] Oops: invalid opcode: 0000 [#1] SMP\n'))
		self.assertEqual(console.kernel_reports(log),
				 ['Bad page state', 'WARN at lib/list_debug.c:54 x'])

	def test_kernel_reports_from_a_recorded_variant(self):
		reports = console.kernel_reports(text('6.12-seed-reclaim-race-crash', 'kunit.log'))
		self.assertIn('WARN at mm/huge_memory.c:3730 __folio_unqueue_deferred_split', reports)
		self.assertIn('DEBUG_LIST: list_del corruption', reports)
		self.assertEqual(console.kernel_reports(text('one-cpu', 'console.log')), [])

	def test_kernel_reports_in_7x_wording(self):
		log = ('WARNING: mm/huge_memory.c:4242 at __folio_unqueue_deferred_split+0x1a/0x2b, '
		       'CPU#1: kunit_try_catch/61\n'
		       'BUG: KASAN: slab-use-after-free in deferred_split_scan+0x99/0x400\n'
		       'WARNING: possible circular locking dependency detected\n')
		self.assertEqual(console.kernel_reports(log), [
			'WARN at mm/huge_memory.c:4242 __folio_unqueue_deferred_split',
			'KASAN slab-use-after-free in deferred_split_scan',
			'lockdep: possible circular locking dependency'])

	def test_ktap_results_follow_the_nesting(self):
		res = console.ktap_results(text('one-cpu', 'console.log'))
		self.assertEqual(res['thp_deferred_split.thp_ds_test_charge.order 4'], (True, None))
		self.assertEqual(res['thp_deferred_split.thp_ds_test_charge'], (True, None))
		self.assertEqual(res['thp_deferred_split.thp_ds_test_free_reclaim_lock'],
				 (True, 'needs two online CPUs (QEMU -smp 2)'))
		self.assertEqual(res['thp_deferred_split_race'], (True, ''))

	def test_teardown_errors(self):
		log = '[3] thp_deferred_split: teardown: could not remove thp_ds_kunit-7: -16\n'
		self.assertEqual(console.teardown_errors(log), ['could not remove thp_ds_kunit-7: -16'])


class StopGroupTest(unittest.TestCase):
	def test_an_interrupted_run_leaves_no_child_behind(self):
		# kunit.py's make and QEMU are its children: stopping kunit.py alone
		# left a make writing the build directory (seen on this machine)
		proc = subprocess.Popen(['sh', '-c', 'sleep 300 & echo $!; wait'],
					stdout=subprocess.PIPE, text=True, start_new_session=True)
		child = int(proc.stdout.readline())
		kunit_run.stop_group(proc, grace=2)
		proc.stdout.close()
		self.assertIsNotNone(proc.returncode)
		self.assertFalse(alive(child))


def alive(pid):
	"""Running (a zombie nobody reaped yet is not: init may be slow to reap)."""
	try:
		with open(f'/proc/{pid}/stat') as f:
			return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
	except FileNotFoundError:
		return False


class TcgShimTest(unittest.TestCase):
	def test_shim_keeps_only_tcg(self):
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


class TerminatedRunTest(unittest.TestCase):
	def test_sigterm_to_the_tool_stops_kunit_and_its_children(self):
		# seen: a thp-ds killed with SIGTERM left kunit.py building
		with tempfile.TemporaryDirectory() as d:
			pidfile = os.path.join(d, 'pids')
			script = f'''
import sys
sys.path.insert(0, {SCRIPTS!r})
from thpds import cli, kunit_run
kunit_run.kunit_command = lambda *a, **k: [
	'sh', '-c', 'sleep 300 & echo $! > {pidfile}.tmp; mv {pidfile}.tmp {pidfile}; wait']
cli.cmd_fetch = lambda args: kunit_run.run({d!r}, {d!r} + '/b', {d!r} + '/o', {d!r},
					    accel='auto')
sys.exit(cli.main(['fetch']))
'''
			env = dict(os.environ, THP_DS_CACHE=os.path.join(d, 'cache'))
			proc = subprocess.Popen([sys.executable, '-c', script], env=env,
						stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
						text=True)
			for _ in range(100):
				if os.path.exists(pidfile):
					break
				time.sleep(0.1)
			with open(pidfile) as f:
				child = int(f.read())
			proc.terminate()
			_, err = proc.communicate(timeout=30)
			self.assertEqual(proc.returncode, 130, err)
			self.assertIn('interrupted', err)
			for _ in range(20):
				if not alive(child):
					break
				time.sleep(0.1)
			self.assertFalse(alive(child))


class GuestEndTest(unittest.TestCase):
	"""5.10 cannot power the guest off: its rootfs panic ends the run, it is no crash."""

	END = 'Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)'

	def test_the_rootfs_panic_after_the_results_is_not_an_oops(self):
		log = 'TAP version 14\n1..1\nok 1 - thp_deferred_split\n' + self.END + '\n'
		self.assertEqual(console.oops_excerpt(log), '')

	def test_an_oops_before_it_still_counts(self):
		log = 'BUG: kernel NULL pointer dereference, address: 0\nRIP: 0010:f+0x1/0x2\n' \
		      + self.END + '\n'
		self.assertIn('NULL pointer', console.oops_summary(console.oops_excerpt(log)))
