"""Tests for thpds.live: the live system's init, its output, and the KTAP
document kunit.py parse reads."""

import os
import tempfile
import unittest

from thpds import live, runner, suite, variants
from thpds.errors import UsageError
from thpds.target import DEFAULT, Target

# A results file of KUnit's debugfs (6.12 and later): a document of one suite.
V1 = '''KTAP version 1
1..1
    KTAP version 1
    # Subtest: thp_deferred_split_v1
    1..2
    ok 1 thp_ds_test_swapout
    ok 2 thp_ds_test_charge_move # SKIP reason
# thp_deferred_split_v1: pass:1 fail:0 skip:1 total:2
ok 1 thp_deferred_split_v1
'''


class InitTest(unittest.TestCase):
	def test_init_swaps_on_then_runs_each_suite_and_prints_its_results(self):
		init = live.init_script(('a', 'b'))
		self.assertLess(init.index('swapon /dev/ram0'), init.index('for s in a b; do'))
		self.assertIn('for i in 1; do', init)
		self.assertIn('echo run > /sys/kernel/debug/kunit/$s/run', init)
		self.assertIn(f'echo "{live.BEGIN} $i $s"', init)
		self.assertTrue(init.rstrip().endswith('$B reboot -f'))
		self.assertNotIn('_PART', init)
		self.assertNotIn('_MARK', init)

	def test_a_live_system_without_swap_with_its_state(self):
		init = live.init_script(('a',), runs=2, swap=False, setup='SETUP', state='state() { :; }')
		self.assertNotIn('swapon', init)
		self.assertIn('for i in 1 2; do', init)
		self.assertLess(init.index('SETUP'), init.index(f'{live.STATE}-BEFORE-BEGIN'))
		self.assertLess(init.index('for i in'), init.index(f'{live.STATE}-AFTER-BEGIN'))

	def test_the_initramfs_holds_init_busybox_and_the_console(self):
		with tempfile.NamedTemporaryFile() as bb:
			bb.write(b'\x7fELF')
			bb.flush()
			cpio = live.initramfs(bb.name, '#!/bin/sh\n')
		for name in (b'init\0', b'bin/busybox\0', b'dev/console\0', b'TRAILER!!!\0'):
			self.assertIn(name, cpio)
		self.assertEqual(len(cpio) % 512, 0)

	def test_the_cgroup_v1_suite_boots_alone(self):
		# it must run before anything used the memory controller on cgroup2
		first = live.BOOTS[0]
		self.assertEqual(first.suites, ('thp_deferred_split_v1',))
		self.assertEqual(first.boot_glob, 'thp_deferred_split_v1')
		self.assertNotIn('thp_deferred_split_v1', live.BOOTS[1].suites)

	def test_only_the_boots_of_selected_suites(self):
		boots = live.boots_for(['thp_deferred_split.thp_ds_test_put'])
		self.assertEqual([(b.name, b.suites) for b in boots],
				 [('cgroup2', ('thp_deferred_split',))])


class ConsoleTest(unittest.TestCase):
	CONSOLE = ('[    1.0] Adding 65532k swap on /dev/ram0.\n'
		   f'{live.SWAP} /dev/ram0 partition 65532 0 -2\n'
		   f'{live.BEGIN} 1 thp_deferred_split_v1\n' + V1 +
		   f'{live.END} 1 thp_deferred_split_v1\n'
		   f'{live.BEGIN} 1 thp_deferred_split_race missing\n'
		   f'{live.DONE}\n')

	def test_results_swap_and_end(self):
		b = live.parse_console('cgroup-v1', self.CONSOLE)
		self.assertEqual(b.run(1), [('thp_deferred_split_v1', V1)])
		self.assertEqual(b.run(2), [])
		self.assertTrue(b.swap.startswith('/dev/ram0 partition'))
		self.assertTrue(b.done)
		self.assertEqual(live.problems([b]), [])

	def test_no_swap_area_and_no_end_are_problems(self):
		b = live.parse_console('cgroup2', f'{live.SWAP} none: mkswap or swapon failed\n')
		found = live.problems([b])
		self.assertEqual(len(found), 2)
		self.assertIn('no swap area', found[0])
		self.assertIn('stopped before its init finished', found[1])


