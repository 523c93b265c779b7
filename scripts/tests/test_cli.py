"""Bad input to thp-ds gets one clear line and exit status 2, changing nothing."""

import contextlib
import fcntl
import io
import os
import subprocess
import sys
import tempfile
import threading
import types
import unittest
from unittest import mock

from tests import recordings
from tests.test_tree import make_fake_kernel
from thpds import cli, debian_source, host, kunit_run, lock, patches, runner, suite, target
from thpds.errors import UsageError
from thpds.verdict import Expectation

_module_env = mock.patch.dict(os.environ)
_module_cache = tempfile.TemporaryDirectory()


def setUpModule():
	# Every command now takes the cache's lock: no test may reach the
	# real cache (~/.cache/thp-ds), where real builds run.
	_module_env.start()
	os.environ['THP_DS_CACHE'] = os.path.join(_module_cache.name, 'cache')


def tearDownModule():
	_module_env.stop()
	_module_cache.cleanup()


class BadInputTest(unittest.TestCase):
	def setUp(self):
		self.tmp = tempfile.TemporaryDirectory()
		self.addCleanup(self.tmp.cleanup)
		patcher = mock.patch.dict(os.environ, {'THP_DS_CACHE': os.path.join(self.tmp.name, 'c')})
		patcher.start()
		self.addCleanup(patcher.stop)
		ensure = mock.patch.object(host, 'ensure')
		ensure.start()
		self.addCleanup(ensure.stop)

	def run_cli(self, *argv):
		err = io.StringIO()
		with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
			rc = cli.main(list(argv))
		return rc, err.getvalue()

	def test_uml_is_refused_with_the_reason(self):
		rc, err = self.run_cli('run', '--arch', 'um')
		self.assertEqual(rc, 2)
		self.assertIn('UML', err)
		self.assertIn('HAVE_ARCH_TRANSPARENT_HUGEPAGE', err)

	def test_missing_directory(self):
		rc, err = self.run_cli('run', '--tree', os.path.join(self.tmp.name, 'nope'))
		self.assertEqual(rc, 2)
		self.assertIn('no such directory', err)

	def test_not_a_kernel_tree(self):
		d = os.path.join(self.tmp.name, 'empty')
		os.makedirs(d)
		rc, err = self.run_cli('run', '--tree', d)
		self.assertEqual(rc, 2)
		self.assertIn('not a kernel source tree', err)

	def test_tree_no_port_fits_is_refused_before_copying(self):
		# a 7.2 tree whose deferred-split list_lru was renamed
		d = os.path.join(self.tmp.name, 'renamed')
		make_fake_kernel(d, design='debian-7.2.13')
		path = os.path.join(d, 'mm/huge_memory.c')
		with open(path) as f:
			text = f.read()
		with open(path, 'w') as f:
			f.write(text.replace('deferred_split_lru', 'thp_split_lru'))
		os.makedirs(os.path.join(d, 'tools/testing/kunit'))
		open(os.path.join(d, 'tools/testing/kunit/kunit.py'), 'w').close()
		rc, err = self.run_cli('run', '--tree', d)
		self.assertEqual(rc, 2)
		self.assertIn('no port of the suite fits', err)
		self.assertIn('the nearest is port 7.2', err)
		self.assertIn('mm/huge_memory.c has /^(?:static )?struct list_lru deferred_split_lru;/',
			      err)
		self.assertFalse(os.path.exists(os.path.join(self.tmp.name, 'c', 'trees')))

	def test_unknown_variant_names_the_ones_there_are(self):
		from thpds import runner, tree
		fake = mock.Mock(spec=tree.Tree)
		fake.path = self.tmp.name
		fake.meta = {'base': 'b'}
		with mock.patch.object(runner, 'prepare', return_value=fake) as prepare, \
		     mock.patch.object(tree, 'kernel_version', return_value='6.12.117'), \
		     mock.patch.object(tree, 'show', return_value='source "mm/damon/Kconfig"\nendmenu\n'):
			rc, err = self.run_cli('run', '--tree', '6.12', '--unpatched', 'nosuch')
		self.assertEqual(rc, 2)
		self.assertIn('no port has such a variant', err)
		self.assertIn('seed-reclaim', err)
		# refused before any tree is fetched (it used to download 150 MB first)
		prepare.assert_not_called()

	def test_bad_series(self):
		rc, err = self.run_cli('run', '--tree', 'latest')
		self.assertEqual(rc, 2)
		self.assertIn("give a Debian kernel series", err)


