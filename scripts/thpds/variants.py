"""Unpatched variants: patches that put a historical bug back into a tree.

Each lives at ports/<port>/unpatched/<name>.patch, a git format-patch whose
message says which upstream fix it undoes and why it is faithful, and
declares with 'Expect-Fail: <suite.case[.param]>' lines exactly which cases
must fail on it, and with 'May-Crash: <suite.case>' which of those may end
in a guest oops instead (a race that corrupts a list can crash the kernel
before the case reports).  'May-Fail: <suite.case>' names a timing-dependent
case (the race) that the variant's bug breaks only when the race lands: it
may pass or fail, never crash; the deterministic cases are never May-Fail.
'May-Fail-On: <target> <suite.case>' says of a declared race case that on
that target it may also pass (arm64-16k and arm64-64k: the race frees one
32 MB or 512 MB THP at a time, which the shrinker may split off the queue
before its free); if it is May-Crash, it may still crash there.  The
reason goes in the message.  verdict.judge() holds a run to that declaration:
a case that stops failing (the bug is no longer caught) and a case that
starts failing (the suite no longer localises the bug) both fail the run.
"""

import dataclasses
import os
import re
from typing import Dict, Tuple

from thpds import suite

SHIPPED = 'shipped'
# As shipped plus the port's stable backports (ports/<X.Y>/backports/): the
# tree a distribution would ship once it took them.  Unpatched variants are
# applied on top of it, so that each breaks exactly its own path.
BACKPORTED = 'backported'
# The suite whose case is timing-dependent (the only one May-Fail may name).
RACE_SUITE = 'thp_deferred_split_race'


@dataclasses.dataclass(frozen=True)
class Variant:
	name: str
	port: str
	patch: str
	title: str
	expect_fail: frozenset
	may_crash: frozenset = frozenset()
	may_fail: frozenset = frozenset()
	# target name -> declared race cases that may pass there
	may_fail_on: Tuple[Tuple[str, frozenset], ...] = ()

	def on(self, target: str) -> Tuple[frozenset, frozenset]:
		"""(expect_fail, may_fail) on @target ('x86_64', 'arm64-64k')."""
		moved = dict(self.may_fail_on).get(target, frozenset())
		return self.expect_fail - moved, self.may_fail | moved


def parse(path: str, port: str) -> Variant:
	with open(path) as f:
		text = f.read()
	head = text.split('\n---\n', 1)[0]
	m = re.search(r'^Subject: (?:\[PATCH[^\]]*\] )?(.*(?:\n [^\n]*)*)', head, re.M)
	title = ' '.join(m.group(1).split()) if m else os.path.basename(path)
	def declared(key: str) -> frozenset:
		return frozenset(line.split(':', 1)[1].strip() for line in head.splitlines()
				 if line.startswith(key + ':'))

	expect, crash = declared('Expect-Fail'), declared('May-Crash')
	may_fail = declared('May-Fail')
	per_target: Dict[str, set] = {}
	for entry in declared('May-Fail-On'):
		where, _, case = entry.partition(' ')
		per_target.setdefault(where, set()).add(case.strip())
	name = os.path.basename(path)[:-len('.patch')]
	if not expect:
		raise suite.SuiteError(f'{path}: declares no Expect-Fail case')
	if not crash <= expect:
		raise suite.SuiteError(f'{path}: May-Crash names cases it does not declare to fail: '
				       + ', '.join(sorted(crash - expect)))
	if may_fail & expect:
		raise suite.SuiteError(f'{path}: May-Fail names cases it declares to fail: '
				       + ', '.join(sorted(may_fail & expect)))
	for where, names in per_target.items():
		if not names <= expect or any(not n.startswith(RACE_SUITE + '.') for n in names):
			raise suite.SuiteError(f'{path}: May-Fail-On {where} may name only race cases '
					       'it declares to fail: ' + ', '.join(sorted(names)))
	return Variant(name, port, path, title, expect, crash, may_fail,
		       tuple(sorted((w, frozenset(n)) for w, n in per_target.items())))


def for_port(port: str, repo: str = suite.REPO) -> Dict[str, Variant]:
	d = os.path.join(repo, 'ports', port, 'unpatched')
	if not os.path.isdir(d):
		return {}
	return {v.name: v for v in (parse(os.path.join(d, p), port)
				    for p in sorted(os.listdir(d)) if p.endswith('.patch'))}
