"""The LAVA lab's driving of lava-server and lavacli (lava_lab.py), on the
outputs those commands print (lava-server 2023.01, lavacli 1.2)."""

import unittest
from unittest import mock

from thpds import lava_lab

SHOW = """id          : 12
description : thp-ds 6.12-x86_64-shipped
device      : thp-ds-qemu-02
state       : Finished
Health      : Complete
submit time : 20261206T19:40:41
"""


class LabTest(unittest.TestCase):
	def test_the_user_token_is_read_back_and_made_once(self):
		outputs = {('users', 'list'): 'Users:\n* thpds\n',
			   ('tokens', 'list', '--user', 'thpds'):
			   "Tokens for user 'thpds':\n* abc123 ()\n"}
		with mock.patch.object(lava_lab, 'manage',
				       side_effect=lambda *a, **k: outputs.get(a, '')) as m:
			self.assertEqual(lava_lab.user_token(), 'abc123')
		self.assertFalse(any(c.args[:2] == ('tokens', 'add') for c in m.call_args_list))

	def test_a_job_state_is_read_from_lavacli(self):
		with mock.patch.object(lava_lab, 'lavacli', return_value=SHOW):
			s = lava_lab.state('uri', 12)
		self.assertEqual((s['state'], s['health'], s['device']),
				 ('Finished', 'Complete', 'thp-ds-qemu-02'))

	def test_a_job_past_the_bound_is_cancelled_and_said(self):
		running = SHOW.replace('Finished', 'Running')
		calls = []

		def lavacli(uri, *args, check=True):
			calls.append(args)
			return SHOW if args[-1] == '1' else running
		with mock.patch.object(lava_lab, 'lavacli', side_effect=lavacli), \
		     mock.patch.object(lava_lab.time, 'sleep'):
			done = lava_lab.wait('uri', [1, 2], timeout=0)
		self.assertEqual(done[1]['state'], 'Finished')
		self.assertEqual(done[2], {'state': 'Cancelled', 'health': 'Incomplete'})
		self.assertIn(('jobs', 'cancel', '2'), calls)

	def test_a_submission_gives_its_job_id(self):
		with mock.patch.object(lava_lab, 'lavacli', return_value='17\n'):
			self.assertEqual(lava_lab.submit('uri', 'job.yaml'), 17)

	def test_the_lab_runs_as_root_only(self):
		from thpds.errors import UsageError
		with mock.patch.object(lava_lab.os, 'geteuid', return_value=1000), \
		     self.assertRaises(UsageError):
			lava_lab.start()



class StopTest(unittest.TestCase):
	def test_stop_returns_when_everything_it_stopped_is_gone(self):
		alive = {'manage lava-publisher': 3}	# the publisher takes a moment to go

		def pids_of(pattern):
			if pattern == lava_lab.PUBLISHER and alive['manage lava-publisher']:
				alive['manage lava-publisher'] -= 1
				return [42]
			return []
		with mock.patch.object(lava_lab, 'pids_of', side_effect=pids_of), \
		     mock.patch.object(lava_lab.os, 'kill') as kill, \
		     mock.patch.object(lava_lab.time, 'sleep'):
			self.assertEqual(lava_lab.stop(), ['publisher (1)'])
		kill.assert_called_once_with(42, lava_lab.signal.SIGTERM)
		self.assertEqual(alive['manage lava-publisher'], 0)

	def test_one_that_does_not_go_is_said(self):
		from thpds.errors import InfraError
		with mock.patch.object(lava_lab, 'pids_of', return_value=[42]), \
		     mock.patch.object(lava_lab.os, 'kill'), mock.patch.object(lava_lab.time, 'sleep'), \
		     self.assertRaises(InfraError):
			lava_lab.stop()


class EventsTest(unittest.TestCase):
	def test_events_are_turned_on_once_on_loopback(self):
		import os
		import tempfile
		with tempfile.TemporaryDirectory() as d:
			path = os.path.join(d, '01-thp-ds-events.yaml')
			with mock.patch.object(lava_lab, 'EVENTS_SETTINGS', path):
				self.assertTrue(lava_lab.events())	# written: restart what runs
				self.assertFalse(lava_lab.events())	# as it was: nothing to restart
				with open(path, 'w') as f:
					f.write('EVENT_NOTIFICATION: false\n')
				self.assertTrue(lava_lab.events())
			with open(path) as f:
				text = f.read()
		self.assertIn('EVENT_NOTIFICATION: true', text)
		self.assertIn('tcp://127.0.0.1:5500', text)	# not tcp://*, LAVA's default

	def test_the_publisher_listens_on_loopback(self):
		with mock.patch.object(lava_lab, 'pids_of', return_value=[]), \
		     mock.patch.object(lava_lab, 'spawn') as spawn:
			lava_lab.publisher()
		cmd = spawn.call_args.args[0]
		self.assertEqual(cmd[:3], ['lava-server', 'manage', 'lava-publisher'])
		self.assertEqual(cmd[cmd.index('--host') + 1], '127.0.0.1')


