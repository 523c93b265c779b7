"""What the kernel is built for and booted on: the architecture and, on
arm64, the page size.

x86_64 (4K pages) is the default. arm64 is cross-built with Debian's
aarch64-linux-gnu toolchain and booted in qemu-system-aarch64 (TCG), with
4K, 16K or 64K pages chosen in the configuration (CONFIG_ARM64_*K_PAGES).
x86_64-numa is x86_64 with two NUMA nodes, one CPU and half the memory
each, as QEMU describes them in the ACPI SRAT (CONFIG_NUMA, and ACPI and
PCI, without which x86_64 reads no SRAT and boots one node).
A guest has two CPUs; '-smpN' (x86_64-smp4, arm64-4k-smp4) boots N, for
the race, whose shrinker then scans from every CPU but the freeing one.
Each target has results of its own, and a build directory of its own
except that the number of CPUs is a boot setting: x86_64-smp4 boots
x86_64's kernel.  So switching targets never invalidates another's build.
"""

import dataclasses
import os
import re
from typing import Dict, Optional, Tuple

from thpds.errors import UsageError

ARCHES = ('x86_64', 'arm64')
PAGE_SIZES = ('4k', '16k', '64k')

# Guest memory: the cases fault a few PMD THPs each (and the race many);
# with 64K pages a PMD THP is 512 MiB, and each needs a free 512 MiB block.
MEMORY_MB = {'4k': 2048, '16k': 2048, '64k': 8192}

# Host packages per architecture (thpds.host knows how to tell each is there).
PACKAGES: Dict[str, Tuple[str, ...]] = {
	'x86_64': ('qemu-system-x86', 'qemu-system-data'),
	'arm64': ('gcc-aarch64-linux-gnu', 'qemu-system-arm'),
}


# x86_64-numa: what the kernel needs to read QEMU's NUMA nodes, and the nodes.
NUMA_KCONFIG = ('CONFIG_NUMA=y', 'CONFIG_ACPI=y', 'CONFIG_PCI=y', 'CONFIG_X86_64_ACPI_NUMA=y')
NUMA_NODES = 2

# CPUs a guest boots with: two by default (the lock-discipline and race
# cases work on one while the other holds a lock), up to MAX_CPUS.
CPUS = 2
MAX_CPUS = 8


@dataclasses.dataclass(frozen=True)
class Target:
	arch: str = 'x86_64'
	page_size: str = '4k'
	numa: bool = False		# x86_64 only: two nodes, a CPU and memory each
	cpus: int = CPUS		# a boot setting: the build is the same

	@property
	def page_kb(self) -> int:
		return int(self.page_size[:-1])

	@property
	def build_name(self) -> str:
		"""What the kernel is built for: 'x86_64' (the default, named as
		before), 'x86_64-numa', else 'arm64-4k' etc."""
		if self.arch == 'x86_64':
			return 'x86_64-numa' if self.numa else 'x86_64'
		return f'{self.arch}-{self.page_size}'

	@property
	def name(self) -> str:
		"""build_name, and '-smpN' where the guest boots N CPUs, not two."""
		return self.build_name + ('' if self.cpus == CPUS else f'-smp{self.cpus}')

	@property
	def builds_default(self) -> bool:
		"""Whether its kernel is the default target's (x86_64, any CPUs)."""
		return self.arch == 'x86_64' and not self.numa

	@property
	def default(self) -> bool:
		return self.builds_default and self.cpus == CPUS

	def kunit_args(self) -> Tuple[str, ...]:
		if self.arch == 'arm64':
			return ('--arch=arm64', '--cross_compile=aarch64-linux-gnu-')
		return ('--arch=x86_64',)

	def kconfig(self) -> Tuple[str, ...]:
		if self.arch == 'arm64':
			return (f'CONFIG_ARM64_{self.page_size[:-1]}K_PAGES=y',)
		return NUMA_KCONFIG if self.numa else ()

	def refusal(self, tree: str) -> str:
		"""Why @tree cannot be built for this target ('' when nothing says so
		before configuring): a page size its arch/arm64/Kconfig does not offer."""
		if self.arch != 'arm64':
			return ''
		try:
			with open(os.path.join(tree, 'arch/arm64/Kconfig'), errors='replace') as f:
				text = f.read()
		except OSError as e:
			return f'it has no arm64 architecture ({e.strerror}: arch/arm64/Kconfig)'
		offered = re.findall(r'^config ARM64_(\d+)K_PAGES$', text, re.M)
		if self.page_size[:-1] in offered:
			return ''
		return (f'its arch/arm64/Kconfig has no ARM64_{self.page_size[:-1]}K_PAGES '
			f'(it offers: {", ".join(n + "k" for n in offered) or "no page size option"})')

	def qemu_args(self) -> str:
		# CPUS by default: the lock-discipline and race cases work on one
		# while the other holds a lock.
		# On two nodes: one CPU and an equal share of memory per node,
		# and a socket per CPU, or the kernel warns that a cache's CPUs
		# span two nodes (topology_sane()).
		memory = MEMORY_MB[self.page_size]
		smp = f'{NUMA_NODES},sockets={NUMA_NODES},cores=1,threads=1' if self.numa else \
			str(self.cpus)
		args = f'-smp {smp} -m {memory}'
		if self.numa:
			share = memory // NUMA_NODES
			for n in range(NUMA_NODES):
				args += (f' -object memory-backend-ram,id=m{n},size={share}M'
					 f' -numa node,nodeid={n},cpus={n},memdev=m{n}')
		if self.arch == 'arm64':
			# The same CPU whatever kunit.py the tree carries (QEMU takes
			# the last -cpu): 6.1's asks for a Cortex-A57, which has no 16K
			# translation granule, and a 16K kernel hangs there before its
			# first console line.  pauth-impdef: TCG's cheap pointer
			# authentication, as 6.12's kunit.py asks.
			args += ' -cpu max,pauth-impdef=on'
		return args

	@property
	def qemu_binary(self) -> str:
		return 'qemu-system-aarch64' if self.arch == 'arm64' else 'qemu-system-x86_64'

	@property
	def qemu_package(self) -> str:
		"""The Debian package of qemu_binary (one of packages())."""
		return 'qemu-system-arm' if self.arch == 'arm64' else 'qemu-system-x86'

	@property
	def cross_compile(self) -> str:
		return 'aarch64-linux-gnu-' if self.arch == 'arm64' else ''

	def packages(self) -> Tuple[str, ...]:
		return PACKAGES[self.arch]


