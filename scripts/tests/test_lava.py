"""LAVA jobs (lava.py, jobs.py): every definition the tool writes passes
LAVA's own job schema (lava-common, as lava-server checks a submission),
and boots the kernel as the tool's own run does."""

import contextlib
import dataclasses
import io
import json
import os
import re
import shutil
import tempfile
import unittest
from unittest import mock

from tests import recordings
from thpds import jobs, kunit_run, lava, live, runner, suite, target
from thpds.verdict import RunRecord, judge

TARGETS = ('x86_64', 'x86_64-numa', 'x86_64-smp4', 'arm64-4k', 'arm64-16k', 'arm64-64k')


def job_for(name='6.12-x86_64-shipped', where=target.DEFAULT, boot=()):
	return lava.definition(name, where, 'file:///srv/k/bzImage',
			       lava.command_line(where, (*runner.tool_boot('6.12', where), *boot)),
			       300, {'tree': '6.12', 'variant': 'shipped'})


class DefinitionTest(unittest.TestCase):
	def test_every_target_passes_lavas_schema(self):
		for name in TARGETS:
			with self.subTest(target=name):
				where = target.from_name(name)
				self.assertEqual(lava.schema_error(job_for(lava.slug('6.12', name), where,
									   ('cgroup.memory=nokmem',))), '')

	def test_lavas_schema_is_shown_to_refuse(self):
		broken = {
			'no visibility': lambda j: j.pop('visibility'),
			'a context LAVA does not know': lambda j: j['context'].update(cmdline='x'),
			'kernel arguments on a qemu boot': lambda j: j['actions'][1]['boot'].update(
				kernel_args='x'),
			'a monitor name with a space': lambda j: j['actions'][2]['test']['monitors'][0]
			.update(name='thp ds'),
			'an action longer than the job': lambda j: j['timeouts'].update(
				job={'minutes': 1}),
		}
		for what, breaking in broken.items():
			with self.subTest(broken=what):
				job = job_for()
				breaking(job)
				self.assertNotEqual(lava.schema_error(job), '')

	def test_the_guest_boots_as_the_tools_own_run_does(self):
		where = target.NUMA
		job = job_for(where=where, boot=('transparent_hugepage=never',))
		image_arg = job['actions'][0]['deploy']['images']['kernel']['image_arg']
		cmdline = re.fullmatch(r'-kernel \{kernel\} -append "(.*)"', image_arg).group(1).split()
		self.assertEqual(cmdline[:3], ['console=ttyS0', 'kunit_shutdown=reboot',
					       'kunit.enable=1'])
		for arg in (*kunit_run.KERNEL_ARGS, *runner.tool_boot('6.12', where),
			    'transparent_hugepage=never'):
			self.assertIn(arg, cmdline)
		ctx = job['context']
		self.assertEqual((ctx['arch'], ctx['no_kvm'], ctx['memory']), ('x86_64', True, 2048))
		self.assertIn('-smp 2,sockets=2,cores=1,threads=1', ctx['extra_options'])
		self.assertEqual(sum(o.startswith('-numa node') for o in ctx['extra_options']), 2)
		self.assertIn('-no-reboot', ctx['extra_options'])
		arm = job_for(where=target.from_name('arm64-64k'))['context']
		self.assertEqual((arm['machine'], arm['cpu'], arm['memory']),
				 ('virt', 'max,pauth-impdef=on', 8192))
		self.assertFalse(any(o.startswith(('-m ', '-cpu')) for o in arm['extra_options']))

	def test_the_monitor_reports_each_ktap_result_of_a_real_console(self):
		with open(os.path.join(recordings.DATA, '6.12-seed-reclaim', 'console.log')) as f:
			console = f.read().replace('\n', '\r\r\n')	# as LAVA's serial reads it
		self.assertTrue(re.search(lava.MONITOR['start'], console))
		found = re.findall(lava.MONITOR['pattern'], console)
		lines = re.findall(r'^\s*(not ok|ok) \d+ ', console, re.M)
		self.assertEqual(len(found), len(lines))
		self.assertIn(('not ok', 'thp_ds_test_free_reclaim_lock'), found)
		self.assertIn(('ok', 'thp_ds_test_free_put'), found)

	def test_a_live_run_is_a_job_of_its_boots_each_with_its_initramfs(self):
		where = target.DEFAULT
		boots = [('file:///srv/k/live-cgroup-v1.cpio', ['console=ttyS0', 'kunit.filter_glob=a']),
			 ('file:///srv/k/live-cgroup2.cpio', ['console=ttyS0', 'kunit.filter_glob=b'])]
		job = lava.definition('6.12-x86_64-live-shipped', where, 'file:///srv/k/bzImage',
				      [], 300, {'tree': '6.12'}, boots)
		self.assertEqual(lava.schema_error(job), '')
		kinds = [next(iter(a)) for a in job['actions']]
		self.assertEqual(kinds, ['deploy', 'boot', 'test'] * 2)
		for i, (ramdisk, line) in enumerate(boots):
			images = job['actions'][3 * i]['deploy']['images']
			self.assertEqual(images['ramdisk'], {'url': ramdisk, 'image_arg': '-initrd {ramdisk}'})
			self.assertIn(f'-append "{" ".join(line)}"', images['kernel']['image_arg'])
			monitor = job['actions'][3 * i + 2]['test']['monitors'][0]
			self.assertEqual(monitor, lava.LIVE_MONITOR)
		# the job's bound holds both boots
		self.assertGreaterEqual(job['timeouts']['job']['minutes'], 2 * (5 + 5))
		# what init prints: the live monitor starts at its first run and ends with it
		console = 'THPDS-RUNNING 1 thp_deferred_split\r\r\n    ok 1 thp_ds_test_enqueue\r\r\n'
		self.assertTrue(re.search(lava.LIVE_MONITOR['start'], console))
		self.assertEqual(re.findall(lava.LIVE_MONITOR['pattern'], console),
				 [('ok', 'thp_ds_test_enqueue')])
		self.assertTrue(re.search(lava.LIVE_MONITOR['end'], 'THPDS-DONE\r'))

	def test_names_are_what_lava_takes(self):
		self.assertEqual(lava.slug('6.12', 'x86_64', '', 'shipped', 'cgroup.memory=nokmem'),
				 '6.12-x86_64-shipped-cgroup.memory_nokmem')
		self.assertEqual(jobs.job_name('/home/me/linux', target.NUMA, 'debug', 'backported',
					       ()), 'linux-x86_64-numa-debug-backported')


