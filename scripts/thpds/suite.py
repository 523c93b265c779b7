"""Apply the suite to a kernel tree: files, Kconfig/Makefile entries, port patches.

The repository root mirrors what lands in a kernel tree:

  mm/tests/thp_deferred_split*.[ch]     the suite (tree-independent; sources.py)
  mm/tests/.kunitconfig                 what the suite needs
  Kconfig, Makefile                     the entries for mm/Kconfig, mm/Makefile
  ports/<X.Y>/mm/tests/*.h              the tree's view of the split queue
  ports/<X.Y>/patches/*.patch           minimal VISIBLE_IF_KUNIT exposures

A port is one design of the deferred split queue; which one a tree gets is
decided by what the tree's sources show (fit.py), never by its version.
"""

import dataclasses
import os
import re
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

from thpds import kunit_run, resolve, sources
from thpds.errors import UsageError
from thpds.sources import declarations

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HEADER = 'thp_deferred_split_kunit.h'	# a port's view of its tree (ports/<X.Y>/mm/tests/)
KCONFIG_ANCHOR = 'source "mm/damon/Kconfig"'
TEST_SYMBOL = 'THP_DEFERRED_SPLIT_KUNIT_TEST'
KUNITCONFIG = 'mm/tests/.kunitconfig'


class SuiteError(UsageError):
	"""The suite cannot be applied to this tree; the message says why."""


@dataclasses.dataclass(frozen=True)
class Applied:
	"""What a tree was switched to: the port, and the unpatched variant if any."""
	port: str
	variant: Optional[Any] = None	# variants.Variant
	backported: bool = False	# the port's stable backports are applied
	carried: bool = False		# the tree carries the suite: it runs its own


def version_key(v: str) -> Tuple[int, ...]:
	return tuple(int(x) for x in re.findall(r'\d+', v)[:3])


def ports(repo: str = REPO) -> List[str]:
	root = os.path.join(repo, 'ports')
	return sorted((d for d in os.listdir(root) if re.fullmatch(r'\d+\.\d+', d)),
		      key=version_key)


def _fragment_body(path: str) -> str:
	"""A fragment file without its leading comment block."""
	with open(path) as f:
		lines = f.read().splitlines()
	while lines and (lines[0].startswith('#') or not lines[0].strip()):
		lines.pop(0)
	return '\n'.join(lines).rstrip() + '\n'


def insert_kconfig(mm_kconfig: str, fragment: str) -> str:
	if f'config {TEST_SYMBOL}\n' in mm_kconfig:
		raise SuiteError(f'mm/Kconfig already defines {TEST_SYMBOL}: the tree has the suite')
	if KCONFIG_ANCHOR in mm_kconfig:
		return mm_kconfig.replace(KCONFIG_ANCHOR, fragment + '\n' + KCONFIG_ANCHOR, 1)
	at = mm_kconfig.rfind('endmenu')
	if at < 0:
		raise SuiteError('mm/Kconfig has neither the damon source line nor endmenu')
	return mm_kconfig[:at] + fragment + '\n' + mm_kconfig[at:]


def insert_makefile(mm_makefile: str, fragment: str, objects: Optional[Sequence[str]] = None
		    ) -> str:
	"""mm/Makefile with the fragment's lines appended: only those of
	@objects (relative to mm/) where given."""
	if TEST_SYMBOL in mm_makefile:
		raise SuiteError(f'mm/Makefile already builds {TEST_SYMBOL}: the tree has the suite')
	if objects is not None:
		lines = fragment.splitlines()
		missing = [o for o in objects if not any(line.endswith(f' {o}') for line in lines)]
		if missing:
			raise SuiteError(f'Makefile: no line builds {missing[0]}')
		fragment = ''.join(f'{line}\n' for line in lines
				   if not line.startswith('obj-') or line.split()[-1] in objects)
	return mm_makefile.rstrip('\n') + '\n' + fragment


def port_files(port: str, repo: str = REPO) -> Dict[str, bytes]:
	"""The files a port adds to the suite's (ports/<X.Y>/mm/...), by their
	path in a tree."""
	found: Dict[str, bytes] = {}
	port_dir = os.path.join(repo, 'ports', port)
	for dirpath, _, names in os.walk(port_dir):
		for name in names:
			full = os.path.join(dirpath, name)
			rel = os.path.relpath(full, port_dir)
			if not rel.startswith('mm' + os.sep):
				continue	# patches/ and unpatched/ are applied, not copied
			with open(full, 'rb') as f:
				found[rel] = f.read()
	return found


