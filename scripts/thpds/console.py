"""What the guest kernel printed: oopses, debug-check reports, skip reasons.

kunit.py's JSON says how each case ended; it drops what the kernel said
around it.  These readers take the raw console (kunit.py's test.log) and
pick out only what the verdict needs.  Each pattern is the kernel's own
wording, quoted in the comment beside it.
"""

import re
from typing import Dict, Iterator, List, Optional, Tuple

# What ends a kernel: an oops (with oops=panic, a panic follows).  Reports
# the kernel survives, such as "BUG: Bad page state" or a WARN, are not
# crashes; they are kernel reports (below) and the cases see them through
# the kernel's warn count.
OOPS_START = re.compile(r'(Oops: |BUG: kernel NULL pointer dereference|BUG: unable to handle|'
			r'general protection fault|kernel BUG at |Unable to handle kernel |'
			r'Kernel panic - not syncing)')
OOPS_END = ('</TASK>', '---[ end trace', 'Kernel panic - not syncing')

# Debug-check reports that a clean kernel never prints:
#   "WARNING: CPU: 0 PID: 60 at mm/huge_memory.c:3730 func+0x1/0x2"   (6.x)
#   "WARNING: mm/huge_memory.c:3730 at func+0x1/0x2, CPU#0: comm/60"    (7.x)
#   "BUG: KASAN: slab-use-after-free in func+0x1/0x2"
#   "WARNING: possible circular locking dependency detected" (lockdep)
#   "list_del corruption. prev->next should be ..." (CONFIG_DEBUG_LIST)
#   "BUG: Bad page state in process ...", "ODEBUG: free active ...",
#   "BUG: sleeping function called from invalid context at ...", "UBSAN: ..."
REPORTS = (
	(re.compile(r'WARNING: CPU: \d+ PID: \d+ at (\S+) (\S+?)\+'), 'WARN at {0} {1}'),
	(re.compile(r'WARNING: (\S+:\d+) at (\S+?)\+'), 'WARN at {0} {1}'),
	(re.compile(r'WARNING: at (\S+?)\+'), 'WARN in {0}'),
	(re.compile(r'BUG: KASAN: (\S+) in (\S+?)\+'), 'KASAN {0} in {1}'),
	(re.compile(r'BUG: KFENCE: (.*)'), 'KFENCE {0}'),
	(re.compile(r'WARNING: (possible .*?) detected'), 'lockdep: {0}'),
	(re.compile(r'WARNING: (inconsistent lock state|suspicious RCU usage|bad unlock balance)'),
	 'lockdep: {0}'),
	(re.compile(r'(list_(?:add|del) corruption)'), 'DEBUG_LIST: {0}'),
	(re.compile(r'BUG: (Bad page (?:state|map))'), '{0}'),
	(re.compile(r'ODEBUG: (\S+ \S+) object'), 'ODEBUG: {0}'),
	(re.compile(r'BUG: (sleeping function called from invalid context)'), '{0}'),
	(re.compile(r'UBSAN: (\S+)'), 'UBSAN: {0}'),
)

# "ok 3 order 9 # SKIP could not allocate an order-9 folio" under
# "# Subtest: thp_ds_test_charge", itself under "# Subtest: thp_deferred_split".
KTAP_SUBTEST = re.compile(r'^(\s*)# Subtest: (.*)$')
KTAP_RESULT = re.compile(r'^(\s*)(not )?ok \d+ (?:- )?(.*?)( # SKIP ?(.*))?$')

# The suite's teardown cannot fail a case; it says what it could not undo
# on a line of its own (see thp_ds_suite_exit()).
TEARDOWN_ERROR = re.compile(r'thp_deferred_split: teardown: (.*)$')

TIMESTAMP = re.compile(r'^\[[ \d.:]+\] ?')


def strip_timestamp(line: str) -> str:
	return TIMESTAMP.sub('', line, count=1)


# How a guest whose KUnit cannot power it off (5.10: no kunit_shutdown)
# ends once the tests are done: the boot goes on, finds no root file system
# and panics, and panic=-1 with QEMU's -no-reboot ends QEMU.  Not a crash:
#   "Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)"
GUEST_END = re.compile(r'Kernel panic - not syncing: VFS: Unable to mount root fs')


def oops_excerpt(log: str, limit: int = 40) -> str:
	"""The first oops or panic in a console log, up to its call trace's end."""
	lines = log.splitlines()
	for i, line in enumerate(lines):
		if GUEST_END.search(line):
			break	# the guest's normal end; nothing after it is the suite's
		if OOPS_START.search(line):
			end = i
			while end < len(lines) - 1 and end - i < limit and \
			      not any(m in lines[end] for m in OOPS_END[:2]):
				end += 1
			return '\n'.join(lines[i:end + 1]) + '\n'
	return ''


def oops_summary(excerpt: str) -> str:
	"""'BUG: ... (RIP func)' (x86) or '... (pc func)' (arm64); '' for no oops."""
	if not excerpt:
		return ''
	lines = [strip_timestamp(line) for line in excerpt.splitlines()]
	where = ''
	for line in lines:
		m = re.search(r'RIP: \S+:(\S+)', line) or re.search(r'pc : (\S+)', line)
		if m:
			where = f' (at {m.group(1)})'
			break
	return lines[0].strip() + where


