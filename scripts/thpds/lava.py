"""The matrix as LAVA jobs: one job definition per run, for any LAVA lab.

A run the tool makes is kunit.py booting a built kernel in QEMU and
reading its KTAP.  As a LAVA job it is the same boot on LAVA's `qemu`
device type: the kernel, deployed to tmpfs, booted with the tool's own
command line (kunit.py's, the tool's KERNEL_ARGS, the port's mTHP sizes,
the run's boot options) and QEMU options (CPUs, memory, NUMA nodes, the
arm64 CPU), with no root file system, and a `monitors` test action that
reports each KTAP result line as a LAVA test case.  LAVA's results are for
the lab's own pages; the verdict comes from the guest's console, which
thp-ds reads back and judges with verdict.judge() as it judges its own
runs.  So every job has a sidecar, <job>.thp-ds.json: the run's record
without its results (what it had to run, what it had to show).

Facts about LAVA 2023.01 (Debian bookworm's lava-common and lava-server)
that shape the definition:
- qemu.jinja2 ignores `extra_kernel_args`, and a boot action takes no
  kernel arguments for qemu: the command line goes in the kernel image's
  image_arg as -append.
- `cpu` and `machine` reach QEMU only on arm64 (and a few others);
  `extra_options` is a list, each item appended as it is.
- Without `no_kvm`, qemu.jinja2 asks for KVM; the tool runs TCG everywhere
  (kunit_run.py), and so do these jobs.
- A boot action with `prompts` waits for a login and swallows the KTAP:
  the boot action has none.
- The console's lines end in "\\r\\r\\n"; the KTAP pattern ends at either.
"""

import json
import os
import re
import shlex
import subprocess
from typing import Dict, List, Sequence, Tuple

from thpds import kunit_run
from thpds.errors import InfraError
from thpds.target import Target

# LAVA's monitor: from the first KTAP (or 5.10's TAP) header to the guest's
# end (kunit_shutdown=reboot with -no-reboot, or a panic: an oops, or 5.10's
# missing root file system), each result line a test case.
MONITOR = {
	'name': 'thp_deferred_split',
	'start': r'K?TAP version \d+',
	'end': r'reboot: (Restarting system|Power down)|Kernel panic - not syncing',
	'pattern': r'(?P<result>not ok|ok) \d+ (?:- )?(?P<test_case_id>[^#\r\n]+?)'
		   r'(?: # [^\r\n]*)?[\r\n]',
	'fixupdict': {'ok': 'pass', 'not ok': 'fail'},
}
# A live system's boot (live.py): from init's first run to its end, each
# result line of the results files it prints a test case.  Not to a panic:
# the kernel prints its log after the panic line (panic_print), and the
# guest's end (QEMU exits, -no-reboot) ends the action then.
LIVE_MONITOR = dict(MONITOR, start=r'THPDS-RUNNING \d+ ',
		    end=r'THPDS-DONE|reboot: (Restarting system|Power down)')
# kunit.py's own additions to a QEMU boot's command line (kunit_kernel.py).
KUNIT_ARGS = ('kunit_shutdown=reboot', 'kunit.enable=1')
CONSOLE = {'x86_64': 'console=ttyS0', 'arm64': 'console=ttyAMA0'}
KERNEL_FILE = {'x86_64': 'bzImage', 'arm64': 'Image.gz'}


def kernel_path(build_dir: str, target: Target) -> str:
	"""The kernel image kunit.py boots (its qemu_configs' kernel_path)."""
	sub = 'arch/x86/boot' if target.arch == 'x86_64' else 'arch/arm64/boot'
	return os.path.join(build_dir, sub, KERNEL_FILE[target.arch])


def command_line(target: Target, boot: Sequence[str]) -> List[str]:
	"""The kernel command line a run of the tool boots with: the console
	and kunit.py's own, then the tool's, then @boot (the port's mTHP sizes
	and the run's options)."""
	return [CONSOLE[target.arch], *KUNIT_ARGS, *kunit_run.KERNEL_ARGS, *boot]


def qemu_options(target: Target) -> List[str]:
	"""target.qemu_args() as LAVA's extra_options, one option (with its
	value) an item, less what the job's context says itself (memory, and
	the arm64 CPU); -no-reboot, so that the guest's reboot ends QEMU."""
	items = re.split(r' (?=-)', target.qemu_args())
	return [i for i in items if not i.startswith(('-m ', '-cpu '))] + ['-no-reboot']


