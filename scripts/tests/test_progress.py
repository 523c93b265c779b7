"""Progress lines: each stage's time, and how far a build is."""

import contextlib
import io
import os
import tempfile
import unittest

from thpds import progress


def touch(d, n, start=0):
	for i in range(start, start + n):
		sub = os.path.join(d, f'dir{i % 7}')
		os.makedirs(sub, exist_ok=True)
		open(os.path.join(sub, f'f{i}.o'), 'w').close()


class BuildWatchTest(unittest.TestCase):
	def setUp(self):
		tmp = tempfile.TemporaryDirectory()
		self.addCleanup(tmp.cleanup)
		self.cache = tmp.name
		self.build = os.path.join(tmp.name, 'build')
		os.makedirs(self.build)

	def watch(self):
		# an interval no test waits for: report() is called directly
		return progress.BuildWatch(self.cache, 'debian-6.12', self.build, interval=3600)

	def feed(self, w, *lines, returncode=None):
		with contextlib.redirect_stdout(io.StringIO()) as out:
			for line in lines:
				w.line(line)
			if returncode is not None:
				w.close(returncode)
		return out.getvalue()

	def test_each_stage_says_its_time(self):
		w = self.watch()
		out = self.feed(w, '[10:00:00] Configuring KUnit Kernel ...\n',
				'[10:00:01] Building KUnit Kernel ...\n',
				'[10:00:09] Starting KUnit Kernel (1/1)...\n', returncode=0)
		self.assertRegex(out, r'\[thp-ds\] configure: [0-9.]+ s\n\[thp-ds\] build: [0-9.]+ s\n'
				 r'\[thp-ds\] boot: [0-9.]+ s\n')

	def test_a_first_cold_build_counts_objects_and_says_there_is_nothing_to_compare(self):
		w = self.watch()
		self.feed(w, 'Building KUnit Kernel ...\n')
		touch(self.build, 40)
		self.assertEqual(w.report(75), 'building: 40 objects so far, 1m15s (no earlier build '
				 'of this tree to compare with)')
		self.feed(w, 'Starting KUnit Kernel (1/1)...\n', returncode=1)	# tests failed: built
		self.assertEqual(progress.read_history(self.cache)['debian-6.12']['objects'], 40)
		self.assertIn('cold_seconds', progress.read_history(self.cache)['debian-6.12'])

	def test_the_next_cold_build_is_measured_against_the_last(self):
		progress.write_history(self.cache, {'debian-6.12': {'objects': 200,
								    'cold_seconds': 305}})
		w = self.watch()
		self.feed(w, 'Building KUnit Kernel ...\n')
		touch(self.build, 50)
		self.assertEqual(w.report(61), 'building: 50 of about 200 objects (25%), 1m01s; the '
				 'last cold build of this tree took 5m05s')

	def test_an_incremental_build_counts_what_it_rebuilt(self):
		touch(self.build, 190)
		progress.write_history(self.cache, {'debian-6.12': {'objects': 200,
								    'cold_seconds': 305}})
		w = self.watch()
		self.feed(w, 'Building KUnit Kernel ...\n')
		os.utime(os.path.join(self.build, 'dir0', 'f0.o'))	# rebuilt now
		text = w.report(12)
		self.assertTrue(text.startswith('building (incremental): '), text)
		self.assertIn('12 s', text)
		self.feed(w, returncode=0)
		# an incremental build leaves the last cold build's time alone
		self.assertEqual(progress.read_history(self.cache)['debian-6.12'],
				 {'objects': 190, 'cold_seconds': 305})

	def test_without_a_history_a_build_directory_only_configured_is_cold(self):
		touch(self.build, 25)	# kconfig's host objects
		w = self.watch()
		self.feed(w, 'Building KUnit Kernel ...\n', 'Starting KUnit Kernel\n', returncode=0)
		self.assertIn('cold_seconds', progress.read_history(self.cache)['debian-6.12'])

	def test_without_a_history_a_built_directory_is_not_cold(self):
		touch(self.build, 500)
		w = self.watch()
		self.feed(w, 'Building KUnit Kernel ...\n', 'Starting KUnit Kernel\n', returncode=0)
		self.assertEqual(progress.read_history(self.cache)['debian-6.12'], {'objects': 500})

	def test_a_failed_build_teaches_nothing(self):
		w = self.watch()
		touch(self.build, 3)
		self.feed(w, 'Building KUnit Kernel ...\n', returncode=2)
		self.assertEqual(progress.read_history(self.cache), {})

	def test_a_damaged_history_is_ignored(self):
		with open(os.path.join(self.cache, progress.HISTORY), 'w') as f:
			f.write('{not json')
		self.assertEqual(progress.read_history(self.cache), {})
		w = self.watch()
		self.feed(w, 'Building KUnit Kernel ...\n', 'Starting KUnit Kernel\n', returncode=0)
		self.assertIn('debian-6.12', progress.read_history(self.cache))


class StepTest(unittest.TestCase):
	def test_a_step_says_its_time_even_when_it_fails(self):
		with contextlib.redirect_stdout(io.StringIO()) as out:
			with self.assertRaises(RuntimeError):
				with progress.step('unpack'):
					raise RuntimeError('disk full')
		self.assertRegex(out.getvalue(), r'^\[thp-ds\] unpack: [0-9.]+ s\n$')


if __name__ == '__main__':
	unittest.main()