class ExitCodeTest(unittest.TestCase):
	"""0 pass, 1 fail, 2 usage, 3 infrastructure: one line each, no traceback."""

	def run_cli(self, *argv):
		err, out = io.StringIO(), io.StringIO()
		with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
			try:
				rc = cli.main(list(argv))
			except SystemExit as e:	# argparse
				rc = e.code
		return rc, out.getvalue(), err.getvalue()

	def test_help_documents_the_exit_codes(self):
		for argv in (['--help'], ['run', '--help']):
			rc, out, _ = self.run_cli(*argv)
			self.assertEqual(rc, 0)
			self.assertIn('3  the infrastructure failed', out)

	def test_count_and_timeout_below_one_are_refused(self):
		for argv in (['repeat', '--count', '0'], ['repeat', '--timeout', '-1'],
			     ['run', '--timeout', '0']):
			rc, _, err = self.run_cli(*argv)
			self.assertEqual(rc, 2, argv)
			self.assertIn('must be 1 or more', err)

	def test_repeat_boots_every_run_with_the_options_into_a_directory_of_their_own(self):
		calls = []
		record = recordings.load('6.12-shipped')[1]

		def run(*args, **kw):
			calls.append((kw['boot'], kw['out_name'], kw['mode']))
			return mock.Mock(record=record)
		with mock.patch.object(runner, 'run_tree', side_effect=run), \
		     mock.patch.object(host, 'ensure'):
			rc, _, _ = self.run_cli('repeat', '--count', '2', '--boot', 'cgroup.memory=nokmem')
		self.assertEqual(calls, [(['cgroup.memory=nokmem'], 'repeat-shipped+cgroup.memory=nokmem/1',
					  'run'),
					 (['cgroup.memory=nokmem'], 'repeat-shipped+cgroup.memory=nokmem/2',
					  'exec')])
		rc, _, err = self.run_cli('repeat', '--boot', 'panic=0')
		self.assertEqual(rc, 2)
		self.assertIn('boots with its own', err)

	def test_a_filter_that_selects_nothing_names_the_cases(self):
		with mock.patch.object(host, 'ensure') as ensure:
			rc, _, err = self.run_cli('run', '--filter', 'thp_deferred_split.nosuch*')
		self.assertEqual(rc, 2)
		self.assertIn('selects no case of the suite', err)
		self.assertIn('thp_deferred_split.thp_ds_test_checker', err)
		ensure.assert_not_called()	# refused before any work

	def test_infrastructure_failures_are_one_line_and_3(self):
		for exc in (OSError(28, 'No space left on device'),
			    subprocess.CalledProcessError(2, ['tar', '-xJf', 'x'])):
			with mock.patch.object(cli, 'cmd_fetch', side_effect=exc):
				rc, _, err = self.run_cli('fetch')
			self.assertEqual(rc, 3)
			self.assertEqual(len(err.strip().splitlines()), 1, err)
			self.assertNotIn('Traceback', err)

	def test_a_bug_in_the_tool_is_one_line_too(self):
		with mock.patch.object(cli, 'cmd_fetch', side_effect=KeyError('base')):
			rc, _, err = self.run_cli('fetch')
		self.assertEqual(rc, 3)
		self.assertIn('internal error: KeyError', err)
		self.assertNotIn('Traceback', err)

	def test_verdicts_map_to_0_and_1(self):
		for name, code in (('6.12-shipped', 0), ('param-crash', 1)):
			_, rec = recordings.load(name)
			run = mock.Mock(record=rec)
			with mock.patch.object(runner, 'run_tree', return_value=run), \
			     mock.patch.object(host, 'ensure'):
				rc, out, _ = self.run_cli('run')
			self.assertEqual(rc, code, out)


