"""Run the suite again on a running kernel, as on a live system, and check
that it leaves the system as it found it.

The suite must be safe to run from KUnit's debugfs on a machine in use:
memory controller already enabled at the root, init in a cgroup of its
own, THP knobs as the administrator set them (whatever the suite's run at
boot left).  This boots the debug profile's kernel (which has KUnit's
debugfs and initramfs support) with a busybox initramfs whose init sets up
such a system, runs the suites (all but the cgroup-v1 one: SUITES) twice
through /sys/kernel/debug/kunit/<suite>/run, and prints the system's state
before and after.  The verdict: every run of every suite
passed, and the state is unchanged.
"""

import dataclasses
import os
import re
import shutil
import stat
import subprocess
from typing import Dict, List, Tuple

from thpds import cases, console
from thpds.errors import UsageError

BUSYBOX = '/bin/busybox'
SUITES = ('thp_deferred_split_checker', 'thp_deferred_split', 'thp_deferred_split_race')
RUNS = 2

# init of the initramfs: a small live system, then the suites, twice.
INIT = r'''#!/bin/busybox sh
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sys /sys
$B mount -t debugfs debugfs /sys/kernel/debug
$B mount -t cgroup2 cgroup2 /sys/fs/cgroup
C=/sys/fs/cgroup
echo +memory > $C/cgroup.subtree_control
$B mkdir $C/init.scope
echo $$ > $C/init.scope/cgroup.procs
# the administrator's THP settings, whatever the run at boot left
T=/sys/kernel/mm/transparent_hugepage
echo always > $T/enabled
for k in $T/hugepages-*/enabled; do echo never > $k; done
echo inherit > $T/hugepages-2048kB/enabled
echo madvise > $T/hugepages-64kB/enabled
echo madvise > $T/hugepages-16kB/enabled
state() {
	echo "root subtree_control: $($B cat $C/cgroup.subtree_control)"
	echo "root cgroups: $($B ls $C | $B grep -v '^cgroup\.\|^memory\.\|^cpu\.\|^io\.\|^pids\.' | $B tr '\n' ' ')"
	echo "init cgroup: $($B cat /proc/$$/cgroup)"
	for k in /sys/kernel/mm/transparent_hugepage/enabled /sys/kernel/mm/transparent_hugepage/hugepages-*/enabled; do
		echo "$k: $($B cat $k)"
	done
}
echo THPDS-STATE-BEFORE-BEGIN; state; echo THPDS-STATE-BEFORE-END
for i in RUNS_LIST; do
	for s in SUITES_LIST; do
		echo run > /sys/kernel/debug/kunit/$s/run
		echo "THPDS-RESULTS-BEGIN $i $s"
		$B cat /sys/kernel/debug/kunit/$s/results
		echo "THPDS-RESULTS-END $i $s"
	done
done
echo THPDS-STATE-AFTER-BEGIN; state; echo THPDS-STATE-AFTER-END
echo THPDS-DONE
$B reboot -f
'''


def _cpio_entry(name: str, mode: int, data: bytes = b'', rdev: Tuple[int, int] = (0, 0),
		ino: int = 1) -> bytes:
	"""One entry of a 'newc' cpio archive, the format the kernel unpacks."""
	name_b = name.encode() + b'\0'
	fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name_b), 0)
	head = b'070701' + b''.join(b'%08X' % f for f in fields)
	pad = lambda n: b'\0' * (-n % 4)	# noqa: E731
	return head + name_b + pad(len(head) + len(name_b)) + data + pad(len(data))


