"""Live runs: the suites on a booted system that has a swap area, judged
as every other run is.

KUnit runs a built-in suite at boot, before init: there is no swap area
then (swapon is a system call), so the case that needs reclaim to swap a
queued THP out skips in every kunit.py run (ports/<X.Y>/needs-swap).  A run of the
live profile builds the same suite with KUnit's debugfs, an initramfs and
a RAM disk (runner.PROFILES['live']) and boots it with a busybox
initramfs whose init makes the RAM disk a swap area, then runs the suites
again from /sys/kernel/debug/kunit/<suite>/run (KUnit v6.7 and later) and
prints each one's results file.

Two boots, because the cgroup-v1 suite must run before anything used the
memory controller on cgroup2 in the same boot (thp_ds_setup()): the first
boot runs (and so registers in debugfs) only the cgroup-v1 suite, the
second all of them.  The results files, KTAP each, are merged into one
KTAP document, which the tree's kunit.py parse reads; the run's output is
then what a kunit.py run's is, and verdict.judge() decides.  Oopses and
kernel reports are looked for in the whole console of both boots.
"""

import dataclasses
import os
import re
import stat
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

from thpds import console, kunit_run
from thpds.cases import tree_declared
from thpds.errors import UsageError
from thpds.target import MEMORY_MB, Target

BUSYBOX = '/bin/busybox'
# The swap area: a RAM disk (brd), synchronous, so that reclaim frees a
# folio in the same pass that writes it out, as it does on a zram or an
# SSD swap device.  64 MiB: a few PMD THPs, swapped out one at a time.
SWAP_KB = 65536
# What init prints around each part of its output.
BEGIN, END, DONE = 'THPDS-RESULTS-BEGIN', 'THPDS-RESULTS-END', 'THPDS-DONE'
SWAP, STATE, RUNNING = 'THPDS-SWAP', 'THPDS-STATE', 'THPDS-RUNNING'


@dataclasses.dataclass(frozen=True)
class Boot:
	name: str
	boot_glob: str			# kunit.filter_glob: what runs (and registers) at boot
	suites: Tuple[str, ...]		# run again from debugfs, in this order


# At boot KUnit only registers the suites in debugfs: an attribute filter
# no case passes, with filter_action=skip, keeps every case but marks it
# skipped, so that no case runs before swapon (a variant's case run at boot
# could corrupt the kernel before the runs that are judged).  A debugfs run
# then runs every case (the ports' KUnit patch clears the marks).
REGISTER_ONLY = ('kunit.filter=module=thp_ds_none', 'kunit.filter_action=skip')
# Before attribute filters: a glob that selects no suite (boot runs none).
NO_SUITE = 'thp_ds_none'

BOOTS = (
	Boot('cgroup-v1', 'thp_deferred_split_v1', ('thp_deferred_split_v1',)),
	Boot('cgroup2', 'thp_deferred_split*',
	     ('thp_deferred_split_checker', 'thp_deferred_split', 'thp_deferred_split_race')),
)

# The init of a live system: the mounts, a swap area on the RAM disk (SWAP_PART),
# with everything it prints on the second serial port (OUTPUT_PART), which QEMU
# writes to a file of its own: the kernel's console (the first) may print KUnit's
# lines of a run from debugfs after the run has ended, in the middle of the results;
# what the caller sets up (SETUP_PART), then each suite again, RUNS times,
# with the system's state (STATE_PART: a shell function "state") printed
# before and after when the caller asks for it.
INIT = r'''#!/bin/busybox sh
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sys /sys
$B mount -t debugfs debugfs /sys/kernel/debug
OUTPUT_PART
SWAP_PART
SETUP_PART
STATE_PART
for i in RUNS_LIST; do
	for s in SUITES_LIST; do
		if [ -e /sys/kernel/debug/kunit/$s/run ]; then
			echo "RUNNING_MARK $i $s"
			echo run > /sys/kernel/debug/kunit/$s/run
			echo "BEGIN_MARK $i $s"
			$B cat /sys/kernel/debug/kunit/$s/results
			echo "END_MARK $i $s"
		else
			echo "BEGIN_MARK $i $s missing"
		fi
	done
done
AFTER_PART
LOG_PART
echo DONE_MARK
$B reboot -f
'''