def suite_files(read_tree_file, port: str, repo: str = REPO,
		files: Optional[Dict[str, bytes]] = None,
		only: Optional[Sequence[str]] = None, resolved: bool = False) -> Dict[str, bytes]:
	"""Files to write into the tree; read_tree_file(path) gives the base's
	text.  @files: the suite's own files (default: all of them that the
	port does not leave out, sources.for_port()); @only: of the port's
	files, only these (a patch of the series that adds only some);
	@resolved: the tree's own form (resolve.py), as a series has it; the
	files as they are otherwise (the same code, and the line numbers of
	the repository's files in KUnit's reports), checked to resolve."""
	files = dict(sources.for_port(port, repo) if files is None else files)
	objects = sources.objects(files)
	files.update({rel: data for rel, data in port_files(port, repo).items()
		      if only is None or rel in only})
	own_form = resolve.for_port(files, port, repo)
	if resolved:
		files = own_form
	makefile = _fragment_body(os.path.join(repo, 'Makefile'))
	kconfig = _fragment_body(os.path.join(repo, 'Kconfig'))
	# an option of the suite's is there only with the file it builds
	used = {TEST_SYMBOL} | {m.group(1) for line in makefile.splitlines()
				for m in [re.match(r'obj-\$\(CONFIG_(\w+)\) \+= (\S+)$', line)]
				if m and m.group(2) in objects}
	kconfig, dropped = kconfig_entries(kconfig, used)
	files['mm/Kconfig'] = insert_kconfig(read_tree_file('mm/Kconfig'), kconfig).encode()
	files['mm/Makefile'] = insert_makefile(read_tree_file('mm/Makefile'), makefile,
					       objects).encode()
	if dropped and KUNITCONFIG in files:
		files[KUNITCONFIG] = b''.join(
			line for line in files[KUNITCONFIG].splitlines(keepends=True)
			if not any(line.startswith(f'CONFIG_{s}='.encode()) for s in dropped))
	return files


def kconfig_entries(fragment: str, keep: Set[str]) -> Tuple[str, List[str]]:
	"""The Kconfig fragment with only the entries (config blocks) of the
	symbols in @keep, and the symbols of the others."""
	blocks = re.split(r'\n(?=config \w+\n)', fragment)
	kept, dropped = [], []
	for block in blocks:
		m = re.match(r'config (\w+)\n', block)
		if m and m.group(1) not in keep:
			dropped.append(m.group(1))
		else:
			kept.append(block)
	return '\n'.join(kept).rstrip('\n') + '\n', dropped


def _patches(port: str, sub: str, repo: str) -> List[str]:
	"""ports/<port>/<sub>/*.patch, in the order they apply."""
	d = os.path.join(repo, 'ports', port, sub)
	return sorted(os.path.join(d, p) for p in os.listdir(d) if p.endswith('.patch')) \
		if os.path.isdir(d) else []


def port_patches(port: str, repo: str = REPO) -> List[str]:
	return _patches(port, 'patches', repo)


def _skips(path: str) -> Tuple[Tuple[str, str], ...]:
	"""(case glob, reason substring) pairs of a file of 'glob: reason' lines."""
	found = []
	for line in declarations(path):
		glob, sep, reason = line.partition(':')
		if not sep or not reason.strip():
			raise SuiteError(f'{path}: expected "case-glob: reason", got {line!r}')
		found.append((glob.strip(), reason.strip()))
	return tuple(found)


def port_skips(port: str, repo: str = REPO) -> Tuple[Tuple[str, str], ...]:
	"""The skips a port allows: (case glob, reason substring) pairs.

	ports/<X.Y>/may-skip holds one 'glob: reason' per line, for cases that
	cannot run on that tree family (a path the tree does not have).  A case
	that skips anywhere else fails the run: a skip proves nothing.
	"""
	return _skips(os.path.join(repo, 'ports', port, 'may-skip'))


def swap_skips(port: str, repo: str = REPO) -> Tuple[Tuple[str, str], ...]:
	"""The cases of a port that need a swap area, and the reason they skip
	with where there is none (ports/<X.Y>/needs-swap): every run but the
	live profile's, whose guest has one."""
	return _skips(os.path.join(repo, 'ports', port, 'needs-swap'))


def _keyed_skips(path: str, key: str, wanted: Sequence[str]) -> Tuple[Tuple[str, str], ...]:
	"""The (case glob, reason substring) pairs of a file of '<key>: case-glob:
	reason' lines whose key is one of @wanted."""
	found = []
	for line in declarations(path):
		name, sep, rest = line.partition(': ')
		glob, sep2, reason = rest.partition(': ')
		if not sep or not sep2 or not reason.strip():
			raise SuiteError(f'{path}: expected "{key}: case-glob: reason", got {line!r}')
		if name.strip() in wanted:
			found.append((glob.strip(), reason.strip()))
	return tuple(found)


def profile_skips(profile: str, repo: str = REPO) -> Tuple[Tuple[str, str], ...]:
	"""The skips a build profile allows: (case glob, reason substring), from
	ports/profile-skips 'profile: case-glob: reason' lines (the lock probes
	under PREEMPT_RT).  A profile it does not list allows none."""
	return _keyed_skips(os.path.join(repo, 'ports', 'profile-skips'), 'profile', (profile,))


