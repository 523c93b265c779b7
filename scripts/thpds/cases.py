"""The suite's cases: what the C source declares, and what a --filter selects.

The case tables of the suite's C files (mm/tests/thp_deferred_split*.c) are
the list of what a run must report on.  A run that leaves out a selected case did not prove
it, whatever kunit.py's exit status says.
"""

import fnmatch
import os
import re
from typing import Dict, List, Optional, Tuple

from thpds import sources
from thpds.errors import UsageError

def has_suite(rels) -> bool:
	"""Whether a tree whose files under mm/tests/ are @rels has (some of)
	the suite: a C file of it, whichever (a patch of the series may add the
	checker before the fixture)."""
	return any(sources.is_source(rel) and rel.endswith('.c') for rel in rels)


def repo_text(port: Optional[str] = None) -> str:
	"""The suite's C files in this repository as one text (sources.c_text()):
	all of them, or as a tree of @port gets them."""
	files = sources.repo_files() if port is None else sources.for_port(port)
	return sources.c_text(files)


def tree_text(tree: str) -> str:
	"""The suite's C files as the kernel tree at @tree has them, as one text
	('' where it has none)."""
	root = os.path.join(tree, sources.SUITE_DIR)
	rels = [f'{sources.SUITE_DIR}/{name}' for name in sorted(os.listdir(root))] \
		if os.path.isdir(root) else []
	if not has_suite(rels):
		return ''
	files = {}
	for rel in filter(sources.is_source, rels):
		with open(os.path.join(tree, rel), 'rb') as f:
			files[rel] = f.read()
	return sources.c_text(files)


def declared_cases(source: str) -> Dict[str, List[str]]:
	"""Suite name -> its case functions in run order, read from the C source
	(the suites in kunit_test_suites() order)."""
	tables = {m.group(1): re.findall(r'KUNIT_CASE\w*\((\w+)', m.group(2))
		  for m in re.finditer(r'struct kunit_case (\w+)\[\] = \{(.*?)\n\};', source, re.S)}
	suites = {}
	for m in re.finditer(r'struct kunit_suite \w+ = \{(.*?)\n\};', source, re.S):
		name = re.search(r'\.name = "([^"]+)"', m.group(1))
		table = re.search(r'\.test_cases = (\w+)', m.group(1))
		if name and table and table.group(1) in tables:
			suites[m.group(0).split()[2]] = (name.group(1), tables[table.group(1)])
	listed = re.search(r'^kunit_test_suites\(([^;]*)\);', source, re.M)
	order = [a.strip().lstrip('&') for a in listed.group(1).split(',')] if listed else []
	order += [v for v in suites if v not in order]
	return {suites[v][0]: suites[v][1] for v in order if v in suites}


def tree_declared(tree: str) -> Dict[str, List[str]]:
	"""The cases the suite in the kernel tree at @tree declares ({} for none)."""
	text = tree_text(tree)
	return declared_cases(text) if text else {}


def repo_declared(port: Optional[str] = None) -> Dict[str, List[str]]:
	"""The cases the repository's suite declares, or a tree of @port runs."""
	return declared_cases(repo_text(port))


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