class CrashTest(unittest.TestCase):
	CONSOLE = (f'{live.SWAP} /dev/ram0 partition 65532 0 -1\n'
		   f'{live.RUNNING} 1 thp_deferred_split_v1\n'
		   f'{live.BEGIN} 1 thp_deferred_split_v1\n' + V1 + f'{live.END} 1 thp_deferred_split_v1\n'
		   f'{live.RUNNING} 1 thp_deferred_split_race\n')

	def test_the_run_the_guest_stopped_in_reads_as_a_crash_in_it(self):
		b = live.parse_console('cgroup2', self.CONSOLE)
		self.assertEqual(b.stopped_in, (1, 'thp_deferred_split_race'))
		declared = {'thp_deferred_split_race': ['thp_ds_test_race_reclaim_scan']}
		(suite, text), = live.stopped_results(b, 1, declared)
		self.assertEqual(suite, 'thp_deferred_split_race')
		doc = live.merge(b.run(1) + [(suite, text)])
		self.assertTrue(doc.rstrip().endswith('not ok 2 thp_deferred_split_race'))
		self.assertIn('    1..1\n', text)
		self.assertEqual(live.stopped_results(b, 2, declared), [])

	def test_a_crash_is_not_also_an_unfinished_init(self):
		b = live.parse_console('cgroup2', self.CONSOLE)
		self.assertEqual(live.problems([b]), ['live boot cgroup2: the guest stopped before its '
						      'init finished'])
		b.console = 'BUG: kernel NULL pointer dereference, address: 0\n'
		self.assertEqual(live.problems([b]), [])
		done = live.parse_console('cgroup2', self.CONSOLE + f'{live.DONE}\n')
		self.assertIsNone(done.stopped_in)


class OnConsoleTest(unittest.TestCase):
	"""A live system as a LAVA job: init prints on the console (the only
	port LAVA reads), quiets the kernel's console, and prints the kernel's
	log at its end."""

	def test_init_prints_on_the_console_and_the_kernels_log_at_its_end(self):
		text = live.init_script(['thp_deferred_split'], on_console=True)
		self.assertIn('exec >/dev/console 2>&1', text)
		self.assertNotIn('ttyS1', text)
		self.assertLess(text.index('dmesg -n 3'), text.index('mkswap'))
		self.assertLess(text.index(f'echo {live.DMESG}-BEGIN'), text.index(f'echo {live.DONE}'))
		plain = live.init_script(['thp_deferred_split'])
		self.assertIn('exec >/dev/ttyS1 2>&1', plain)
		self.assertNotIn('dmesg', plain)

	BOOT = ('Booting from ROM..\x1bc\x1b[?7l\x1b[2JLinux version 6.12.118 (gcc)\n[    0.1] Command line: console=ttyS0\n'
		f'{live.SWAP} /dev/ram0 partition 65532 0 -2\n{live.RUNNING} 1 {{suite}}\n'
		f'{live.BEGIN} 1 {{suite}}\nKTAP version 1\n1..1\nok 1 {{suite}}\n{live.END} 1 {{suite}}\n'
		f'{live.DMESG}-BEGIN\n[    0.000000] Linux version 6.12.118 (gcc)\n'
		'[    2.5] WARNING: CPU: 1 PID: 1 at mm/huge_memory.c:1 x\n'
		f'{live.DMESG}-END\n{live.DONE}\n[    3.0] reboot: Restarting system\n')

	def test_a_console_of_two_boots_is_split_where_each_kernel_begins(self):
		text = 'SeaBIOS (version 1.16.2)\n' + self.BOOT.format(suite='thp_deferred_split_v1') + self.BOOT.format(
			suite='thp_deferred_split')
		parts = live.split_boots(text)
		self.assertEqual(len(parts), 2)	# not at the log's own "Linux version"
		self.assertTrue(parts[0].startswith('SeaBIOS'))
		first = live.parse_console('cgroup-v1', parts[0])
		second = live.parse_console('cgroup2', parts[1])
		self.assertEqual(list(first.results), [(1, 'thp_deferred_split_v1')])
		self.assertEqual(list(second.results), [(1, 'thp_deferred_split')])
		self.assertTrue(first.done and second.done)
		self.assertTrue(first.swap.startswith('/dev/ram0'))
		self.assertIn('WARNING: CPU: 1 PID: 1 at mm/huge_memory.c:1', first.kernel_log)
		self.assertNotIn(live.DONE, first.kernel_log)
		self.assertNotIn('WARNING', ''.join(first.results.values()))
		self.assertEqual(live.parse_console('x', 'no markers\n').kernel_log, '')


class MergeTest(unittest.TestCase):
	def test_suites_are_numbered_in_one_document(self):
		race = V1.replace('thp_deferred_split_v1', 'thp_deferred_split_race')
		doc = live.merge([('thp_deferred_split_v1', V1), ('thp_deferred_split_race', race)])
		lines = doc.splitlines()
		self.assertEqual(lines[:2], ['KTAP version 1', '1..2'])
		self.assertIn('ok 1 thp_deferred_split_v1', lines)
		self.assertIn('ok 2 thp_deferred_split_race', lines)
		self.assertEqual(doc.count('\nKTAP version 1'), 0)	# only the suites' own, indented
		self.assertEqual(doc.count('    KTAP version 1'), 2)

	def test_a_results_file_that_ends_early_is_a_failed_suite(self):
		doc = live.merge([('thp_deferred_split_v1', V1.rsplit('ok 1', 1)[0])])
		self.assertTrue(doc.rstrip().endswith('not ok 1 thp_deferred_split_v1'))