def numa_skips(repo: str = REPO) -> Tuple[Tuple[str, str], ...]:
	"""The cases that need two NUMA nodes, and the reason they skip with on
	one (ports/needs-numa): every target but x86_64-numa."""
	return _skips(os.path.join(repo, 'ports', 'needs-numa'))


# What a boot option must look like: one word, as the kernel parses its
# command line (no quoting through kunit.py's --kernel_args).
BOOT_OPTION = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.\-]*(?:=[A-Za-z0-9_.,:=@\-]*)?$')
# The options the tool boots with itself, and kunit.py's: not a user's to change.
OWN_BOOT_OPTIONS = (*(a.split('=', 1)[0] for a in kunit_run.KERNEL_ARGS), 'kunit.')


def check_boot(options: Sequence[str]) -> None:
	"""Refuse a boot option that is not one word of the kernel's command
	line, or that changes what the tool or kunit.py boots with."""
	for option in options:
		if not BOOT_OPTION.match(option):
			raise SuiteError(f'boot option {option!r}: expected one word, name or '
					 'name=value, as on the kernel command line')
		name = option.split('=', 1)[0]
		if any(name == own or (own.endswith('.') and name.startswith(own))
		       for own in OWN_BOOT_OPTIONS):
			raise SuiteError(f'boot option {option!r}: the tool boots with its own '
					 f'{name} (thpds/kunit_run.py KERNEL_ARGS, kunit.py)')


# The orders a port's cases run for: thp_ds_orders[] of its header.
ORDERS = re.compile(r'thp_ds_orders\[\]\s*=\s*\{([^}]*)\}')


def port_thp_anon(port: str, page_kb: int, repo: str = REPO) -> Tuple[str, ...]:
	"""The boot option that enables the port's anonymous mTHP sizes for
	MADV_HUGEPAGE areas, or none: the suite changes no THP setting, and an
	order the boot did not enable skips.  A thp_anon= replaces the default
	of every size, the PMD size's "inherit" included, so it names that too:
	thp_anon=<sizes>:madvise;<PMD size>:inherit."""
	path = os.path.join(repo, 'ports', port, 'mm', 'tests', HEADER)
	with open(path) as f:
		m = ORDERS.search(f.read())
	if not m:
		raise SuiteError(f'{path}: no thp_ds_orders[] = {{ ... }}')
	orders = sorted(int(o) for o in (x.strip() for x in m.group(1).split(',')) if o.isdigit())
	if not orders:
		return ()
	pmd_kb = page_kb * (page_kb * 1024 // 8)	# a page of 8-byte PMD entries
	return ('thp_anon=' + ','.join(f'{page_kb << o}K' for o in orders) + ':madvise;'
		f'{pmd_kb}K:inherit',)


def boot_skips(options: Sequence[str], repo: str = REPO) -> Tuple[Tuple[str, str], ...]:
	"""The skips the boot @options allow: (case glob, reason substring).

	ports/boot-options holds 'option: case-glob: reason' lines, for cases
	whose path does not exist when the kernel boots with that option (the
	memcg cases under cgroup_disable=memory).  An option it does not list
	allows no skip: every case must still pass.
	"""
	return _keyed_skips(os.path.join(repo, 'ports', 'boot-options'), 'option', options)


def port_backports(port: str, repo: str = REPO) -> List[str]:
	"""The stable backports a port ships (ports/<X.Y>/backports/*.patch, in order)."""
	return _patches(port, 'backports', repo)


def port_exposures(port: str, repo: str = REPO) -> Dict[str, str]:
	"""The cases a port's tree fails as shipped, each for a missing upstream fix.

	ports/<X.Y>/exposures holds one 'suite.case: why' per line; the why
	names the upstream commit the tree lacks and the backport in
	ports/<X.Y>/backports/ that closes the exposure, which must exist.  As
	shipped, exactly these cases must fail; with the backports, none.
	"""
	path = os.path.join(repo, 'ports', port, 'exposures')
	backports = {os.path.basename(p) for p in port_backports(port, repo)}
	found: Dict[str, str] = {}
	for line in declarations(path):
		name, sep, why = line.partition(': ')
		named = re.findall(r'backports/(\S+\.patch)', why)
		if not sep or not why.strip() or not named:
			raise SuiteError(f'{path}: expected "suite.case: missing upstream commit ...; '
					 f'closed by backports/<file>.patch", got {line!r}')
		missing = [n for n in named if n not in backports]
		if missing:
			raise SuiteError(f'{path}: {name} names backports/{missing[0]}, which '
					 f'ports/{port}/backports/ does not have')
		found[name.strip()] = why.strip()
	return found
