"""Why a tree could not be configured as the run asked.

kunit.py configures with olddefconfig and then checks that every option
it was given survived; when one did not (an unmet "depends on", or a
symbol the tree does not have) it prints the ones it lost and stops
before building.  This module reads that list back and explains each
option from the tree's own Kconfig, so that the tool can refuse the run
with the reason instead of reporting a kernel that was never built.
"""

import os
import re
from typing import Dict, List

# kunit.py (kunit_kernel.py, validate_config()): "Missing: CONFIG_A=y, CONFIG_B=y"
LOST = 'Not all Kconfig options selected in kunitconfig were in the generated .config'
MISSING = re.compile(r'^Missing: (.*)$', re.M)
# What ends a config entry besides the next one: its "depends on" lines
# are the ones before any of these.
ENTRY_END = re.compile(r'^\s*(choice|endchoice|if|endif|menu|endmenu|comment|source|'
		       r'mainmenu)\b')


def lost_options(log_text: str) -> List[str]:
	"""The options kunit.py's configuration dropped ([] when it kept them all)."""
	if LOST not in log_text:
		return []
	m = MISSING.search(log_text, log_text.index(LOST))
	return [o.strip() for o in m.group(1).split(',') if o.strip()] if m else ['(not named)']


def symbol_definitions(tree: str, symbols: List[str]) -> Dict[str, List[str]]:
	"""Each symbol's "depends on" lines, from every Kconfig file of @tree that
	defines it; a symbol no Kconfig file defines is absent from the result."""
	wanted = set(symbols)
	found: Dict[str, List[str]] = {}
	for root, dirs, files in os.walk(tree):
		dirs[:] = [d for d in dirs if not d.startswith('.')]
		for name in files:
			if not name.startswith('Kconfig'):
				continue
			with open(os.path.join(root, name), errors='replace') as f:
				current = None
				for line in f:
					m = re.match(r'^\s*(?:menu)?config\s+(\w+)\s*$', line)
					if m:
						current = m.group(1) if m.group(1) in wanted else None
						if current:
							found.setdefault(current, [])
						continue
					if ENTRY_END.match(line):
						current = None
						continue
					dep = re.match(r'^\s*depends on\s+(.*?)\s*$', line)
					if current and dep:
						found[current].append(dep.group(1))
	return found


def explain(tree: str, options: List[str]) -> str:
	"""One line: each lost option and why the tree's Kconfig lost it."""
	symbols = [re.sub(r'^CONFIG_(\w+)=.*$', r'\1', o) for o in options]
	defined = symbol_definitions(tree, symbols)
	parts = []
	for option, symbol in zip(options, symbols):
		if symbol not in defined:
			parts.append(f'{option}: no Kconfig file of the tree defines {symbol}')
		elif defined[symbol]:
			parts.append(f'{option}: depends on ' + ' && '.join(
				f'({d})' if len(defined[symbol]) > 1 else d for d in defined[symbol]))
		else:
			parts.append(f'{option}: dropped by olddefconfig (a choice or select '
				     'decided otherwise)')
	return '; '.join(parts)