class JudgeTest(unittest.TestCase):
	def test_a_live_system_without_swap_fails_the_run(self):
		from thpds.verdict import Case, RunRecord, Status, judge
		rec = RunRecord(tree='7.2', origin='o', version='v', kernel='k', port='7.2',
				variant='shipped', selected=('s.a',), cases=(Case('s.a', Status.PASS),),
				profile='live')
		self.assertTrue(judge(rec).ok)
		bad = RunRecord.from_json(dict(rec.to_json(), live_errors=['live boot x: no swap area']))
		self.assertFalse(judge(bad).ok)
		self.assertIn('the live system was not as the run needs it: live boot x: no swap area',
			      judge(bad).reasons)


class ExpectationTest(unittest.TestCase):
	def test_a_missing_swap_area_is_allowed_except_in_a_live_run(self):
		skip = ('thp_deferred_split_v1.thp_ds_test_swapout', 'no swap area')
		for port in suite.ports():
			self.assertIn(skip, suite.swap_skips(port))
			app = suite.Applied(port)
			self.assertIn(skip, runner.expectation(app).may_skip)
			self.assertNotIn(skip, runner.expectation(app, profile='live').may_skip)

	def test_a_case_that_needs_swap_is_expected_to_fail_only_in_a_live_run(self):
		case = 'thp_deferred_split_v1.thp_ds_test_swapout'
		v = variants.for_port('6.12')['node-queue']
		self.assertIn(case, v.expect_fail)
		app = suite.Applied('6.12', variant=v)
		self.assertNotIn(case, runner.expectation(app).expect_fail)
		self.assertIn(case, runner.expectation(app, profile='live').expect_fail)
		# 6.1 and 5.10 as shipped: their swap-out exposure shows only in a live run
		for port in ('6.1', '5.10'):
			app = suite.Applied(port)
			self.assertNotIn(case, runner.expectation(app).expect_fail)
			self.assertIn(case, runner.expectation(app, profile='live').expect_fail)

	def test_a_race_that_may_only_fail_on_a_target_may_still_crash_there(self):
		race = 'thp_deferred_split_race.thp_ds_test_race_reclaim_scan'
		for port in ('6.12', '7.2', '6.1'):
			app = suite.Applied(port, variant=variants.for_port(port)['seed-reclaim'])
			expect = runner.expectation(app, Target('arm64', '16k'))
			self.assertNotIn(race, expect.expect_fail)
			self.assertIn(race, expect.may_fail)
			self.assertIn(race, expect.may_crash, port)

	def test_a_live_only_variant_is_refused_in_another_profile(self):
		with self.assertRaises(UsageError) as cm:
			runner.check_request('7.2', None, 'swapout', DEFAULT)
		self.assertIn('--profile live', str(cm.exception))
		self.assertIsNone(runner.check_request('7.2', None, 'seed-reclaim', DEFAULT))
		self.assertIn('live', variants.profiles_of('swapout'))

	def test_a_kunit_without_a_debugfs_run_file_is_refused(self):
		with tempfile.TemporaryDirectory() as tree:
			self.assertIn('no debugfs', live.tree_refusal(tree))
			os.makedirs(os.path.join(tree, 'lib/kunit'))
			path = os.path.join(tree, 'lib/kunit/debugfs.c')
			with open(path, 'w') as f:
				f.write('#define KUNIT_DEBUGFS_RESULTS "results"\n')
			self.assertIn('no run file', live.tree_refusal(tree))
			# a port whose patch adds the run file (6.1's) makes it live-capable
			with open(suite.port_patches('6.1')[1]) as f:
				self.assertEqual(live.tree_refusal(tree, [f.read()]), '')
			self.assertIn('no run file', live.tree_refusal(tree, ['+#define KUNIT_DEBUGFS_RUN']))
			# before attribute filters, boot selects no suite instead
			self.assertFalse(live.registers_only(tree))
			with open(os.path.join(tree, 'lib/kunit/executor.c'), 'w') as f:
				f.write('module_param_named(filter_action, filter_action_param, charp, 0);\n')
			self.assertTrue(live.registers_only(tree))
			with open(path, 'a') as f:
				f.write('#define KUNIT_DEBUGFS_RUN "run"\n')
			self.assertEqual(live.tree_refusal(tree), '')

	def test_live_runs_boot_x86_64_only_for_now(self):
		with self.assertRaises(UsageError):
			live.check(Target('arm64', '4k'))


if __name__ == '__main__':
	unittest.main()