OUTPUT_SERIAL = r'''$B mknod /dev/ttyS1 c 4 65
exec >/dev/ttyS1 2>&1'''

# A LAVA job's guest has one serial port, the console, and LAVA reads only
# that.  There init prints, with the kernel's console turned down meanwhile
# to what is critical or worse (a BUG, an oops, a panic, the reboot; not
# KUnit's lines, which are errors at most), so that no kernel line lands
# among the results; at the end it prints the kernel's log whole (DMESG),
# where the judge looks for kernel reports, from a log buffer big enough
# for the boot and its runs.  A panic prints the log whole on the console
# itself (panic_print), so the reports before a crash are not lost.
OUTPUT_CONSOLE = r'''exec >/dev/console 2>&1
$B dmesg -n 3'''
DMESG = 'THPDS-DMESG'
LOG_INIT = f'echo {DMESG}-BEGIN\n$B dmesg\necho {DMESG}-END'
ON_CONSOLE_ARGS = ('log_buf_len=8M', 'panic_print=0x20')

SWAP_INIT = r'''$B mknod /dev/ram0 b 1 0
if $B mkswap /dev/ram0 >/dev/null && $B swapon /dev/ram0; then
	echo "SWAP_MARK $($B tail -n +2 /proc/swaps | $B tr -s ' \t' ' ')"
else
	echo "SWAP_MARK none: mkswap or swapon of /dev/ram0 failed"
fi'''


def init_script(suites: Sequence[str], runs: int = 1, swap: bool = True, setup: str = '',
		state: str = '', on_console: bool = False) -> str:
	"""The init: @setup (shell) after the mounts; with @state (shell that
	defines a function "state"), the state printed before the runs and after;
	@on_console: printed on the console, for a LAVA job (OUTPUT_CONSOLE)."""
	before = after = ''
	if state:
		before = f'{state}\necho {STATE}-BEFORE-BEGIN; state; echo {STATE}-BEFORE-END'
		after = f'echo {STATE}-AFTER-BEGIN; state; echo {STATE}-AFTER-END'
	text = (INIT.replace('OUTPUT_PART', OUTPUT_CONSOLE if on_console else OUTPUT_SERIAL)
		.replace('LOG_PART', LOG_INIT if on_console else '')
		.replace('SWAP_PART', SWAP_INIT if swap else '')
		.replace('SETUP_PART', setup).replace('STATE_PART', before)
		.replace('AFTER_PART', after)
		.replace('RUNS_LIST', ' '.join(str(i) for i in range(1, runs + 1)))
		.replace('SUITES_LIST', ' '.join(suites)))
	text = (text.replace('SWAP_MARK', SWAP).replace('RUNNING_MARK', RUNNING)
		.replace('BEGIN_MARK', BEGIN)
		.replace('END_MARK', END).replace('DONE_MARK', DONE))
	return re.sub(r'\n\n+', '\n', text)


def _cpio_entry(name: str, mode: int, data: bytes = b'', rdev: Tuple[int, int] = (0, 0),
		ino: int = 1) -> bytes:
	"""One entry of a 'newc' cpio archive, the format the kernel unpacks."""
	name_b = name.encode() + b'\0'
	fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name_b), 0)
	head = b'070701' + b''.join(b'%08X' % f for f in fields)
	pad = lambda n: b'\0' * (-n % 4)	# noqa: E731
	return head + name_b + pad(len(head) + len(name_b)) + data + pad(len(data))