class CheckCountTest(unittest.TestCase):
	def test_the_last_line_counts_each_runs_cases_once(self):
		info = recordings.about('6.12-seed-reclaim-race-crash')
		race = 'thp_deferred_split_race.thp_ds_test_race_reclaim_scan'
		variant = Expectation(frozenset(info['expect_fail']), frozenset({race}))
		runs = {None: recordings.load('6.12-shipped')[1],
			'seed-reclaim': recordings.load('6.12-seed-reclaim-race-crash',
							expect=variant)[1]}
		fake_tests = mock.Mock(testsRun=5, failures=[], errors=[], skipped=[],
				       unexpectedSuccesses=[])
		with mock.patch.object(runner, 'run_tree',
				       side_effect=lambda spec, t, variant=None, **kw: mock.Mock(
					       record=runs[variant], applied=suite.Applied('6.12'))), \
		     mock.patch.object(cli, 'unit_tests', return_value=fake_tests), \
		     mock.patch.object(host, 'ensure'):
			out = io.StringIO()
			with contextlib.redirect_stdout(out):
				rc = cli.main(['check', '--trees', '6.12', '--no-series', '--targets', 'x86_64',
						 '--numa', '--rt', '--boots', '--live'])
		# 5 tooling tests + 21 shipped cases + 21 variant cases, each judged once
		self.assertEqual(out.getvalue().splitlines()[-1], '47 passed, 0 failed')
		self.assertEqual(rc, 0)

	def test_a_run_without_verdict_is_a_failure(self):
		fake_tests = mock.Mock(testsRun=1, failures=[], errors=[], skipped=[],
				       unexpectedSuccesses=[])
		with mock.patch.object(runner, 'run_tree',
				       side_effect=debian_source.FetchError('apt-get update failed')), \
		     mock.patch.object(cli, 'unit_tests', return_value=fake_tests), \
		     mock.patch.object(host, 'ensure'):
			out, err = io.StringIO(), io.StringIO()
			with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
				rc = cli.main(['check', '--trees', '6.12', '--variant', '', '--no-series',
					       '--targets', 'x86_64', '--numa', '--rt', '--boots', '--live'])
		self.assertEqual(out.getvalue().splitlines()[-1], '1 passed, 1 failed')
		self.assertEqual(rc, 1)


	def test_the_series_checks_count_in_the_last_line(self):
		fake_tests = mock.Mock(testsRun=1, failures=[], errors=[], skipped=[],
				       unexpectedSuccesses=[])
		runs = {None: recordings.load('6.12-shipped')[1]}
		with mock.patch.object(runner, 'run_tree',
				       side_effect=lambda spec, t, variant=None, **kw: mock.Mock(
					       record=runs[variant], applied=suite.Applied('6.12'))), \
		     mock.patch.object(cli, 'unit_tests', return_value=fake_tests), \
		     mock.patch.object(patches, 'project_check',
				       return_value=(4, 1, ['series of 6.12: 4 passed, 1 failed'])), \
		     mock.patch.object(host, 'ensure'):
			out = io.StringIO()
			with contextlib.redirect_stdout(out):
				rc = cli.main(['check', '--trees', '6.12', '--variant', '', '--targets', 'x86_64',
					       '--numa', '--rt', '--boots', '--live'])
		self.assertEqual(out.getvalue().splitlines()[-1], '26 passed, 1 failed')
		self.assertIn('series of 6.12: 4 passed, 1 failed', out.getvalue())
		self.assertEqual(rc, 1)


	def test_arm64_runs_the_first_tree_shipped_and_with_the_variant(self):
		fake_tests = mock.Mock(testsRun=1, failures=[], errors=[], skipped=[],
				       unexpectedSuccesses=[])
		calls = []
		record = recordings.load('6.12-shipped')[1]

		def run(spec, t, variant=None, target=None, profile='default', boot=(), jobs=None):
			calls.append((spec, variant, target.name) + ((profile,) if profile != 'default'
								     else ()) + tuple(boot))
			return mock.Mock(record=record, applied=suite.Applied(spec))
		with mock.patch.object(runner, 'run_tree', side_effect=run), \
		     mock.patch.object(cli, 'unit_tests', return_value=fake_tests), \
		     mock.patch.object(host, 'ensure'):
			with contextlib.redirect_stdout(io.StringIO()):
				cli.main(['check', '--trees', '6.12', '7.2', '--no-series', '--variant', 'put',
					  '--targets', 'x86_64', 'arm64-4k', '--live', '7.2',
					  '--numa', '7.2', '--rt', '6.12',
					  '--boots', 'cgroup_disable=memory'])
		# then each boot option, two NUMA nodes and PREEMPT_RT; the live profile
		# last: the tree as shipped, then the variants only it (or NUMA) reaches
		self.assertEqual(calls, [('6.12', None, 'x86_64'), ('6.12', 'put', 'x86_64'),
					 ('7.2', None, 'x86_64'), ('6.12', None, 'arm64-4k'),
					 ('6.12', 'put', 'arm64-4k'),
					 ('6.12', None, 'x86_64', 'cgroup_disable=memory'),
					 ('6.12', 'put', 'x86_64', 'cgroup_disable=memory'),
					 ('7.2', None, 'x86_64-numa'), ('7.2', 'cpu-node', 'x86_64-numa'),
					 ('6.12', None, 'x86_64', 'rt'), ('6.12', 'put', 'x86_64', 'rt'),
					 ('7.2', None, 'x86_64', 'live'),
					 ('7.2', 'swapout', 'x86_64', 'live')])


