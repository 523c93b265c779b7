"""Unpatched variants: patches that put a historical bug back into a tree.

Each lives at ports/<port>/unpatched/<name>.patch, a git format-patch whose
message says which upstream fix it undoes and why it is faithful, and
declares with 'Expect-Fail: <suite.case[.param]>' lines exactly which cases
must fail on it.  A run of a variant is judged against that declaration:
a case that stops failing (the bug is no longer caught) and a case that
starts failing (the suite no longer localises the bug) are both errors.
"""

import dataclasses
import os
import re
from typing import Dict, Iterable, Set

from thpds import suite

SHIPPED = 'shipped'


@dataclasses.dataclass(frozen=True)
class Variant:
	name: str
	port: str
	patch: str
	title: str
	expect_fail: frozenset


def parse(path: str, port: str) -> Variant:
	with open(path) as f:
		text = f.read()
	head = text.split('\n---\n', 1)[0]
	m = re.search(r'^Subject: (?:\[PATCH[^\]]*\] )?(.*(?:\n [^\n]*)*)', head, re.M)
	title = ' '.join(m.group(1).split()) if m else os.path.basename(path)
	expect = frozenset(line.split(':', 1)[1].strip() for line in head.splitlines()
			   if line.startswith('Expect-Fail:'))
	name = os.path.basename(path)[:-len('.patch')]
	if not expect:
		raise suite.SuiteError(f'{path}: declares no Expect-Fail case')
	return Variant(name, port, path, title, expect)


def for_port(port: str, repo: str = suite.REPO) -> Dict[str, Variant]:
	d = os.path.join(repo, 'ports', port, 'unpatched')
	if not os.path.isdir(d):
		return {}
	return {v.name: v for v in (parse(os.path.join(d, p), port)
				    for p in sorted(os.listdir(d)) if p.endswith('.patch'))}


@dataclasses.dataclass
class Verdict:
	caught: Set[str]		# expected to fail, failed
	missed: Set[str]		# expected to fail, did not
	collateral: Set[str]		# failed, not expected to

	@property
	def ok(self) -> bool:
		return bool(self.caught) and not self.missed and not self.collateral


def judge(expect_fail: Iterable[str], statuses: Dict[str, str]) -> Verdict:
	"""Compare a run's case statuses with the cases that must fail."""
	expect = set(expect_fail)
	failed = {name for name, status in statuses.items() if status in ('FAIL', 'ERROR')}
	missed = {name for name in expect if statuses.get(name) not in ('FAIL', 'ERROR')}
	return Verdict(caught=expect & failed, missed=missed, collateral=failed - expect)
