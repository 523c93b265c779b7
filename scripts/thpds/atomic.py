"""Tool state written whole or not at all.

A run can be interrupted anywhere (Ctrl-C, a full disk, a lost machine).
State files are written to a temporary file beside the target and renamed
over it, so a reader finds either the old content or the new, never half.
"""

import json
import os
from typing import Any


def write_text(path: str, text: str) -> None:
	tmp = path + '.tmp'
	with open(tmp, 'w') as f:
		f.write(text)
		f.flush()
		os.fsync(f.fileno())
	os.replace(tmp, path)


def write_json(path: str, data: Any) -> None:
	tmp = path + '.tmp'
	with open(tmp, 'w') as f:
		json.dump(data, f, indent=1)
		f.write('\n')
		f.flush()
		os.fsync(f.fileno())
	os.replace(tmp, path)


def read_json(path: str) -> Any:
	"""The content of a state file, or None when it is missing or unreadable
	(one an older version of the tool wrote halfway counts as missing)."""
	try:
		with open(path) as f:
			return json.load(f)
	except (OSError, ValueError):
		return None