class StageTest(unittest.TestCase):
	"""jobs.stage() on a planned run whose build is faked."""

	def setUp(self):
		self.dir = tempfile.mkdtemp()
		self.addCleanup(shutil.rmtree, self.dir)
		tree = mock.Mock(path=os.path.join(self.dir, 'tree'),
				 meta={'origin': 'linux-source-6.12', 'version': '6.12.118-1~deb12u1',
				       'suite': 'bookworm-security'})
		_, rec = recordings.load('6.12-seed-reclaim')
		self.plan = runner.Plan(tree, '6.12', rec.selected, suite.Applied('6.12'), 'shipped',
					True, "its port's declarations", 'this repository',
					os.path.join(self.dir, 'build'), os.path.join(self.dir, 'results'), ())

	def stage(self, build_status=0, profile='default'):
		def build(tree, build_dir, *args, **kw):
			image = lava.kernel_path(build_dir, target.DEFAULT)
			os.makedirs(os.path.dirname(image), exist_ok=True)
			with open(image, 'w') as f:
				f.write('kernel')
			return build_status
		with mock.patch.object(runner, 'plan', return_value=self.plan), \
		     contextlib.redirect_stdout(io.StringIO()), \
		     mock.patch.object(kunit_run, 'build', side_effect=build), \
		     mock.patch.object(runner, 'apply_suite'), \
		     mock.patch('thpds.tree.kernel_version', return_value='6.12.118'), \
		     mock.patch.object(runner, 'profile_refusal', return_value=''), \
		     mock.patch.object(live, 'initramfs', return_value=b'cpio'), \
		     mock.patch.object(live, 'registers_only', return_value=True):
			return jobs.stage('6.12', None, target.DEFAULT, profile, (), self.dir, 300)

	def test_a_staged_run_has_its_kernel_job_and_record(self):
		import yaml
		staged = self.stage()
		with open(staged.job) as f:
			job = yaml.safe_load(f)
		self.assertEqual(lava.schema_error(job), '')
		self.assertEqual(job['actions'][0]['deploy']['images']['kernel']['url'],
				 'file://' + staged.kernel)
		with open(staged.sidecar) as f:
			side = json.load(f)
		self.assertEqual(side['schema'], jobs.SIDECAR)
		rec = RunRecord.from_json(side['record'])
		self.assertEqual((rec.version, rec.port, rec.variant, rec.cases),
				 ('6.12.118-1~deb12u1', '6.12', 'shipped', ()))
		self.assertEqual(rec.selected, self.plan.selected)
		self.assertEqual(job['metadata']['thp-ds.version'], '6.12.118-1~deb12u1')

	def test_a_live_run_stages_an_initramfs_per_boot_and_names_its_boots(self):
		import yaml
		staged = self.stage(profile='live')
		with open(staged.job) as f:
			job = yaml.safe_load(f)
		self.assertEqual(lava.schema_error(job), '')
		with open(staged.sidecar) as f:
			side = json.load(f)
		names = [b.name for b in live.boots_for(self.plan.selected)]
		self.assertEqual(side['live_boots'], names)
		deploys = [a['deploy']['images'] for a in job['actions'] if 'deploy' in a]
		self.assertEqual(len(deploys), len(names))
		for name, images in zip(names, deploys):
			ramdisk = images['ramdisk']['url']
			self.assertTrue(ramdisk.endswith(f'/live-{name}.cpio'))
			self.assertTrue(os.path.isfile(ramdisk[len('file://'):]))
			line = re.fullmatch(r'-kernel \{kernel\} -append "(.*)"',
					    images['kernel']['image_arg']).group(1).split()
			# the live boot's command line: no kunit_shutdown (init ends the boot)
			self.assertNotIn('kunit_shutdown=reboot', line)
			self.assertIn('brd.rd_nr=1', line)
			for arg in live.ON_CONSOLE_ARGS:
				self.assertIn(arg, line)
		self.assertEqual(RunRecord.from_json(side['record']).profile, 'live')

	def test_a_kernel_that_does_not_build_writes_no_job(self):
		from thpds.errors import InfraError
		with self.assertRaises(InfraError):
			self.stage(build_status=2)
		self.assertFalse(os.path.exists(os.path.join(self.dir, 'jobs')))



