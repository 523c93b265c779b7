"""--kconfig-add CONFIG_X=v: a maintainer's own options on top of the suite's.

kunit.py takes them as --kconfig_add and, after olddefconfig, checks that
each survived (kconfig_check.py explains one that did not, from the tree's
own Kconfig).  Before anything is built this module refuses what cannot
work: a malformed option, one given twice with two values, and one that
takes away what the suite needs (mm/tests/.kunitconfig) or what the run's
target or profile sets, each named with the reason.  A run with added
options builds in a directory of its own (build_suffix()), so that it
never invalidates the default build, and records them.
"""

import hashlib
import os
import re
from typing import Dict, Sequence, Tuple

from thpds import suite
from thpds.errors import UsageError

OPTION = re.compile(r'CONFIG_([A-Za-z0-9_]+)=(y|n|m|-?[0-9]+|0x[0-9a-fA-F]+|"[^"\n]*")')
# A line of a .kunitconfig that sets an option.
SET = re.compile(r'^CONFIG_([A-Za-z0-9_]+)=(.*)$')


def parse(options: Sequence[str]) -> Tuple[str, ...]:
	"""@options as given, each checked for form and given once."""
	seen: Dict[str, str] = {}
	for option in options:
		m = OPTION.fullmatch(option.strip())
		if not m:
			raise UsageError(f'--kconfig-add {option!r}: give CONFIG_NAME=VALUE, e.g. '
					 'CONFIG_NUMA=y, CONFIG_NR_CPUS=4 or CONFIG_FOO="bar"')
		name, value = m.groups()
		if seen.get(name, value) != value:
			raise UsageError(f'--kconfig-add CONFIG_{name}: given as both {seen[name]} and '
					 f'{value}')
		seen[name] = value
	return tuple(dict.fromkeys(o.strip() for o in options))


def kunitconfig(repo: str = suite.REPO) -> Dict[str, str]:
	"""The options the suite sets (mm/tests/.kunitconfig): name -> value.
	What it leaves unset ("# CONFIG_X is not set") it leaves unset only to
	build faster: a maintainer may set it."""
	found: Dict[str, str] = {}
	with open(os.path.join(repo, suite.KUNITCONFIG)) as f:
		for line in f:
			m = SET.match(line.strip())
			if m:
				found[m.group(1)] = m.group(2)
	return found


def conflicts(options: Sequence[str], run_options: Sequence[str] = (),
	      repo: str = suite.REPO) -> None:
	"""Refuse an added option that changes one the suite needs, or one the
	run's target or profile sets (@run_options), naming both and why."""
	needed = [(name, value, f'the suite needs it ({suite.KUNITCONFIG})')
		  for name, value in kunitconfig(repo).items()]
	for option in run_options:
		m = SET.match(option)
		if m:
			needed.append((m.group(1), m.group(2), 'the target or profile of this run '
				       'sets it (its own option: --arch, --page-size, --numa, --profile)'))
	for option in options:
		name, value = OPTION.fullmatch(option).groups()
		for need, want, why in needed:
			if need == name and want != value:
				raise UsageError(f'--kconfig-add {option} conflicts with CONFIG_{need}={want}:'
						 f' {why}')


def build_suffix(options: Sequence[str]) -> str:
	"""The build and results directories' suffix for @options ('' for none):
	stable for the same options in any order."""
	if not options:
		return ''
	key = '\n'.join(sorted(options))
	return 'kconfig-' + hashlib.sha256(key.encode()).hexdigest()[:8]