class HostTest(unittest.TestCase):
	def test_missing_qemu_without_install_is_explained(self):
		with mock.patch('os.path.exists', side_effect=lambda p: 'qemu' not in p):
			with self.assertRaises(UsageError) as cm:
				host.ensure(install=False)
		self.assertIn('qemu-system-x86', str(cm.exception))
		self.assertIn('--install-deps', str(cm.exception))

	def install(self, euid, sudo):
		with mock.patch.object(host, 'missing_packages', return_value=['ccache']), \
		     mock.patch.object(host.os, 'geteuid', return_value=euid), \
		     mock.patch.object(host.shutil, 'which',
				       side_effect=lambda name: '/usr/bin/sudo' if sudo else None), \
		     mock.patch.object(host.subprocess, 'run') as run, \
		     contextlib.redirect_stdout(io.StringIO()):
			host.ensure(install=True)
		return [c.args[0] for c in run.call_args_list]

	def test_root_installs_with_apt_get_directly(self):
		for sudo in (True, False):	# CI runs as root, often without sudo
			calls = self.install(0, sudo)
			self.assertEqual(calls[0], ['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get',
						    'update', '-q'])
			self.assertEqual(calls[1][:3], ['env', 'DEBIAN_FRONTEND=noninteractive',
							'apt-get'])
			self.assertIn('ccache', calls[1])

	def test_a_user_installs_through_sudo(self):
		calls = self.install(1000, True)
		self.assertEqual(calls[0], ['sudo', 'apt-get', 'update', '-q'])
		self.assertEqual(calls[1][:3], ['sudo', 'apt-get', 'install'])

	def test_a_user_without_sudo_is_told_what_to_do(self):
		with self.assertRaises(UsageError) as cm:
			self.install(1000, False)
		self.assertIn('run as root', str(cm.exception))
		self.assertIn('apt-get install ccache', str(cm.exception))

	def test_every_package_has_a_witness_file(self):
		self.assertEqual(sorted(set(host.HOST_PACKAGES + host.RERUN_PACKAGES
					    + host.CHECK_PACKAGES + host.LAB_PACKAGES
					    + target.PACKAGES['arm64'])),
				 sorted(host.HOST_FILES))
		for arch in target.ARCHES:
			self.assertTrue(set(target.PACKAGES[arch]) <= set(host.HOST_FILES), arch)
			where = target.parse(arch, None)
			self.assertIn(where.qemu_package, where.packages())
			self.assertEqual(host.HOST_FILES[where.qemu_package], f'/usr/bin/{where.qemu_binary}')



