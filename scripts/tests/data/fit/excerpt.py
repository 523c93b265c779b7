"""Write <name>.json: the lines of a real kernel tree that any port's
assumptions (ports/*/assumes) match, by path.  The fit tests read these
excerpts as the trees themselves: every assumption judges an excerpt as it
judges the whole tree (each regex matches within one line).

    python3 -m tests.data.fit.excerpt <kernel tree> <name>   (from scripts/)
"""

import json
import os
import re
import sys

from thpds import fit, suite


def excerpt(root: str) -> dict:
	every = [a for port in suite.ports() for a in fit.assumptions(port)]
	found = {}
	for path in sorted({a.path for a in every}):
		full = os.path.join(root, path)
		if not os.path.isfile(full):
			continue
		with open(full, errors='replace') as f:
			lines = f.read().splitlines()
		keep = [line for line in lines
			if any(a.path == path and re.search(a.regex, line) for a in every)]
		found[path] = '\n'.join(keep) + '\n'
	return found


if __name__ == '__main__':
	root, name = sys.argv[1:3]
	out = os.path.join(os.path.dirname(os.path.abspath(__file__)), name + '.json')
	with open(out, 'w') as f:
		json.dump({'tree': name, 'files': excerpt(root)}, f, indent=1, sort_keys=True)
		f.write('\n')