class ResultsTest(unittest.TestCase):
	"""A LAVA job's log, judged as the tool's own run of the same boot."""

	def lava_log(self, name, finished=True):
		with open(os.path.join(recordings.DATA, name, 'console.log')) as f:
			console = f.read().splitlines()
		lines = ['- {"dt": "2026-12-06T19:00:00", "lvl": "info", "msg": "start"}']
		lines += ['- ' + json.dumps({'dt': '2026-12-06T19:00:01', 'lvl': 'target',
					     'msg': line + '\r'}) for line in console]
		job = {'definition': 'lava', 'case': 'job', 'result': 'pass' if finished else 'fail'}
		if not finished:
			job['error_msg'] = 'test-monitor timed out after 300 seconds'
		lines.append('- ' + json.dumps({'dt': '2026-12-06T19:00:02', 'lvl': 'results',
						'msg': job}))
		return lines

	def judged(self, name, finished=True):
		from thpds import cases, lava_results
		out, rec = recordings.load(name)
		with open(os.path.join(recordings.DATA, name, 'kunit.json')) as f:
			kunit_json = json.load(f)
		with open(os.path.join(recordings.DATA, name, 'declared.json')) as f:
			declared = json.load(f)
		sidecar = {'record': dataclasses.replace(rec, cases=()).to_json(), 'timeout': 300,
			   'kunit_py': '/tree/tools/testing/kunit/kunit.py', 'tree_path': '/tree'}
		log = lava_results.read_log(self.lava_log(name, finished))
		with mock.patch.object(lava_results, 'kunit_parse', return_value={
			'output': '', 'json': kunit_json, 'returncode': out.returncode}), \
		     mock.patch.object(cases, 'tree_declared', return_value=declared):
			return rec, lava_results.record(sidecar, log)

	def test_a_job_is_judged_as_the_tools_run_of_the_same_boot(self):
		for name in ('6.12-seed-reclaim', 'one-cpu', 'param-crash', '6.1-hidden-skips'):
			with self.subTest(run=name):
				rec, from_lava = self.judged(name)
				self.assertEqual(from_lava.cases, rec.cases)
				self.assertEqual(from_lava.oops, rec.oops)
				self.assertEqual(from_lava.kernel_reports, rec.kernel_reports)
				self.assertEqual(judge(from_lava).summary(), judge(rec).summary())

	def test_a_job_lava_stopped_is_a_timeout(self):
		_, from_lava = self.judged('6.12-seed-reclaim', finished=False)
		self.assertTrue(from_lava.timed_out)
		self.assertIn('the guest was stopped by the timeout before the suite finished',
			      judge(from_lava).reasons)