def cpu_of(target: Target) -> str:
	found = re.search(r'-cpu (\S+)', target.qemu_args())
	return found.group(1) if found else ''


def memory_of(target: Target) -> int:
	return int(re.search(r'-m (\d+)', target.qemu_args()).group(1))


def slug(*parts: str) -> str:
	"""A job's name in files and in LAVA ([-_a-zA-Z0-9.] only)."""
	return re.sub(r'[^A-Za-z0-9._-]+', '_', '-'.join(p for p in parts if p))


def boot_actions(kernel_url: str, cmdline: Sequence[str], minutes: int,
		 ramdisk_url: str = '') -> List[Dict]:
	"""Deploy, boot and test: one boot of the kernel at @kernel_url with
	@cmdline (and the initramfs at @ramdisk_url: a live system's boot)."""
	append = ' '.join(shlex.quote(a) if re.search(r'[\s"\']', a) else a for a in cmdline)
	images = {'kernel': {'url': kernel_url,
			     'image_arg': f'-kernel {{kernel}} -append "{append}"'}}
	if ramdisk_url:
		images['ramdisk'] = {'url': ramdisk_url, 'image_arg': '-initrd {ramdisk}'}
	return [
		{'deploy': {'to': 'tmpfs', 'timeout': {'minutes': 5}, 'images': images}},
		{'boot': {'method': 'qemu', 'media': 'tmpfs', 'timeout': {'minutes': 2}}},
		{'test': {'timeout': {'minutes': minutes},
			  'monitors': [dict(LIVE_MONITOR if ramdisk_url else MONITOR)]}},
	]


def definition(name: str, target: Target, kernel_url: str, cmdline: Sequence[str],
	       timeout: int, metadata: Dict[str, str],
	       live_boots: Sequence[Tuple[str, Sequence[str]]] = ()) -> Dict:
	"""One LAVA job: boot the kernel at @kernel_url with @cmdline on @target
	under QEMU (TCG), and report its KTAP; @timeout bounds the guest's run
	as the tool's --timeout does.  @live_boots, (initramfs URL, command line)
	each, are the boots of a live run (live.py), one after the other in the
	job, in place of the one boot with @cmdline."""
	context: Dict = {'arch': target.arch, 'no_kvm': True, 'memory': memory_of(target),
			 'extra_options': qemu_options(target)}
	if target.arch == 'arm64':
		context.update(machine='virt', cpu=cpu_of(target))
	minutes = max(1, -(-timeout // 60))
	actions = [a for ramdisk, line in live_boots
		   for a in boot_actions(kernel_url, line, minutes, ramdisk)] \
		or boot_actions(kernel_url, cmdline, minutes)
	boots = max(1, len(live_boots))
	return {
		'device_type': 'qemu',
		'job_name': f'thp-ds {name}',
		'timeouts': {'job': {'minutes': boots * (minutes + 5) + 5},
			     'action': {'minutes': minutes + 5}, 'connection': {'minutes': 2}},
		'priority': 'medium',
		'visibility': 'public',
		'context': context,
		'metadata': {f'thp-ds.{k}': str(v) for k, v in metadata.items()},
		'actions': actions,
	}


# lava-common is packaged for Debian's own Python, which need not be the
# one running thp-ds: the schema is checked there.
LAVA_PYTHON = '/usr/bin/python3'
VALIDATE = """
import json, sys
import voluptuous
from lava_common.schemas import validate
try:
	validate(json.load(sys.stdin), strict=True)
except voluptuous.Invalid as e:
	print(f'{e.msg} @ {e.path}')
	sys.exit(1)
"""


def schema_error(job: Dict) -> str:
	"""What LAVA's own job schema (lava_common.schemas.validate, strict, as
	lava-server checks a submission) says is wrong with @job; '' if nothing."""
	proc = subprocess.run([LAVA_PYTHON, '-c', VALIDATE], input=json.dumps(job),
			      capture_output=True, text=True)
	if proc.returncode != 0 and not proc.stdout.strip():
		raise InfraError(f'cannot run LAVA\'s schema check ({LAVA_PYTHON}, Debian package '
				 f'lava-common): {proc.stderr.strip().splitlines()[-1:]}')
	return proc.stdout.strip()
