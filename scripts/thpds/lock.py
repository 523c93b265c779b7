"""One lock per cache: only one thp-ds at a time touches trees, builds, debs, apt.

Two runs on one cache would check a tree out under the other's build, or
unpack over the other's staging.  Every command that touches the cache holds
an exclusive flock on <cache>/lock for its whole duration; the kernel drops
it when the process ends, however it ends, so a lock is never stale.  The
holder writes who it is into the file, for the one line a waiting run prints.
"""

import contextlib
import os
import sys
import time
from typing import Dict, Iterator, Optional

import fcntl

from thpds.errors import UsageError

LOCK_NAME = 'lock'
# Set by a holder for the commands it runs (thp-ds bisect's git bisect run
# steps): its pid.  A descendant of that pid runs under the holder's lock.
INHERIT = 'THP_DS_LOCK_HOLDER'


class CacheBusy(UsageError):
	"""Another thp-ds holds the cache and we were told not to wait."""


# Caches this process holds: path -> open descriptor.
_held: Dict[str, int] = {}


def _key(cache: str) -> str:
	return os.path.realpath(cache)


def holds(cache: str) -> bool:
	"""True when this process holds cache's lock (so no other thp-ds runs on it)."""
	return _key(cache) in _held


def holder(cache: str) -> str:
	"""Who holds the lock, as its holder wrote it ('' when nobody said)."""
	try:
		with open(os.path.join(cache, LOCK_NAME)) as f:
			return f.read().strip()
	except OSError:
		return ''


def _parent(pid: int) -> int:
	try:
		with open(f'/proc/{pid}/stat') as f:
			return int(f.read().rsplit(')', 1)[1].split()[1])
	except (OSError, ValueError, IndexError):
		return 0


def inherited(cache: str) -> bool:
	"""Whether this process runs under a lock an ancestor holds and handed
	down (INHERIT names it, and the lock file says it holds the lock): a
	step of the holder's own work, which waiting for the lock would hang."""
	pid = os.environ.get(INHERIT, '')
	if not pid.isdigit() or not holder(cache).startswith(f'pid {pid} '):
		return False
	p = os.getppid()
	while p > 1:
		if p == int(pid):
			return True
		p = _parent(p)
	return False


def handed_down(cache: str) -> Dict[str, str]:
	"""The environment for a command this process runs that is to run under
	its lock (see inherited())."""
	if not holds(cache):
		return {}
	return {INHERIT: str(os.getpid())}


def acquire(cache: str, command: str, wait: bool = True) -> None:
	"""Take cache's lock for this process; wait (saying so once) or refuse."""
	key = _key(cache)
	if key in _held:
		return
	if inherited(cache):
		_held[key] = -1
		return
	os.makedirs(cache, exist_ok=True)
	fd = os.open(os.path.join(cache, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o644)
	try:
		try:
			fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
		except BlockingIOError:
			who = holder(cache) or 'another process'
			if not wait:
				raise CacheBusy(f'the cache {cache} is in use by {who}; '
						'not waiting (--no-wait)') from None
			print(f'[thp-ds] waiting for the cache {cache}: in use by {who}',
			      file=sys.stderr, flush=True)
			fcntl.flock(fd, fcntl.LOCK_EX)
		stamp = time.strftime('%Y-%m-%d %H:%M:%S', time.localtime())
		os.ftruncate(fd, 0)
		os.pwrite(fd, f'pid {os.getpid()} ({command}, since {stamp})\n'.encode(), 0)
	except BaseException:
		os.close(fd)
		raise
	_held[key] = fd


def release(cache: str) -> None:
	fd: Optional[int] = _held.pop(_key(cache), None)
	if fd is None or fd < 0:	# none, or an ancestor's (inherited())
		return
	os.ftruncate(fd, 0)
	os.close(fd)


@contextlib.contextmanager
def held(cache: str, command: str, wait: bool = True) -> Iterator[None]:
	"""The cache's lock for the duration of a with block."""
	already = holds(cache)
	acquire(cache, command, wait)
	try:
		yield
	finally:
		if not already:
			release(cache)
