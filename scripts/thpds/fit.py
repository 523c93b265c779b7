"""Which port fits a kernel tree, judged from the tree's sources, not its version.

A port is one design of the deferred split queue and the kernel API around
it (docs/ports.md).  ports/<X.Y>/assumes lists what the port's header and
patches take for granted of a tree, one line each:

  <path> has /<regex>/: <what it means>
  <path> lacks /<regex>/: <what it means>

(Python regular expressions, multi-line mode; a missing file has nothing.)
A port fits a tree when every line holds.  The lines are read against the
tree before anything is copied or built, so that a tree no port fits is
refused at once, naming the nearest port and the first assumption that
fails, instead of failing to build (or worse, building and judging a
correct kernel by another design's rules).
"""

import dataclasses
import os
import re
from typing import Callable, Dict, List, Optional

from thpds import suite
from thpds.errors import UsageError

LINE = re.compile(r'^(?P<path>\S+) (?P<verb>has|lacks) /(?P<regex>.*)/: (?P<meaning>\S.*)$')

Reader = Callable[[str], Optional[str]]


class NoPortFits(UsageError):
	"""No port's assumptions all hold for the tree."""


@dataclasses.dataclass(frozen=True)
class Assumption:
	path: str
	present: bool		# has (True) or lacks (False)
	regex: str
	meaning: str

	def holds(self, read: Reader) -> bool:
		text = read(self.path)
		found = text is not None and re.search(self.regex, text, re.M) is not None
		return found == self.present

	def __str__(self) -> str:
		verb = 'has' if self.present else 'lacks'
		return f'{self.path} {verb} /{self.regex}/ ({self.meaning})'


def assumptions(port: str, repo: str = suite.REPO) -> List[Assumption]:
	"""ports/<port>/assumes, parsed; every port must have one."""
	path = os.path.join(repo, 'ports', port, 'assumes')
	if not os.path.exists(path):
		raise suite.SuiteError(f'port {port} has no {os.path.relpath(path, repo)}: '
				       'what it assumes of a tree cannot be checked')
	found = []
	for line in suite.declarations(path):
		m = LINE.match(line)
		if not m:
			raise suite.SuiteError(f'{path}: expected "<path> has|lacks /<regex>/: '
					       f'<meaning>", got {line!r}')
		try:
			re.compile(m.group('regex'))
		except re.error as e:
			raise suite.SuiteError(f'{path}: bad regex in {line!r}: {e}') from None
		found.append(Assumption(m.group('path'), m.group('verb') == 'has',
					m.group('regex'), m.group('meaning')))
	if not found:
		raise suite.SuiteError(f'{path} assumes nothing: every port must say what it needs')
	return found


@dataclasses.dataclass(frozen=True)
class Fit:
	port: str
	held: int
	failed: List[Assumption]

	@property
	def ok(self) -> bool:
		return not self.failed

	@property
	def total(self) -> int:
		return self.held + len(self.failed)


def check(read: Reader, port: str, repo: str = suite.REPO) -> Fit:
	held, failed = 0, []
	for a in assumptions(port, repo):
		if a.holds(read):
			held += 1
		else:
			failed.append(a)
	return Fit(port, held, failed)


def cached_reader(read: Reader) -> Reader:
	"""@read, asked at most once per path (the ports ask for the same files)."""
	seen: Dict[str, Optional[str]] = {}

	def cached(path: str) -> Optional[str]:
		if path not in seen:
			seen[path] = read(path)
		return seen[path]
	return cached


def directory_reader(root: str) -> Reader:
	"""Files of a tree on disk, read-only; None for a missing one."""
	def read(path: str) -> Optional[str]:
		full = os.path.join(root, path)
		if not os.path.isfile(full):
			return None
		with open(full, errors='replace') as f:
			return f.read()
	return cached_reader(read)


def choose(read: Reader, what: str, repo: str = suite.REPO) -> str:
	"""The port whose every assumption holds for the tree @read reads.

	@what names the tree in the refusal.  Where none fits, the nearest
	is the one with the most of its assumptions holding (by share, then
	the newer port), and the refusal names its first that fails.  The
	ports' assumptions are written to exclude each other; should two fit,
	the one that checks more is the more specific.
	"""
	fits = [check(read, port, repo) for port in suite.ports(repo)]
	ok = [f for f in fits if f.ok]
	if ok:
		return max(ok, key=lambda f: f.total).port
	nearest = max(fits, key=lambda f: (f.held / f.total, suite.version_key(f.port)))
	raise NoPortFits(
		f'no port of the suite fits {what}: the nearest is port {nearest.port} '
		f'({nearest.held} of its {nearest.total} assumptions hold); the first that fails: '
		f'{nearest.failed[0]} (ports/{nearest.port}/assumes; what a port is: docs/ports.md)')
