"""Progress of the long steps: one line per step with its time, and during a
build how far it is.

A cold kernel build takes five minutes or more, and kunit.py says nothing
while make runs.  BuildWatch follows kunit.py's own stage lines
("Configuring", "Building", "Starting KUnit Kernel"), prints how long each
stage took, and while the build runs prints every INTERVAL seconds the
objects built so far against the count the last build of this tree left
(a cold build) or how many were rebuilt (an incremental one), and the time
the last cold build of the tree took.  What it learns is kept in
<cache>/build-history.json, by tree.  It only reads the build directory.
"""

import contextlib
import json
import os
import sys
import threading
import time
from typing import Dict, Iterator, Optional

INTERVAL = 30.0
STAGES = (('Configuring KUnit Kernel', 'configure'), ('Building KUnit Kernel', 'build'),
	  ('Starting KUnit Kernel', 'boot'))
HISTORY = 'build-history.json'
# A build that starts with fewer objects than this share of the last
# build's count is a cold one; without a last build, one that starts with
# no more than configuring leaves (kconfig's own host objects, ~20).
COLD_SHARE = 0.1
COLD_OBJECTS = 100


def say(text: str) -> None:
	print(f'[thp-ds] {text}', flush=True)


def minutes(seconds: float) -> str:
	seconds = int(round(seconds))
	return f'{seconds // 60}m{seconds % 60:02d}s' if seconds >= 60 else f'{seconds} s'


@contextlib.contextmanager
def step(name: str) -> Iterator[None]:
	"""Say how long the step @name took (also when it fails)."""
	start = time.monotonic()
	try:
		yield
	finally:
		say(f'{name}: {time.monotonic() - start:.1f} s')


def count_objects(build_dir: str, since: Optional[float] = None) -> int:
	"""The .o files under @build_dir (written at or after @since, if given)."""
	n = 0
	for dirpath, _, names in os.walk(build_dir):
		for name in names:
			if not name.endswith('.o'):
				continue
			if since is None:
				n += 1
				continue
			try:
				if os.stat(os.path.join(dirpath, name)).st_mtime >= since:
					n += 1
			except OSError:
				pass
	return n


def read_history(cache: str) -> Dict[str, Dict]:
	try:
		with open(os.path.join(cache, HISTORY)) as f:
			data = json.load(f)
		return data if isinstance(data, dict) else {}
	except (OSError, ValueError):
		return {}


def write_history(cache: str, history: Dict[str, Dict]) -> None:
	path = os.path.join(cache, HISTORY)
	tmp = path + '.tmp'
	with open(tmp, 'w') as f:
		json.dump(history, f, indent=1, sort_keys=True)
	os.replace(tmp, path)


class BuildWatch:
	"""Fed kunit.py's output lines; says each stage's time and, while the
	kernel builds, how far the build is."""

	def __init__(self, cache: str, tree_name: str, build_dir: str,
		     interval: float = INTERVAL) -> None:
		self.cache, self.tree_name, self.build_dir = cache, tree_name, build_dir
		self.interval = interval
		self.known = read_history(cache).get(tree_name, {})
		self.stage = ''
		self.stage_start = time.monotonic()
		self.build_start_wall = 0.0
		self.build_seconds = 0.0
		self.objects_before = 0
		self.cold = False
		self.booted = False
		self._stop = threading.Event()
		self._thread: Optional[threading.Thread] = None

	def line(self, text: str) -> None:
		for marker, stage in STAGES:
			if marker in text and stage != self.stage:
				self._enter(stage)

	def _enter(self, stage: str) -> None:
		now = time.monotonic()
		self._leave(now)
		self.stage, self.stage_start = stage, now
		self.booted = self.booted or stage == 'boot'
		if stage == 'build':
			self.build_start_wall = time.time()
			self.objects_before = count_objects(self.build_dir)
			total = self.known.get('objects', 0)
			self.cold = self.objects_before < (COLD_SHARE * total if total else
							   COLD_OBJECTS)
			self._stop.clear()
			self._thread = threading.Thread(target=self._watch, daemon=True)
			self._thread.start()

	def _leave(self, now: float) -> None:
		if not self.stage:
			return
		seconds = now - self.stage_start
		if self.stage == 'build':
			self._stop.set()
			if self._thread:
				self._thread.join()
			self.build_seconds = seconds
		say(f'{self.stage}: {seconds:.1f} s')

	def _watch(self) -> None:
		while not self._stop.wait(self.interval):
			say(self.report(time.monotonic() - self.stage_start))

	def report(self, elapsed: float) -> str:
		"""One progress line, @elapsed seconds into the build."""
		total = self.known.get('objects', 0)
		cold_time = self.known.get('cold_seconds', 0)
		if not self.cold:
			built = count_objects(self.build_dir, since=self.build_start_wall)
			return (f'building (incremental): {built} objects rebuilt so far, '
				f'{minutes(elapsed)}')
		built = count_objects(self.build_dir)
		if total:
			text = (f'building: {built} of about {total} objects '
				f'({min(99, 100 * built // total)}%), {minutes(elapsed)}')
		else:
			text = (f'building: {built} objects so far, {minutes(elapsed)} (no earlier '
				'build of this tree to compare with)')
		if cold_time:
			text += f'; the last cold build of this tree took {minutes(cold_time)}'
		return text

	def close(self, returncode: int) -> None:
		"""The process ended: say the last stage's time and, after a build
		that succeeded, remember its size (and time, when it was cold)."""
		self._leave(time.monotonic())
		# a run whose kernel booted was built, whatever the tests said
		built = self.build_seconds > 0 and (self.booted or returncode == 0)
		self.stage = ''
		if not built:
			return
		history = read_history(self.cache)
		entry = dict(history.get(self.tree_name, {}))
		entry['objects'] = count_objects(self.build_dir)
		if self.cold:
			entry['cold_seconds'] = round(self.build_seconds, 1)
		history[self.tree_name] = entry
		try:
			write_history(self.cache, history)
		except OSError as e:	# progress is a courtesy: never fail a run for it
			print(f'[thp-ds] cannot keep the build history: {e}', file=sys.stderr)
