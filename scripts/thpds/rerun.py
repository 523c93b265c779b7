"""Run the suite again on a running kernel, as on a live system, and check
that it leaves the system as it found it.

The suite must be safe to run from KUnit's debugfs on a machine in use:
memory controller already enabled at the root, init in a cgroup of its
own, THP knobs as the administrator set them (whatever the suite's run at
boot left).  This boots the debug profile's kernel (which has KUnit's
debugfs and initramfs support) with a busybox initramfs (live.py) whose
init sets up such a system, runs the suites (all but the cgroup-v1 one:
SUITES) twice through /sys/kernel/debug/kunit/<suite>/run, and prints the
system's state before and after.  Each of the two runs is read back as a
run of its own (live.read_back()) and judged by verdict.judge(), KASAN and
lockdep reports in the console included; a system left other than the
suite found it is a teardown error of the last run.
"""

import dataclasses
import os
from typing import List

from thpds import cases, live, runner
from thpds.errors import UsageError
from thpds.target import DEFAULT as DEFAULT_TARGET
from thpds.verdict import RunRecord

SUITES = ('thp_deferred_split_checker', 'thp_deferred_split', 'thp_deferred_split_race')
RUNS = 2

# The live system: the memory controller on at the root, init in a cgroup
# of its own, the administrator's THP settings (whatever the run at boot left).
SETUP = r'''$B mount -t cgroup2 cgroup2 /sys/fs/cgroup
C=/sys/fs/cgroup
echo +memory > $C/cgroup.subtree_control
$B mkdir $C/init.scope
echo $$ > $C/init.scope/cgroup.procs
T=/sys/kernel/mm/transparent_hugepage
echo always > $T/enabled
for k in $T/hugepages-*/enabled; do echo never > $k; done
echo inherit > $T/hugepages-2048kB/enabled
echo madvise > $T/hugepages-64kB/enabled
echo madvise > $T/hugepages-16kB/enabled'''

STATE = r'''state() {
	echo "root subtree_control: $($B cat $C/cgroup.subtree_control)"
	echo "root cgroups: $($B ls $C | $B grep -v '^cgroup\.\|^memory\.\|^cpu\.\|^io\.\|^pids\.' | $B tr '\n' ' ')"
	echo "init cgroup: $($B cat /proc/$$/cgroup)"
	for k in /sys/kernel/mm/transparent_hugepage/enabled /sys/kernel/mm/transparent_hugepage/hugepages-*/enabled; do
		echo "$k: $($B cat $k)"
	done
}'''


def init_script(runs: int = RUNS) -> str:
	return live.init_script(SUITES, runs, swap=False, setup=SETUP, state=STATE)


def state_change(boot: live.BootOutput) -> List[str]:
	"""How the system after the runs differs from before ([] when it does not)."""
	before, after = boot.state.get('BEFORE'), boot.state.get('AFTER')
	if before is None or after is None:
		return [] if not boot.done else ['the guest printed no state before or after']
	if before == after:
		return []
	changed = [f'{b} -> {a}' for b, a in zip(before, after) if b != a]
	changed += [f'only before: {b}' for b in before[len(after):]]
	changed += [f'only after: {a}' for a in after[len(before):]]
	return ['the system is not as the suite found it: ' + '; '.join(changed)]


def records(boot: live.BootOutput, base: RunRecord, tree: str, build_dir: str,
	    out_dir: str, seconds: float = 0.0) -> List[RunRecord]:
	"""Each run of the live boot as a record of its own, judged against what
	the debug run's record (@base) expected of the same kernel; @seconds:
	the boot's, for each."""
	selected = tuple(s for s in base.selected if s.split('.', 1)[0] in SUITES)
	found = live.problems([boot], swap=False)
	declared = cases.tree_declared(tree)
	out = []
	for i in range(1, RUNS + 1):
		seen = live.read_back(tree, build_dir, out_dir, f'rerun-{i}',
				      boot.run(i) + live.stopped_results(boot, i, declared), declared,
				      boot.console, '', True, boot.timed_out, found, seconds,
				      os.path.join(out_dir, 'console-rerun.log'))
		fields = runner.output_fields(seen)
		fields['teardown_errors'] += tuple(state_change(boot) if i == RUNS else ())
		# the build's compiler warnings: this kernel's, from the debug run
		fields['suite_warnings'] = base.suite_warnings
		out.append(dataclasses.replace(base, selected=selected,
					       variant=f'{base.variant} rerun {i}', **fields))
	return out


def boot(build_dir: str, out_dir: str, timeout: int) -> live.BootOutput:
	"""Boot the built debug kernel with the rerun initramfs."""
	live.check(DEFAULT_TARGET)
	kernel = live.kernel_image(build_dir)
	if not os.path.exists(kernel):
		raise UsageError(f'no kernel at {kernel}: build the debug profile first '
				 '(thp-ds run --profile debug)')
	os.makedirs(out_dir, exist_ok=True)
	# at boot the suites are only registered in debugfs (their run at boot
	# was judged by the debug run before); the init sets the system up, so
	# that what the runs from debugfs leave behind shows
	return live.boot('rerun', kernel, init_script(), out_dir, timeout, DEFAULT_TARGET,
			 ('kunit.filter_glob=thp_deferred_split*', *live.REGISTER_ONLY))