def initramfs(busybox: str, init: str) -> bytes:
	"""An initramfs of busybox, /dev/console and @init."""
	with open(busybox, 'rb') as f:
		bb = f.read()
	out = b''
	ino = 1
	for d in ('dev', 'proc', 'sys', 'bin', 'tmp'):
		out += _cpio_entry(d, stat.S_IFDIR | 0o755, ino=ino)
		ino += 1
	out += _cpio_entry('dev/console', stat.S_IFCHR | 0o600, rdev=(5, 1), ino=ino)
	out += _cpio_entry('bin/busybox', stat.S_IFREG | 0o755, bb, ino=ino + 1)
	out += _cpio_entry('init', stat.S_IFREG | 0o755, init.encode(), ino=ino + 2)
	out += _cpio_entry('TRAILER!!!', 0, ino=0)
	return out + b'\0' * (-len(out) % 512)


@dataclasses.dataclass
class BootOutput:
	name: str
	results: Dict[Tuple[int, str], str]	# (run, suite) -> its results file (KTAP)
	swap: str			# /proc/swaps' line, or why there is none
	done: bool
	timed_out: bool
	console: str			# the kernel's console (the first serial port)
	state: Dict[str, List[str]] = dataclasses.field(default_factory=dict)	# BEFORE, AFTER
	# the run that was going on when the guest stopped before its end: (run, suite)
	stopped_in: Optional[Tuple[int, str]] = None
	kernel_log: str = ''		# the kernel's log as init printed it (DMESG), if it did

	def run(self, i: int) -> List[Tuple[str, str]]:
		"""(suite, results) of run @i, in the order they ran."""
		return [(s, text) for (j, s), text in self.results.items() if j == i]


def parse_console(name: str, text: str, timed_out: bool = False) -> BootOutput:
	"""What init printed (@text) between its markers."""
	results: Dict[Tuple[int, str], str] = {}
	state: Dict[str, List[str]] = {}
	swap = ''
	running: Optional[Tuple[int, str]] = None
	current: Optional[Tuple[int, str]] = None
	collect: Optional[str] = None
	kernel_log: Optional[List[str]] = None
	in_log = False
	for raw in text.splitlines():
		line = console.strip_timestamp(raw).rstrip('\r')
		m = re.match(rf'{STATE}-(BEFORE|AFTER)-(BEGIN|END)$', line)
		if line in (f'{DMESG}-BEGIN', f'{DMESG}-END'):
			in_log = line.endswith('BEGIN')
			kernel_log = [] if in_log else kernel_log
		elif in_log:
			kernel_log.append(raw.rstrip('\r'))
		elif line.startswith(SWAP + ' '):
			swap = line[len(SWAP) + 1:]
		elif line.startswith(RUNNING + ' ') and len(line.split()) == 3:
			running = (int(line.split()[1]), line.split()[2])
		elif m:
			collect = m.group(1) if m.group(2) == 'BEGIN' else None
			if collect:
				state[collect] = []
		elif line.startswith(BEGIN + ' '):
			words = line.split()
			current = (int(words[1]), words[2]) if len(words) == 3 else None
			if current:
				results[current] = ''
		elif line.startswith(END + ' '):
			current = None
		elif current:
			results[current] += line + '\n'
		elif collect:
			state[collect].append(line)
	done = DONE in text
	stopped_in = running if not done and running and running not in results else None
	return BootOutput(name, results, swap, done, timed_out, text, state, stopped_in=stopped_in,
			  kernel_log='\n'.join(kernel_log) + '\n' if kernel_log is not None else '')


def split_boots(text: str) -> List[str]:
	"""A console of several boots in a row (a LAVA job's), a text each: a
	boot begins where the kernel says "Linux version" (on x86_64 after the
	firmware's last words, on the same line), but not in the kernel's log
	that init prints (DMESG), which says it again."""
	boots: List[List[str]] = [[]]
	in_log = began = False
	for raw in text.splitlines():
		line = console.strip_timestamp(raw).rstrip('\r')
		if line in (f'{DMESG}-BEGIN', f'{DMESG}-END'):
			in_log = line.endswith('BEGIN')
		elif not in_log and re.search(r'Linux version \d', line):
			if began:	# the firmware's lines before the first kernel are its boot's
				boots.append([])
			began = True
		boots[-1].append(raw)
	return ['\n'.join(b) + '\n' for b in boots if any(line.strip() for line in b)]