DEFAULT = Target()
NUMA = Target(numa=True)


def parse(arch: str, page_size: Optional[str], numa: bool = False,
	  cpus: int = CPUS) -> Target:
	"""The target of --arch, --page-size, --numa and --cpus, or a usage error
	that says why not."""
	if not CPUS <= cpus <= MAX_CPUS:
		raise UsageError(f'--cpus {cpus}: from {CPUS} to {MAX_CPUS} (the cases need two; '
				 'the host runs every CPU of the guest)')
	if numa and cpus != CPUS:
		raise UsageError(f'--cpus {cpus} with --numa: x86_64-numa boots one CPU per node')
	return dataclasses.replace(_parse(arch, page_size, numa), cpus=cpus)


def _parse(arch: str, page_size: Optional[str], numa: bool) -> Target:
	if arch in ('um', 'uml'):
		raise UsageError(f'--arch {arch}: the suite needs transparent huge pages, which UML '
				 '(arch/um) cannot build (it does not select '
				 'HAVE_ARCH_TRANSPARENT_HUGEPAGE); use x86_64 or arm64 under QEMU')
	if arch not in ARCHES:
		raise UsageError(f'--arch {arch}: supported are {", ".join(ARCHES)}')
	if arch == 'x86_64':
		if page_size not in (None, '4k'):
			raise UsageError(f'--page-size {page_size}: x86_64 has 4K pages only')
		return NUMA if numa else DEFAULT
	if numa:
		raise UsageError('--numa: two NUMA nodes are booted on x86_64 only')
	page_size = page_size or '4k'
	if page_size not in PAGE_SIZES:
		raise UsageError(f'--page-size {page_size}: arm64 offers {", ".join(PAGE_SIZES)}')
	return Target(arch, page_size)


def from_name(name: str) -> Target:
	"""The target a Target.name names ('x86_64', 'x86_64-numa', 'arm64-64k',
	'x86_64-smp4')."""
	cpus = CPUS
	smp = re.fullmatch(r'(.*)-smp(\d+)', name)
	if smp:
		name, cpus = smp.group(1), int(smp.group(2))
	arch, _, rest = name.partition('-')
	if rest == 'numa':
		return parse(arch, None, numa=True, cpus=cpus)
	return parse(arch, rest or None, cpus=cpus)