def initramfs(busybox: str, runs: int = RUNS) -> bytes:
	"""The initramfs: busybox, /dev/console, and the init above."""
	with open(busybox, 'rb') as f:
		bb = f.read()
	init = INIT.replace('RUNS_LIST', ' '.join(str(i) for i in range(1, runs + 1)))
	init = init.replace('SUITES_LIST', ' '.join(SUITES))
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
class RerunResult:
	results: Dict[str, str]		# 'run suite' -> KTAP of that run
	before: List[str]
	after: List[str]
	done: bool
	oops: str
	log: str
	declared: Dict[str, List[str]] = dataclasses.field(default_factory=cases.repo_declared)

	def problems(self) -> List[str]:
		found = []
		if self.oops:
			found.append(f'the guest crashed: {self.oops}')
		if not self.done:
			found.append('the guest did not finish the runs (see the log)')
		for i in range(1, RUNS + 1):
			for s in SUITES:
				ktap = self.results.get(f'{i} {s}')
				if ktap is None:
					found.append(f'run {i} of {s}: no results')
					continue
				bad = [line.strip() for line in ktap.splitlines()
				       if re.match(r'\s*not ok ', line)]
				bad += [f'{case} did not pass' for case in self.declared.get(s, [])
					if not re.search(rf'^\s*ok \d+ {case}$', ktap, re.M)]
				if bad:
					found.append(f'run {i} of {s}: ' + '; '.join(bad))
		if self.done and self.before != self.after:
			changed = [f'{b} -> {a}' for b, a in zip(self.before, self.after) if b != a]
			found.append('the system is not as the suite found it: ' + '; '.join(changed))
		return found


def parse(log: str) -> RerunResult:
	lines = [console.strip_timestamp(line) for line in log.splitlines()]
	results: Dict[str, str] = {}
	state: Dict[str, List[str]] = {'BEFORE': [], 'AFTER': []}
	current, collect = None, None
	for line in lines:
		m = re.match(r'THPDS-RESULTS-(BEGIN|END) (\d+) (\S+)', line)
		if m:
			current = f'{m.group(2)} {m.group(3)}' if m.group(1) == 'BEGIN' else None
			if current:
				results[current] = ''
			continue
		m = re.match(r'THPDS-STATE-(BEFORE|AFTER)-(BEGIN|END)', line)
		if m:
			collect = m.group(1) if m.group(2) == 'BEGIN' else None
			continue
		if current:
			results[current] += line + '\n'
		elif collect:
			state[collect].append(line)
	excerpt = console.oops_excerpt(log)
	return RerunResult(results, state['BEFORE'], state['AFTER'], 'THPDS-DONE' in log,
			   console.oops_summary(excerpt), '')


def boot(build_dir: str, out_dir: str, timeout: int) -> RerunResult:
	"""Boot the built kernel with the rerun initramfs; collect what it said."""
	if not os.path.exists(BUSYBOX) or not shutil.which('qemu-system-x86_64'):
		raise UsageError('rerun needs busybox-static and qemu-system-x86 '
				 '(apt-get install busybox-static, or --install-deps)')
	kernel = os.path.join(build_dir, 'arch/x86/boot/bzImage')
	if not os.path.exists(kernel):
		raise UsageError(f'no kernel at {kernel}: build the debug profile first '
				 '(thp-ds run --profile debug)')
	os.makedirs(out_dir, exist_ok=True)
	initrd = os.path.join(out_dir, 'rerun.cpio')
	with open(initrd, 'wb') as f:
		f.write(initramfs(BUSYBOX))
	log_path = os.path.join(out_dir, 'rerun.log')
	cmd = ['qemu-system-x86_64', '-nodefaults', '-nographic', '-serial', 'stdio',
	       '-no-reboot', '-accel', 'tcg', '-smp', '2', '-m', '2048', '-kernel', kernel,
	       '-initrd', initrd, '-append',
	       # the suites also run at boot (which registers them in debugfs);
	       # the init then sets the system up afresh, so that what a rerun
	       # leaves behind shows
	       'console=ttyS0 oops=panic panic=-1 kunit.filter_glob=thp_deferred_split*']
	with open(log_path, 'w') as log:
		try:
			subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, timeout=timeout,
				       stdin=subprocess.DEVNULL)
		except subprocess.TimeoutExpired:
			log.write('\nthp-ds: the guest was stopped by the timeout\n')
	with open(log_path, errors='replace') as f:
		result = parse(f.read())
	result.log = log_path
	return result