def merge(results: Sequence[Tuple[str, str]]) -> str:
	"""One KTAP document of several suites' results files, each of which is
	a document of one suite ("KTAP version 1", "1..1", the suite, "ok 1
	<suite>"): their suites, numbered in order."""
	out = ['KTAP version 1', f'1..{len(results)}']
	for i, (suite, text) in enumerate(results, 1):
		lines = text.splitlines()
		while lines and not lines[0].strip():
			lines.pop(0)
		if lines[:2] == ['KTAP version 1', '1..1']:
			lines = lines[2:]
		if lines and re.match(rf'^(not )?ok 1 {re.escape(suite)}\b', lines[-1]):
			lines[-1] = re.sub(r'^((?:not )?ok) 1 ', rf'\1 {i} ', lines[-1])
		else:
			# the results file ended early: say the suite did not finish
			lines.append(f'not ok {i} {suite}')
		out += lines
	return '\n'.join(out) + '\n'


def kernel_image(build_dir: str) -> str:
	"""The x86_64 kernel kunit.py built (check(): the only target booted here)."""
	return os.path.join(build_dir, 'arch/x86/boot/bzImage')


def _adds_run_file(patch: str) -> bool:
	"""Whether the text of @patch gives KUnit's debugfs a run file."""
	return 'lib/kunit/debugfs.c' in patch and '+#define KUNIT_DEBUGFS_RUN' in patch


def tree_refusal(tree: str, patches: Sequence[str] = ()) -> str:
	"""Why @tree's KUnit cannot run a suite again on a booted system ('' when
	it can): its debugfs has a run file from v6.7 on, or one of its port's
	@patches (texts) adds one (ports/6.1/patches)."""
	try:
		with open(os.path.join(tree, 'lib/kunit/debugfs.c'), errors='replace') as f:
			text = f.read()
	except OSError:
		return 'its KUnit has no debugfs (lib/kunit/debugfs.c)'
	if 'KUNIT_DEBUGFS_RUN' not in text and not any(map(_adds_run_file, patches)):
		return ("its KUnit's debugfs has no run file (KUnit v6.7 and later), and its "
			'port adds none: a suite runs only at boot there, before a swap area can '
			'exist')
	return ''


def registers_only(tree: str) -> bool:
	"""Whether @tree's KUnit can keep every case of a suite at boot and mark it
	skipped (attribute filters with filter_action=skip, v6.6 and later).
	Where it cannot, boot selects no suite at all (NO_SUITE), and the
	port's run-file patch gives every suite its debugfs files anyway."""
	try:
		with open(os.path.join(tree, 'lib/kunit/executor.c'), errors='replace') as f:
			return 'filter_action' in f.read()
	except OSError:
		return False


def check(target: Target) -> None:
	if not target.default:
		raise UsageError(f'the live profile boots x86_64 of one node only for now, not '
				 f'{target.name}')
	if not os.path.exists(BUSYBOX):
		raise UsageError('the live profile needs busybox-static (apt-get install '
				 'busybox-static, or --install-deps)')


