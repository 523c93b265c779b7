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


if __name__ == '__main__':
	unittest.main()