class RefreshOptionTest(unittest.TestCase):
	def test_refresh_asks_for_fresh_package_lists(self):
		for argv in (['fetch'], ['list'], ['run']):
			for refresh in (False, True):
				with mock.patch.object(debian_source, '_refresh_requested', False), \
				     mock.patch.object(cli, 'cmd_' + argv[0], return_value=0) as cmd:
					cli.main(argv + (['--refresh'] if refresh else []))
					self.assertEqual(debian_source._refresh_requested, refresh, argv)
				cmd.assert_called_once()


HOLDER = """
import sys
sys.path.insert(0, sys.argv[1])
from thpds import lock
lock.acquire(sys.argv[2], 'thp-ds run --tree 6.12')
print('held', flush=True)
sys.stdin.read()
"""


class LockTest(unittest.TestCase):
	"""One thp-ds per cache: a second waits (saying so once) or, with
	--no-wait, refuses with status 2."""

	def setUp(self):
		self.tmp = tempfile.TemporaryDirectory()
		self.addCleanup(self.tmp.cleanup)
		self.cache = os.path.join(self.tmp.name, 'cache')
		patcher = mock.patch.dict(os.environ, {'THP_DS_CACHE': self.cache})
		patcher.start()
		self.addCleanup(patcher.stop)

	def hold_elsewhere(self):
		"""Another process holding the cache's lock until its stdin closes."""
		scripts = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
		proc = subprocess.Popen([sys.executable, '-c', HOLDER, scripts, self.cache],
					stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
		self.addCleanup(proc.stdout.close)
		self.addCleanup(proc.wait)
		self.addCleanup(proc.stdin.close)
		self.assertEqual(proc.stdout.readline().strip(), 'held')
		return proc

	def run_cli(self, *argv):
		err, out = io.StringIO(), io.StringIO()
		with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
			rc = cli.main(list(argv))
		return rc, err.getvalue()

	def test_no_wait_refuses_naming_the_holder(self):
		holder = self.hold_elsewhere()
		with mock.patch.object(cli, 'cmd_fetch') as fetch:
			rc, err = self.run_cli('fetch', '--no-wait')
		self.assertEqual(rc, 2)
		fetch.assert_not_called()
		self.assertEqual(len(err.strip().splitlines()), 1, err)
		self.assertIn(f'in use by pid {holder.pid} (thp-ds run --tree 6.12', err)

	def test_a_second_run_waits_and_says_so_once(self):
		holder = self.hold_elsewhere()
		threading.Timer(0.5, holder.stdin.close).start()
		seen = []
		with mock.patch.object(cli, 'cmd_fetch',
				       side_effect=lambda args: seen.append(holder.poll()) or 0):
			rc, err = self.run_cli('fetch')
		self.assertEqual(rc, 0)
		self.assertEqual(err.count('waiting for the cache'), 1, err)
		self.assertIn(f'pid {holder.pid}', err)
		holder.wait()
		self.assertEqual(seen, [0], 'the command ran before the holder was gone')

	def test_the_labs_status_and_stop_do_not_wait_for_the_cache(self):
		for words, holds in ((['lava-lab', 'status'], False), (['lava-lab', 'stop'], False),
				     (['lava-lab', 'run'], True), (['export', 'x.json'], False)):
			args = cli.parser().parse_args(words)
			self.assertEqual(cli.locks_cache(args), holds, words)

	def test_every_command_that_touches_the_cache_holds_the_lock(self):
		commands = {'run': 'cmd_run', 'check': 'cmd_check', 'matrix': 'cmd_matrix',
			    'repeat': 'cmd_repeat', 'fetch': 'cmd_fetch', 'list': 'cmd_list'}
		for command, func in commands.items():
			held = []

			def body(args):
				held.append(lock.holds(self.cache))
				with open(os.path.join(self.cache, 'lock')) as f:
					held.append(f'pid {os.getpid()} (thp-ds {command}' in f.read())
				fd = os.open(os.path.join(self.cache, 'lock'), os.O_RDWR)
				try:
					fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
					held.append(False)
				except BlockingIOError:
					held.append(True)
				finally:
					os.close(fd)
				return 0
			with mock.patch.object(cli, func, side_effect=body):
				rc, err = self.run_cli(command)
			self.assertEqual((rc, held), (0, [True, True, True]), (command, err))
			self.assertFalse(lock.holds(self.cache), command)
			self.assertEqual(lock.holder(self.cache), '')

if __name__ == '__main__':
	unittest.main()


class TargetTest(unittest.TestCase):
	def test_names_round_trip_and_bad_ones_are_refused(self):
		for name in ('x86_64', 'x86_64-numa', 'arm64-4k', 'arm64-16k', 'arm64-64k'):
			self.assertEqual(target.from_name(name).name, name)
		for bad in ('x86_64-64k', 'arm64-8k', 'riscv', 'um', 'arm64-numa'):
			with self.assertRaises(UsageError):
				target.from_name(bad)

	def test_the_numa_target_boots_a_cpu_and_half_the_memory_per_node(self):
		where = target.parse('x86_64', None, numa=True)
		self.assertEqual(where, target.NUMA)
		self.assertFalse(where.default)
		self.assertIn('CONFIG_NUMA=y', where.kconfig())
		self.assertIn('CONFIG_X86_64_ACPI_NUMA=y', where.kconfig())
		args = where.qemu_args().split()
		self.assertEqual(args[:4], ['-smp', '2,sockets=2,cores=1,threads=1', '-m', '2048'])
		self.assertIn('node,nodeid=1,cpus=1,memdev=m1', args)
		self.assertIn('memory-backend-ram,id=m0,size=1024M', args)
		self.assertEqual(target.DEFAULT.kconfig(), ())
		with self.assertRaisesRegex(UsageError, 'x86_64 only'):
			target.parse('arm64', '4k', numa=True)

	def test_more_cpus_boot_the_same_build_with_results_of_their_own(self):
		from thpds import runner
		where = target.from_name('x86_64-smp4')
		self.assertEqual((where.name, where.cpus, where.build_name), ('x86_64-smp4', 4, 'x86_64'))
		self.assertEqual(where.qemu_args().split()[:2], ['-smp', '4'])
		self.assertEqual(where.kconfig(), target.DEFAULT.kconfig())
		self.assertEqual(target.from_name('arm64-16k-smp4').name, 'arm64-16k-smp4')
		tree = types.SimpleNamespace(path='/trees/debian-7.2')
		with mock.patch.object(runner, 'cache_dir', return_value='/c'):
			build, results = runner.run_dirs(tree, 'default', where)
			self.assertEqual(build, runner.run_dirs(tree, 'default')[0])
			self.assertEqual(results, '/c/results/debian-7.2-x86_64-smp4')
			self.assertEqual(runner.run_dirs(tree, 'default', target.from_name('arm64-4k-smp4')),
					 ('/c/build/debian-7.2-arm64-4k', '/c/results/debian-7.2-arm64-4k-smp4'))
		for bad in ('x86_64-smp1', 'x86_64-smp9', 'x86_64-numa-smp4'):
			with self.assertRaises(UsageError):
				target.from_name(bad)

	def test_preempt_rt_is_refused_where_the_architecture_cannot_build_it(self):
		with tempfile.TemporaryDirectory() as t:
			os.makedirs(os.path.join(t, 'arch/x86'))
			os.makedirs(os.path.join(t, 'mm'))
			with open(os.path.join(t, 'arch/x86/Kconfig'), 'w') as f:
				f.write('config X86_64\n\tselect ARCH_SUPPORTS_INT128\n')
			thp = ('menuconfig TRANSPARENT_HUGEPAGE\n\tbool "Transparent Hugepage Support"\n'
			       '\tdepends on HAVE_ARCH_TRANSPARENT_HUGEPAGE%s\n\tselect COMPACTION\n')
			with open(os.path.join(t, 'mm/Kconfig'), 'w') as f:
				f.write(thp % ' && !PREEMPT_RT')
			self.assertIn('does not select ARCH_SUPPORTS_RT',
				      runner.rt_refusal(t, target.DEFAULT))
			with open(os.path.join(t, 'arch/x86/Kconfig'), 'a') as f:
				f.write('\tselect ARCH_SUPPORTS_RT\n')
			self.assertIn('a PREEMPT_RT kernel has no THP', runner.rt_refusal(t, target.DEFAULT))
			with open(os.path.join(t, 'mm/Kconfig'), 'w') as f:
				f.write(thp % '')
			self.assertEqual(runner.rt_refusal(t, target.DEFAULT), '')
			self.assertIn('cannot read', runner.rt_refusal(t, target.Target('arm64', '4k')))

	def test_a_variant_confined_to_the_numa_target_is_refused_elsewhere(self):
		runner.check_request('7.2', None, 'cpu-node', target.NUMA)
		with self.assertRaisesRegex(UsageError, 'only on x86_64-numa.*--numa'):
			runner.check_request('7.2', None, 'cpu-node', target.DEFAULT)

	def test_matrix_columns_of_a_boot_option_and_of_the_numa_target(self):
		self.assertEqual(cli.matrix_variants('7.2', 'default', ('cgroup_disable=memory',)),
				 [None, 'seed-reclaim'])
		self.assertEqual(cli.matrix_variants('6.1', 'default', ('cgroup.memory=nokmem',)),
				 [None, 'backported', 'seed-reclaim'])
		self.assertNotIn('cpu-node', cli.matrix_variants('7.2', 'default'))
		self.assertIn('cpu-node', cli.matrix_variants('7.2', 'default', (), target.NUMA))
		self.assertNotIn('swapout', cli.matrix_variants('7.2', 'default', (), target.NUMA))
		self.assertEqual(cli.matrix_variants('7.2', 'default', ('cgroup.memory=nokmem',),
						     target.NUMA), [None, 'cpu-node', 'seed-reclaim'])

	def test_a_page_size_the_tree_does_not_offer_is_refused_with_the_reason(self):
		with tempfile.TemporaryDirectory() as t:
			os.makedirs(os.path.join(t, 'arch/arm64'))
			with open(os.path.join(t, 'arch/arm64/Kconfig'), 'w') as f:
				f.write('choice\n\tprompt "Page size"\n\nconfig ARM64_4K_PAGES\n'
					'\tbool "4KB"\n\nconfig ARM64_64K_PAGES\n\tbool "64KB"\n'
					'endchoice\n')
			self.assertEqual(target.Target('arm64', '64k').refusal(t), '')
			self.assertEqual(target.Target('arm64', '16k').refusal(t),
					 'its arch/arm64/Kconfig has no ARM64_16K_PAGES (it offers: 4k, 64k)')
			self.assertEqual(target.DEFAULT.refusal(t), '')
		self.assertIn('it has no arm64 architecture',
			      target.Target('arm64', '4k').refusal('/nonexistent'))

	def test_arm64_command_cross_compiles_with_its_page_size_and_memory(self):
		cmd = kunit_run.kunit_command('/t', '/b', '/o.json', 300, 2,
					      target=target.Target('arm64', '64k'))
		self.assertIn('--arch=arm64', cmd)
		self.assertIn('--cross_compile=aarch64-linux-gnu-', cmd)
		self.assertIn('--kconfig_add=CONFIG_ARM64_64K_PAGES=y', cmd)
		self.assertIn('--make_options=CC=ccache aarch64-linux-gnu-gcc', cmd)
		self.assertTrue(any(a.startswith('--qemu_args=') and '-m 8192' in a for a in cmd))
		# whatever CPU the tree's kunit.py names (6.1's Cortex-A57 has no 16K granule)
		self.assertTrue(any(a.startswith('--qemu_args=') and a.endswith('-cpu max,pauth-impdef=on')
				    for a in cmd))
		self.assertNotIn('-cpu', target.DEFAULT.qemu_args())


class MatrixVariantsTest(unittest.TestCase):
	def test_the_live_column_runs_what_only_a_live_run_can_show(self):
		self.assertEqual(cli.matrix_variants('7.2', 'live'),
				 [None, 'node-queue', 'seed-reclaim', 'swapout'])
		self.assertNotIn('swapout', cli.matrix_variants('7.2', 'default'))
		self.assertIn('node-queue', cli.matrix_variants('7.2', 'default'))