def boot(name: str, kernel: str, init: str, out_dir: str, timeout: int, target: Target,
	 cmdline: Sequence[str]) -> BootOutput:
	"""Boot @kernel with an initramfs whose init is @init; what it printed
	(init-<name>.log in @out_dir), and the kernel's console (console-<name>.log)."""
	initrd = os.path.join(out_dir, f'live-{name}.cpio')
	with open(initrd, 'wb') as f:
		f.write(initramfs(BUSYBOX, init))
	init_log = os.path.join(out_dir, f'init-{name}.log')
	if os.path.exists(init_log):
		os.remove(init_log)
	cmd = [target.qemu_binary, '-nodefaults', '-nographic', '-serial', 'stdio',
	       '-serial', f'file:{init_log}', '-no-reboot', '-accel', 'tcg', '-smp', '2',
	       '-m', str(MEMORY_MB[target.page_size]), '-kernel', kernel, '-initrd', initrd, '-append',
	       ' '.join(['console=ttyS0', *kunit_run.KERNEL_ARGS, *cmdline])]
	log_path = os.path.join(out_dir, f'console-{name}.log')
	timed_out = False
	with open(log_path, 'w') as log:
		log.write('$ ' + ' '.join(cmd) + '\n')
		log.flush()
		proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
					stdin=subprocess.DEVNULL, start_new_session=True)
		try:
			proc.wait(timeout=timeout)
		except subprocess.TimeoutExpired:
			timed_out = True
		finally:
			kunit_run.stop_group(proc)
		if timed_out:
			log.write(f'\nthp-ds: the guest was stopped by the timeout ({timeout} s)\n')
	with open(log_path, errors='replace') as f:
		kernel_console = f.read()
	said = ''
	if os.path.exists(init_log):
		with open(init_log, errors='replace') as f:
			said = f.read()
	return dataclasses.replace(parse_console(name, said, timed_out), console=kernel_console)


def boot_args(tree: str, b: Boot, cmdline: Sequence[str]) -> Tuple[str, ...]:
	"""The command line of boot @b of @tree, after the console and the tool's
	KERNEL_ARGS: what KUnit runs at boot (nothing), the RAM disk, @cmdline."""
	at_boot = (f'kunit.filter_glob={b.boot_glob}', *REGISTER_ONLY) if registers_only(tree) \
		else (f'kunit.filter_glob={NO_SUITE}',)
	return (*at_boot, 'brd.rd_nr=1', f'brd.rd_size={SWAP_KB}', *cmdline)


def boots_for(selected: Sequence[str]) -> List[Boot]:
	"""The boots whose suites hold a selected case, each with those suites only."""
	suites = {name.split('.', 1)[0] for name in selected}
	found = []
	for b in BOOTS:
		mine = tuple(s for s in b.suites if s in suites)
		if mine:
			found.append(dataclasses.replace(b, suites=mine))
	return found


def problems(boots: Sequence[BootOutput], swap: bool = True) -> List[str]:
	"""What went wrong in the boots themselves (the verdict fails on each)."""
	found = []
	for b in boots:
		if swap and (not b.swap or b.swap.startswith('none')):
			found.append(f'live boot {b.name}: no swap area ({b.swap or "init said nothing"})')
		# a crash is judged as such (verdict.judge(): the oops, the case it stopped in)
		if not b.done and not b.timed_out and not console.oops_excerpt(b.console):
			found.append(f'live boot {b.name}: the guest stopped before its init finished')
		found += [f'live boot {b.name}: run {i} of {s}: no results'
			  for (i, s), text in b.results.items() if not text.strip()]
	return found


def stopped_results(b: BootOutput, i: int,
		    declared: Dict[str, List[str]]) -> List[Tuple[str, str]]:
	"""The results file of the suite whose run @i the guest stopped in, as
	KUnit would have begun it: its plan of its @declared cases and no
	result, which kunit.py parse reads as a crash in it
	(kunit_run.cases_from_json() puts the crash on its first case without a
	result)."""
	if not b.stopped_in or b.stopped_in[0] != i:
		return []
	suite = b.stopped_in[1]
	return [(suite, f'KTAP version 1\n1..1\n    KTAP version 1\n    # Subtest: {suite}\n'
		 f'    1..{max(len(declared.get(suite, ())), 1)}\n')]



def first_run(boots: Sequence[BootOutput],
	      declared: Dict[str, List[str]]) -> List[Tuple[str, str]]:
	"""(suite, results) of the first run in every boot, in order, with the
	suite a boot stopped in as a crash in it (stopped_results())."""
	return [r for b in boots for r in b.run(1) + stopped_results(b, 1, declared)]


