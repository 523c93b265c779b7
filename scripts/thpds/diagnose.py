"""What a failing tree lacks: its failed cases read against the known fixes.

A tree judged on its own results (runner.declared_tree()) must pass every
case.  When it does not, the verdict is FAIL, and this module says why in
the words a stable maintainer acts on: which known upstream fix the
failures match (ports/known-fixes), what the suite saw (the first message
of each failed case: the queue whose counter drifted, the lock that did not
hold), and the backport that closes it, where the port that fits the tree
ships one.  Failures no known fix explains are listed as such: a diagnosis
never hides a failure.
"""

import dataclasses
import os
from typing import Dict, FrozenSet, List, Tuple

from thpds import suite
from thpds.verdict import JUDGED_OWN, RunRecord, Status

KNOWN_FIXES = 'ports/known-fixes'


@dataclasses.dataclass(frozen=True)
class KnownFix:
	fix: str				# commit ("title")[, part]
	fails: FrozenSet[str]			# suite.case functions
	also: FrozenSet[str]			# ... it may break too (a race), or not
	backports: Tuple[Tuple[str, str], ...]	# (port, backports/<file>.patch)

	def backport(self, port: str) -> str:
		return dict(self.backports).get(port, '')


def known_fixes(repo: str = suite.REPO) -> List[KnownFix]:
	path = os.path.join(repo, KNOWN_FIXES)
	with open(path) as f:
		text = f.read()
	found = []
	for stanza in text.split('\n\n'):
		fields: Dict[str, List[str]] = {}
		for line in stanza.splitlines():
			if not line.strip() or line.startswith('#'):
				continue
			key, sep, value = line.partition(': ')
			if not sep or key not in ('fix', 'fails', 'also', 'backport'):
				raise suite.SuiteError(f'{path}: expected "fix|fails|also|backport: ...", '
						       f'got {line!r}')
			fields.setdefault(key, []).append(value.strip())
		if not fields:
			continue
		if len(fields.get('fix', ())) != 1 or not fields.get('fails'):
			raise suite.SuiteError(f'{path}: a stanza needs one fix and its fails: {stanza!r}')
		backports = []
		for value in fields.get('backport', ()):
			port, _, patch = value.partition(' ')
			if not os.path.exists(os.path.join(repo, 'ports', port, patch)):
				raise suite.SuiteError(f'{path}: backport ports/{port}/{patch} does not exist')
			backports.append((port, patch))
		found.append(KnownFix(fields['fix'][0], frozenset(' '.join(fields['fails']).split()),
				      frozenset(' '.join(fields.get('also', ())).split()),
				      tuple(backports)))
	return found


def function(name: str) -> str:
	"""'suite.case.param' -> 'suite.case'."""
	return '.'.join(name.split('.')[:2])


def failed_functions(rec: RunRecord) -> List[str]:
	"""The case functions with a failed or crashed result, in run order."""
	out: List[str] = []
	for c in rec.cases:
		if c.status in (Status.FAIL, Status.ERROR) and function(c.name) not in out:
			out.append(function(c.name))
	return out


def first_message(rec: RunRecord, case: str) -> str:
	return next((text for name, text in rec.failures if function(name) == case), '')


@dataclasses.dataclass(frozen=True)
class Finding:
	"""A known fix a run's failures show it lacks."""
	fix: str				# as ports/known-fixes names it
	cases: Tuple[str, ...]			# the failed case functions it explains
	backport: str				# ports/<X.Y>/<file>.patch that closes it, or ''
	closing: str				# in words: the backport, or why there is none


def findings(rec: RunRecord, repo: str = suite.REPO) -> Tuple[List[Finding], List[str]]:
	"""The known fixes whose every case failed in @rec, and the failed case
	functions none of them explains, whoever judges the run."""
	failed = failed_functions(rec)
	if not failed:
		return [], []
	matches = [k for k in known_fixes(repo) if k.fails <= set(failed)]
	# a fix whose cases another match covers as well adds nothing
	matches = [k for k in matches if not any(k.fails < o.fails for o in matches)]
	found = []
	for k in matches:
		patch = k.backport(rec.port)
		if patch:
			closing = f'closed by ports/{rec.port}/{patch}'
		elif k.backports:
			closing = (f'port {rec.port} ships no backport of it (the nearest: '
				   + ', '.join(f'ports/{p}/{b}' for p, b in k.backports) + ')')
		else:
			closing = 'no port ships a backport of it'
		found.append(Finding(k.fix, tuple(sorted(k.fails, key=failed.index)),
				     f'ports/{rec.port}/{patch}' if patch else '', closing))
	explained = set().union(*(k.fails | k.also for k in matches)) if matches else set()
	return found, [c for c in failed if c not in explained]


def diagnose(rec: RunRecord, repo: str = suite.REPO) -> List[str]:
	"""Lines naming the known fixes a failing run lacks, then what no known
	fix explains.  Empty for a run with no failed case, and for a run judged
	against declarations (a variant, or a declared tree: its failures are
	the declarations' business)."""
	if rec.judged != JUDGED_OWN:
		return []
	found, rest = findings(rec, repo)
	lines = []
	for f in found:
		seen = '; '.join(f'{c.split(".", 1)[1]}: {first_message(rec, c) or "failed"}'
				 for c in f.cases)
		lines.append(f'exposed: lacks {f.fix}; {f.closing}. The suite saw: {seen}')
	if rest:
		lines.append('no known fix explains: ' + '; '.join(
			f'{c}: {first_message(rec, c) or "failed"}' for c in rest))
	return lines
