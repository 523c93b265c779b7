"""The suite's cases: what the C source declares, and what a --filter selects.

The case tables of mm/tests/thp_deferred_split_kunit.c are the list of what
a run must report on.  A run that leaves out a selected case did not prove
it, whatever kunit.py's exit status says.
"""

import fnmatch
import os
import re
from typing import Dict, List, Optional, Tuple

from thpds.errors import UsageError

SUITE_SOURCE = 'mm/tests/thp_deferred_split_kunit.c'
REPO_SOURCE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
	os.path.abspath(__file__)))), SUITE_SOURCE)


def declared_cases(source: str) -> Dict[str, List[str]]:
	"""Suite name -> its case functions in run order, read from the C source."""
	tables = {m.group(1): re.findall(r'KUNIT_CASE\w*\((\w+)', m.group(2))
		  for m in re.finditer(r'struct kunit_case (\w+)\[\] = \{(.*?)\n\};', source, re.S)}
	suites = {}
	for m in re.finditer(r'struct kunit_suite \w+ = \{(.*?)\n\};', source, re.S):
		name = re.search(r'\.name = "([^"]+)"', m.group(1))
		table = re.search(r'\.test_cases = (\w+)', m.group(1))
		if name and table and table.group(1) in tables:
			suites[name.group(1)] = tables[table.group(1)]
	return suites


def repo_declared() -> Dict[str, List[str]]:
	with open(REPO_SOURCE) as f:
		return declared_cases(f.read())


def select(declared: Dict[str, List[str]], glob: Optional[str]) -> Tuple[str, ...]:
	"""'suite.case' of every declared case a kunit.py filter glob runs.

	kunit.py passes the glob to the kernel (kunit.filter_glob), which splits
	it at the first '.' and matches the suite name and the case name
	separately; a parameterised case is selected or not as a whole.
	"""
	suite_glob, _, case_glob = (glob or '*').partition('.')
	found = tuple(f'{suite}.{case}' for suite, names in declared.items()
		      if fnmatch.fnmatchcase(suite, suite_glob)
		      for case in names if fnmatch.fnmatchcase(case, case_glob or '*'))
	if not found:
		every = '\n  '.join(f'{s}.{c}' for s, names in declared.items() for c in names)
		raise UsageError(f'--filter {glob!r} selects no case of the suite; the cases are:\n  '
				 + every)
	return found