def kernel_reports(log: str) -> List[str]:
	"""Each distinct debug-check report, in the order first seen."""
	found: List[str] = []
	for line in log.splitlines():
		for pattern, fmt in REPORTS:
			m = pattern.search(line)
			if m:
				text = fmt.format(*m.groups())
				if text not in found:
					found.append(text)
				break
	return found


def _ktap_walk(log: str) -> Iterator[Tuple[str, bool, Optional[str], List[str]]]:
	"""Each KTAP result line as ('suite.case[.param]', ok, skip reason or
	None, the console lines since the previous result line)."""
	stack: List[Tuple[int, str]] = []	# (indent, name) of the open subtests
	since: List[str] = []
	for raw in log.splitlines():
		line = strip_timestamp(raw)
		m = KTAP_SUBTEST.match(line)
		if m:
			indent = len(m.group(1))
			stack = [s for s in stack if s[0] < indent] + [(indent, m.group(2).strip())]
			continue
		m = KTAP_RESULT.match(line)
		if not m:
			since.append(line)
			continue
		# a result line is indented like the "# Subtest:" line it belongs to
		indent = len(m.group(1))
		parents = [name for ind, name in stack if ind <= indent]
		skip = m.group(5) if m.group(4) else None
		yield ('.'.join(parents + [m.group(3).strip()]), m.group(2) is None,
		       skip.strip() if skip is not None else None, since)
		since = []


def ktap_results(log: str) -> Dict[str, Tuple[bool, Optional[str]]]:
	"""'suite.case[.param]' -> (ok, skip reason or None) for every KTAP result line.

	kunit.py's JSON keeps neither skip reasons nor whether a parameterised
	case reached its own result line; the raw KTAP has both.
	"""
	return {name: (ok, skip) for name, ok, skip, _ in _ktap_walk(log)}


# A KUnit without kunit_skip() (5.10): the port's kunit_mark_skipped() fails
# the case with one check whose message is this marker and the reason.
CANNOT_SKIP = re.compile(r'SKIP \(this KUnit cannot skip\): (.*)$')
FAILED_AT = re.compile(r'# \S+: (?:EXPECTATION|ASSERTION) FAILED at ')


def first_failures(log: str) -> Dict[str, str]:
	"""'suite.case[.param]' -> the first thing its first failed check said,
	for each result that is not ok: the message the suite printed under
	KUnit's 'EXPECTATION FAILED at' line (the queue, the counter, the lock
	it found wrong), or KUnit's own 'Expected ...' line where it printed
	none."""
	found: Dict[str, str] = {}
	for name, ok, skip, lines in _ktap_walk(log):
		if ok or skip is not None:
			continue
		text = ''
		for i, line in enumerate(lines):
			if not FAILED_AT.search(line):
				continue
			for after in lines[i + 1:]:
				if FAILED_AT.search(after) or after.lstrip().startswith('# '):
					break
				if after.strip() and not after[0].isspace():
					text = after.strip()
					break
				if not text and after.strip().startswith('Expected '):
					text = after.strip()
			if text:
				break
		if text:
			found[name] = text
	return found


def unskippable_skips(log: str) -> Dict[str, str]:
	"""Cases that would have skipped on a KUnit that cannot skip: name -> reason.

	Only a case whose one failure is that marker counts: a case that also
	failed a check before it failed, whatever it did next.
	"""
	found = {}
	for name, ok, _, lines in _ktap_walk(log):
		marks = [m.group(1).strip() for m in map(CANNOT_SKIP.search, lines) if m]
		failures = sum(1 for line in lines if FAILED_AT.search(line))
		if not ok and len(marks) == 1 and failures == 1:
			found[name] = marks[0]
	return found


# The per-case tally KUnit prints after a parameterised case's results.
PARAM_STATS = re.compile(r'^\s*# (\S+): pass:(\d+) fail:(\d+) skip:(\d+) total:(\d+)\s*$')


def hidden_skips(log: str, results: Optional[Dict[str, Tuple[bool, Optional[str]]]] = None
		 ) -> List[str]:
	"""Parameterised cases whose skipped parameters the KTAP lines hide.

	Before v6.3 KUnit printed a skipped parameter as a plain "ok" (no SKIP
	directive, no reason), which kunit.py reads as a pass; only the tally
	line after the parameters counts it.  A skip must never be a pass.
	"""
	shown: Dict[str, int] = {}	# parameterised case -> parameters shown skipped
	for name, (_, reason) in (ktap_results(log) if results is None else results).items():
		parts = name.split('.')
		if len(parts) >= 3:
			shown[parts[-2]] = shown.get(parts[-2], 0) + (reason is not None)
	found = []
	for raw in log.splitlines():
		m = PARAM_STATS.match(strip_timestamp(raw))
		if m and m.group(1) in shown and int(m.group(4)) > shown[m.group(1)]:
			found.append(f'{m.group(1)}: KUnit counted {m.group(4)} skipped parameters, but '
				     f'its result lines show {shown.get(m.group(1), 0)} (this KUnit prints '
				     'a skipped parameter as "ok")')
	return found


def skip_reasons(log: str) -> Dict[str, str]:
	"""'suite.case[.param]' -> reason, for every KTAP line with a SKIP directive."""
	return {name: reason for name, (_, reason) in ktap_results(log).items()
		if reason is not None}


def teardown_errors(log: str) -> List[str]:
	return [m.group(1).strip() for m in map(TEARDOWN_ERROR.search, log.splitlines()) if m]