class SharedCoresTest(unittest.TestCase):
	def test_a_guests_cpus_are_read_from_its_job(self):
		self.assertEqual(lava_lab.guest_cpus("extra_options:\n- -smp 4\n- -no-reboot\n"), 4)
		self.assertEqual(lava_lab.guest_cpus("extra_options:\n- -smp 2,sockets=2,cores=1\n"), 2)
		self.assertEqual(lava_lab.guest_cpus("extra_options: []\n"), 1)

	def test_guests_that_share_cores_are_said_and_others_not(self):
		said = lava_lab.shared_cores(2, 2, 2)
		self.assertIn('2 workers run up to 2 guests of 2 CPUs at once on 2 host cores', said)
		self.assertIn('no verdict', said)
		self.assertEqual(lava_lab.shared_cores(2, 2, 4), '')
		self.assertEqual(lava_lab.shared_cores(1, 2, 2), '')
		self.assertEqual(lava_lab.shared_cores(1, 4, 2), '')	# one guest: as thp-ds run
		self.assertIn('3 workers', lava_lab.shared_cores(3, 2, 4))


class RunTest(unittest.TestCase):
	"""thp-ds lava-lab run end to end, with lavacli's answers given: each job
	submitted, waited for, its log read and judged, the matrix written and
	compared."""

	def test_a_job_comes_back_as_the_tools_own_run(self):
		import contextlib
		import io
		import json
		import os
		import tempfile
		from tests import recordings
		from tests.test_lava import ResultsTest
		from thpds import cases, cli, document, host, lava_results
		from thpds.verdict import judge
		with tempfile.TemporaryDirectory() as out:
			run, rec = recordings.load('6.12-seed-reclaim')
			os.makedirs(os.path.join(out, 'jobs'))
			sidecar = {'record': rec.to_json(), 'timeout': 300, 'tree_path': '/tree',
				   'kunit_py': '/tree/tools/testing/kunit/kunit.py'}
			with open(os.path.join(out, 'jobs', 'a.thp-ds.json'), 'w') as f:
				json.dump(sidecar, f)
			with open(os.path.join(out, 'jobs', 'a.yaml'), 'w') as f:
				f.write('{}\n')
			document.write(os.path.join(out, 'jobs', 'index.json'), [
				{'job': 'a', 'definition': 'jobs/a.yaml', 'sidecar': 'jobs/a.thp-ds.json',
				 'kernel': 'artifacts/a/bzImage'}])
			mine = os.path.join(out, 'mine.json')
			document.write(mine, [document.document(rec)])
			with open(os.path.join(recordings.DATA, '6.12-seed-reclaim', 'kunit.json')) as f:
				parsed = {'output': '', 'json': json.load(f), 'returncode': 1}
			with open(os.path.join(recordings.DATA, '6.12-seed-reclaim', 'declared.json')) as f:
				declared = json.load(f)
			log = ResultsTest.lava_log(None, '6.12-seed-reclaim')
			with mock.patch.dict(os.environ, {'THP_DS_CACHE': os.path.join(out, 'c')}), \
			     mock.patch.object(lava_lab, 'start', return_value='uri'), \
			     mock.patch.object(lava_lab, 'submit', return_value=7), \
			     mock.patch.object(lava_lab, 'wait', return_value={7: {'health': 'Complete'}}), \
			     mock.patch.object(lava_lab, 'log_lines', return_value=log), \
			     mock.patch.object(lava_results, 'kunit_parse', return_value=parsed), \
			     mock.patch.object(cases, 'tree_declared', return_value=declared), \
			     mock.patch.object(host, 'ensure'), \
			     contextlib.redirect_stdout(io.StringIO()) as printed:
				code = cli.main(['lava-lab', 'run', '--out', out, '--compare', mine])
			self.assertEqual(code, 0, printed.getvalue())
			self.assertIn('every verdict and cell equal', printed.getvalue())
			back = document.load(os.path.join(out, 'results-lab', 'matrix.json'))
			self.assertEqual(judge(back[0]).summary(), judge(rec).summary())
			self.assertIn('log LAVA job 7 (Complete)', printed.getvalue())

if __name__ == '__main__':
	unittest.main()