def read_back(tree: str, build_dir: str, out_dir: str, name: str,
	      results: Sequence[Tuple[str, str]], declared: Dict[str, List[str]], raw: str,
	      build_log: str, built: bool, timed_out: bool, found: Sequence[str], seconds: float,
	      console_path: str) -> kunit_run.RunOutput:
	"""A live run's output, as a kunit.py run's: @results (suite, results file)
	merged into <name>.ktap, which the tree's kunit.py parse reads into
	<name>.json, judged against the tree's @declared cases; oopses and kernel
	reports from @raw, the guest's console; @found: what went wrong besides
	(each fails the verdict)."""
	doc = merge(results)
	ktap_path = os.path.join(out_dir, f'{name}.ktap')
	with open(ktap_path, 'w') as f:
		f.write(doc)
	json_path = os.path.join(out_dir, f'{name}.json')
	if os.path.exists(json_path):
		os.remove(json_path)
	parsed = subprocess.run([sys.executable, os.path.join(tree, 'tools/testing/kunit/kunit.py'),
				 'parse', f'--json={json_path}', ktap_path], cwd=tree,
				capture_output=True, text=True, errors='replace') if results else None
	parse_log = parsed.stdout + parsed.stderr if parsed else ''
	log_path = os.path.join(out_dir, f'{name}.log')
	with open(log_path, 'w') as f:
		f.write(build_log + parse_log)
	seen = kunit_run.interpret(build_log + parse_log, doc, kunit_run.read_json(json_path),
				   declared, parsed.returncode if parsed else 1)
	seen.pop('oops_excerpt')
	excerpt = console.oops_excerpt(raw)
	oops_path = kunit_run.write_oops(out_dir, excerpt)
	seen.update(built=built, timed_out=timed_out, oops=console.oops_summary(excerpt),
		    kernel_reports=console.kernel_reports(raw),
		    teardown_errors=console.teardown_errors(raw))
	seen['live_errors'] = list(found)
	return kunit_run.RunOutput(log_path=log_path, console_path=console_path,
				   json_path=json_path, config_sha256=kunit_run.config_sha256(build_dir),
				   seconds=seconds, oops_path=oops_path, **seen)


def run(tree: str, build_dir: str, out_dir: str, cache: str, timeout: int,
	selected: Sequence[str], target: Target, kconfig_add: Sequence[str],
	cmdline: Sequence[str], build: bool = True, jobs: Optional[int] = None
	) -> kunit_run.RunOutput:
	"""Build (kunit.py build; @build False boots what is built), boot each
	live boot, and read the runs back as a kunit.py run's output."""
	check(target)
	os.makedirs(out_dir, exist_ok=True)
	start = time.monotonic()
	log_path = os.path.join(out_dir, 'kunit.log')
	with open(log_path, 'w') as log:
		built = True
		if build:
			built = kunit_run.build(tree, build_dir, cache, log, jobs, kconfig_add, target) == 0
		kernel = kernel_image(build_dir)
		built = built and os.path.exists(kernel)
	with open(log_path, errors='replace') as f:
		build_log = f.read()
	boots: List[BootOutput] = []
	if built:
		for b in boots_for(selected):
			print(f'[thp-ds] live boot {b.name}: {", ".join(b.suites)} again after swapon',
			      flush=True)
			boots.append(boot(b.name, kernel, init_script(b.suites), out_dir, timeout, target,
					  boot_args(tree, b, cmdline)))
	raw = ''.join(f'==== live boot {b.name}\n{b.console}\n' for b in boots)
	with open(os.path.join(out_dir, 'console.log'), 'w') as f:
		f.write(raw)
	declared = tree_declared(tree)
	results = first_run(boots, declared)
	return read_back(tree, build_dir, out_dir, 'kunit', results, declared,
			 raw, build_log, built and bool(boots), any(b.timed_out for b in boots),
			 problems(boots), time.monotonic() - start, os.path.join(out_dir, 'console.log'))