class LiveResultsTest(unittest.TestCase):
	"""Real LAVA jobs of live runs (6.12, lava-run, 2026-12-06): the job's
	console cut into its two boots, each read as the tool's live run reads
	one of its own."""

	DATA = os.path.join(os.path.dirname(recordings.DATA), 'lava')

	def judged(self, name):
		import gzip
		from thpds import cases, lava_results
		d = os.path.join(self.DATA, name)
		with gzip.open(os.path.join(d, 'lava.log.gz'), 'rt') as f:
			log = lava_results.read_log(f.read().splitlines())
		with open(os.path.join(d, 'sidecar.json')) as f:
			sidecar = json.load(f)
		with open(os.path.join(d, 'kunit.json')) as f:
			parsed = json.load(f)
		with open(os.path.join(d, 'declared.json')) as f:
			declared = json.load(f)
		with mock.patch.object(lava_results, 'kunit_parse', return_value=dict(
			parsed, output='')) as parse, \
		     mock.patch.object(cases, 'tree_declared', return_value=declared):
			rec = lava_results.record(sidecar, log)
		return rec, parse.call_args.args[1]

	def test_a_live_job_is_judged_as_the_tools_own_live_run(self):
		rec, ktap = self.judged('6.12-live-shipped')
		with open(os.path.join(self.DATA, '6.12-live-shipped', 'own-run.json')) as f:
			own = json.load(f)
		# what kunit.py parsed: the results files of both boots, one document
		self.assertTrue(ktap.startswith('KTAP version 1\n1..4\n'))
		self.assertEqual([[c.name, c.status.value] for c in rec.cases], own['cases'])
		self.assertEqual(judge(rec).summary(), own['summary'])
		self.assertEqual((rec.live_errors, rec.oops, rec.kernel_reports, rec.timed_out),
				 ((), '', (), False))

	def test_a_live_job_whose_guest_crashed_keeps_the_reports_before_the_crash(self):
		rec, _ = self.judged('6.12-live-seed-reclaim-crash')
		self.assertTrue(rec.oops.startswith('kernel BUG at include/linux/mm.h:1140!'))
		# printed at a level the console did not show: recovered from the
		# log the panic printed (panic_print), after its own line
		self.assertIn('DEBUG_LIST: list_del corruption', rec.kernel_reports)
		self.assertEqual(rec.live_errors, ())	# a crash, not an unfinished init
		self.assertEqual(judge(rec).summary(),
				 'PASS: caught as declared (5 declared failures, 25 other cases passed, '
				 '0 wrong, 1 skipped)')

if __name__ == '__main__':
	unittest.main()
