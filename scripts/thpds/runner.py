"""From a tree spec to a recorded result: prepare, apply, (un)patch, build, boot.

A tree spec is a Debian kernel series ('6.12') or a path to a user's tree.
Either way the tree that is built is tool-owned, at a stable path under the
cache, and switched between 'as shipped' and the unpatched variants in
place (see tree.py), so each switch rebuilds incrementally.
"""

import dataclasses
import fnmatch
import hashlib
import os
import re
import shutil
import subprocess
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

from thpds import (cases, debian_source, document, fit, kconfig_add, kconfig_check, kunit_run,
		   live, lock, progress, sources, suite, tree, variants)
from thpds.errors import UsageError
from thpds.target import DEFAULT as DEFAULT_TARGET, Target
from thpds.verdict import JUDGED_DECLARED, JUDGED_OWN, Expectation, RunRecord


def cache_dir() -> str:
	"""$THP_DS_CACHE or ~/.cache/thp-ds, as an absolute path.

	Trees and build directories live under it, and the kernel's Makefile
	refuses a source or build path with a space or a colon: better one
	line now than a failed build after the download.
	"""
	root = os.path.abspath(os.environ.get('THP_DS_CACHE')
			       or os.path.expanduser('~/.cache/thp-ds'))
	for path in (root, os.path.realpath(root)):
		if re.search(r'[\s:]', path):
			raise UsageError(f'cache directory {path!r} has a space or colon, which the '
					 "kernel's build refuses in source and build paths: set "
					 'THP_DS_CACHE to a path without them')
	return root


def user_tree_name(src: str) -> str:
	"""The directory name of the tool's copy of the user's tree at src.

	Only [A-Za-z0-9._-], whatever the user's path holds (the copy is
	where the kernel is built); the hash of the full path keeps two trees
	of one name apart.
	"""
	key = hashlib.sha256(src.encode()).hexdigest()[:12]
	base = re.sub(r'[^A-Za-z0-9._-]', '_', os.path.basename(src.rstrip('/')))
	return f'user-{base}-{key}'


def is_path(spec: str) -> bool:
	return '/' in spec or spec.startswith('.') or os.path.isdir(spec)


# --tree <series> or --tree <series>=<Debian version>
DEBIAN_SPEC = re.compile(r'(\d+\.\d+)(?:=([0-9][A-Za-z0-9.+~:-]*))?')


def debian_tree_name(series: str, pinned: Optional[str] = None) -> str:
	"""The directory of a Debian tree: one per series, at a stable path, and
	one per pinned version (kept until pruned); only characters the
	kernel's build accepts in a path."""
	if not pinned:
		return f'debian-{series}'
	return 'debian-pinned-' + re.sub(r'[^A-Za-z0-9.+_-]', '_', pinned)


def prepare_debian(spec: str) -> tree.Tree:
	"""The Debian tree for spec ('6.12', or '6.1=6.1.170-3' for exactly that
	version) at its stable path, at the resolved version."""
	m = DEBIAN_SPEC.fullmatch(spec)
	if not m:
		raise UsageError(f'--tree {spec!r}: give a Debian kernel series such as 6.12 or 7.3, '
				 'a series and a version the archive serves (6.1=6.1.170-3), '
				 'or a path to a kernel tree')
	series, pinned = m.groups()
	root = cache_dir()
	name = debian_tree_name(series, pinned)
	t = tree.Tree(os.path.join(root, 'trees', name))
	repair(t)
	apt = debian_source.PrivateApt(root)
	try:
		refreshed = apt.update()
		package, version, suite_name = debian_source.resolve(apt, series, pinned)
	except debian_source.FetchError as e:
		return use_cached(t, e)
	t.session['suite'] = suite_name
	lists = '' if refreshed else f', package lists {_age(apt.lists_age())} old'
	if t.meta.get('version') == version and t.exists():
		print(f'[thp-ds] {package} {version} ({suite_name}{lists}) already at {t.path}',
		      flush=True)
		return t
	print(f'[thp-ds] fetching {package} {version} from {suite_name}{lists}', flush=True)
	try:
		with progress.step('fetch'):
			deb = apt.download(package, version, os.path.join(root, 'debs', *(
				['pinned'] if pinned else [])), keep_others=bool(pinned))
	except debian_source.FetchError as e:
		return use_cached(t, e)
	print(f'[thp-ds] unpacking and committing {os.path.basename(deb)} '
	      '(about a minute)', flush=True)
	unpacked = os.path.join(root, 'unpack', name if pinned else series)
	with progress.step('unpack'):
		tarball = debian_source.unpack(deb, unpacked)
		staging = tree.stage_debian_tarball(tarball, t.path + '.staging')
	# A Debian tarball is pure source: all of it is committed.
	with progress.step('commit'):
		t.set_base(staging, package, version, force=True)
	shutil.rmtree(t.path + '.staging', ignore_errors=True)
	shutil.rmtree(unpacked, ignore_errors=True)
	return t


def use_cached(t: tree.Tree, error: debian_source.FetchError) -> tree.Tree:
	"""The archive cannot be read: the tree as last prepared, if there is one.

	Says so in one line, and records it in t.meta['offline'] (the reason),
	for this process only: the results of the run can tell.  Without a
	prepared tree the error stands (exit status 3).
	"""
	if not t.exists():
		raise error
	meta = t.meta
	reason = str(error).strip().splitlines()[0] if str(error).strip() else 'no reason given'
	prepared = meta.get('prepared') or time.strftime(
		'%Y-%m-%dT%H:%M:%SZ', time.gmtime(os.path.getmtime(t.meta_file)))
	print(f'[thp-ds] cannot reach the archive ({reason}); using the cached '
	      f'{meta["origin"]} {meta["version"]} prepared on '
	      f'{prepared.replace("T", " ").replace("Z", " UTC")}', flush=True)
	t.session['offline'] = reason
	return t


def _age(seconds: Optional[float]) -> str:
	minutes = int((seconds or 0) // 60)
	return f'{minutes} min' if minutes else 'under a minute'


def repair(t: tree.Tree) -> None:
	"""Undo what an interrupted run left in t that would stop git.

	Everything else an interruption can leave is redone by the steps
	themselves: staging and unpack directories are emptied before use, and
	a tree whose metadata is missing or half written is prepared again.
	"""
	if os.path.isdir(t.gitdir) and lock.holds(cache_dir()):
		for name in t.remove_stale_locks():
			print(f'[thp-ds] removed {name} that an interrupted run left in {t.path}',
			      flush=True)


def check_user_tree(path: str) -> str:
	"""The real path of a user's tree, once it is shown to be a kernel tree
	kunit.py can run; nothing is read beyond that, nothing copied."""
	src = os.path.realpath(path)
	if not os.path.isdir(src):
		raise UsageError(f'--tree {path}: no such directory')
	if not tree.looks_like_kernel_tree(src):
		raise UsageError(f'--tree {path}: not a kernel source tree (no Makefile, Kconfig, '
				 'mm/Kconfig, mm/Makefile)')
	if not os.path.exists(os.path.join(src, 'tools/testing/kunit/kunit.py')):
		raise UsageError(f'--tree {path}: has no tools/testing/kunit/kunit.py')
	return src


def prepare_user(path: str) -> tree.Tree:
	"""A copy of the user's tree at a stable path derived from its real path.

	The port is chosen from the user's sources before anything is copied:
	a tree no port fits is refused at once (fit.NoPortFits).
	"""
	src = check_user_tree(path)
	port = fit.choose(fit.directory_reader(src), f'{path} (kernel {tree.kernel_version(src)})')
	t = tree.Tree(os.path.join(cache_dir(), 'trees', user_tree_name(src)))
	repair(t)
	files = tree.user_git_files(src)
	count = f'{len(files)} files its git lists' if files is not None else 'every file but .git'
	print(f'[thp-ds] copying {src} ({count}) to {t.path}: only what changed since the last '
	      'copy moves; a first copy of a kernel tree takes about a minute', flush=True)
	with progress.step('copy'):
		staging = tree.stage_user_tree(src, t.path + '.staging', files)
	print('[thp-ds] committing the copy', flush=True)
	with progress.step('commit'):
		t.set_base(staging, f'user tree {src}', tree.kernel_version(staging),
			   force=files is not None)
	t.session['port'] = port
	return t


def base_reader(t: tree.Tree) -> fit.Reader:
	"""Files of @t as obtained (its base commit, whatever is checked out)."""
	def read(rel: str) -> Optional[str]:
		try:
			return tree.show(t.path, t.meta['base'], rel)
		except tree.TreeError:
			return None
	return fit.cached_reader(read)


def port_of(t: tree.Tree) -> str:
	"""The port that fits @t (chosen once per process)."""
	if 'port' not in t.session:
		t.session['port'] = fit.choose(base_reader(t),
					       f'{t.meta["origin"]} {t.meta["version"]}')
	return t.session['port']


def declared_tree(spec: str, port: str) -> bool:
	"""Whether the port's declarations (ports/<X.Y>/exposures) speak for this
	tree: only Debian's tree of the series the port was written for.  Any
	other tree (a user's, a pinned version of another series, 7.3 on port
	7.2) is judged on its own results: every case must pass."""
	m = DEBIAN_SPEC.fullmatch(spec)
	return bool(m) and not is_path(spec) and m.group(1) == port


# Trees already prepared by this process: 'matrix' and 'repeat' run one tree
# many times, and need not refresh the apt lists or re-copy a user's tree
# before every run.
_prepared: Dict[str, tree.Tree] = {}


def prepare(spec: str) -> tree.Tree:
	if spec not in _prepared:
		_prepared[spec] = prepare_user(spec) if is_path(spec) else prepare_debian(spec)
	return _prepared[spec]


KUNIT_TOOL = 'tools/testing/kunit'
# The tree whose kunit.py runs trees whose own cannot boot QEMU (5.10's has
# no --arch): the default tree, fetched if the cache has no newer one.
KUNIT_DONOR = '6.12'


def kunit_tool_files(t: tree.Tree) -> Dict[str, bytes]:
	"""A newer kunit.py for a tree whose own has no --arch (5.10): empty when
	the tree's own can boot QEMU.  kunit.py is the tree's test runner, not
	part of the kernel it builds; the newer one parses 5.10's TAP output."""
	own = tree.show(t.path, t.meta['base'], f'{KUNIT_TOOL}/kunit.py')
	if "'--arch'" in own:
		return {}
	donor = prepare(KUNIT_DONOR)
	files: Dict[str, bytes] = {}
	base = os.path.join(donor.path, KUNIT_TOOL)
	for dirpath, _, names in os.walk(base):
		if '__pycache__' in dirpath:
			continue
		for name in names:
			full = os.path.join(dirpath, name)
			with open(full, 'rb') as f:
				files[os.path.relpath(full, donor.path)] = f.read()
	t.session['kunit_from'] = f'{donor.meta["origin"]} {donor.meta["version"]}'
	print(f'[thp-ds] {t.meta["origin"]} {t.meta["version"]}: its kunit.py cannot boot QEMU; '
	      f'using the one of {t.session["kunit_from"]}', flush=True)
	return files


def carried_suite(t: tree.Tree) -> Optional[str]:
	"""The suite's source as @t carries it (merged upstream, or applied by
	its owner), or None: such a tree runs the suite it has."""
	try:
		listed = tree.git(t.path, 'ls-tree', '--name-only', t.meta['base'],
				  f'{sources.SUITE_DIR}/').split()
		if not cases.has_suite(listed):
			return None
		return sources.c_text({rel: tree.show(t.path, t.meta['base'], rel).encode()
				       for rel in listed if sources.is_source(rel)})
	except tree.TreeError:
		return None


def suite_source(t: tree.Tree) -> str:
	"""Which suite a run of @t runs, in words for the record."""
	carried = carried_suite(t)
	if carried is None:
		return 'this repository'
	ours = cases.repo_text(port_of(t))
	sha = hashlib.sha256(carried.encode()).hexdigest()[:12]
	if carried == ours:
		return f'carried by the tree ({sha}), the same as this repository\'s'
	return (f'carried by the tree ({sha}), which differs from this repository\'s '
		f'({hashlib.sha256(ours.encode()).hexdigest()[:12]})')


def declared_cases(t: tree.Tree) -> Dict[str, List[str]]:
	"""The case tables of the suite a run of @t runs."""
	carried = carried_suite(t)
	return cases.repo_declared(port_of(t)) if carried is None else cases.declared_cases(carried)


def apply_suite(t: tree.Tree, variant: Optional[str] = None) -> suite.Applied:
	"""Check out base + suite in t, plus for 'backported' the port's stable
	backports, plus for an unpatched variant the backports and its patch;
	return what was applied.  A tree that carries the suite keeps its own
	(only a kunit.py that can boot QEMU is added where it lacks one)."""
	port = port_of(t)
	owner = f'port {port}'
	v = None
	backports = suite.port_backports(port)
	if variant == variants.BACKPORTED and not backports:
		raise UsageError(f'--backported: port {port} ships no backports (its tree is '
				 'not exposed to a known missing fix)')
	if variant and variant != variants.SHIPPED and variant != variants.BACKPORTED:
		offered = variants.for_port(port)
		if variant not in offered:
			raise UsageError(f'--unpatched {variant}: port {port} has no such variant '
					 f'(it has: {", ".join(sorted(offered)) or "none"})')
		v = offered[variant]
	carried = carried_suite(t) is not None
	if carried:
		commit = t.commit_on_base(kunit_tool_files(t), [],
					  'thp-ds: a kunit.py that boots QEMU')
	else:
		files = suite.suite_files(lambda rel: tree.show(t.path, t.meta['base'], rel), port)
		files.update(kunit_tool_files(t))
		commit = t.commit_on_base(files, suite.port_patches(port),
					  f'thp-ds: apply the deferred-split suite (port {port})',
					  owner=owner)
	backported = bool(backports and variant and variant != variants.SHIPPED)
	if backported:
		commit = t.commit_on_base({}, backports, f'thp-ds: the stable backports of port {port}',
					  parent=commit, owner=owner)
	if v:
		commit = apply_variant(t, v, commit)
	t.checkout(commit)
	return suite.Applied(port=port, variant=v, backported=backported, carried=carried)


def apply_variant(t: tree.Tree, v: variants.Variant, parent: str) -> str:
	"""@parent + the first form of @v that applies (variants.for_port)."""
	errors = []
	for patch in v.patches:
		try:
			return t.commit_on_base({}, [patch], f'thp-ds: {v.title}', parent=parent,
						owner=f'port {v.port} variant')
		except tree.PatchError as e:
			errors.append(str(e))
	if len(errors) == 1:
		raise tree.PatchError(errors[0])
	raise tree.PatchError(f'no form of variant {v.name} of port {v.port} applies to this tree: '
			      + ' | '.join(errors))


@dataclasses.dataclass
class TreeRun:
	record: RunRecord
	output: kunit_run.RunOutput
	applied: suite.Applied
	tree: tree.Tree			# the tree prepared for the run


def suite_revision() -> str:
	"""This repository's commit, '+' when the working tree differs from it."""
	head = subprocess.run(['git', '-C', suite.REPO, 'rev-parse', '--short=12', 'HEAD'],
			      capture_output=True, text=True).stdout.strip()
	dirty = subprocess.run(['git', '-C', suite.REPO, 'status', '--porcelain', '--',
				'mm', 'ports', 'Kconfig', 'Makefile'],
			       capture_output=True, text=True).stdout.strip()
	return (head or 'unknown') + ('+' if dirty else '')


# Build profiles: extra Kconfig on top of mm/tests/.kunitconfig, each in a
# build directory of its own so that switching never invalidates the other.
PROFILES: Dict[str, Sequence[str]] = {
	'default': (),
	# The kernel's own debug checks, to see the bug as they report it:
	# KASAN for use-after-free of the freed folio, lockdep for the queue
	# locks, DEBUG_OBJECTS for work and timers, atomic-sleep checks.  Also
	# KUnit's debugfs and an initramfs, so that the suite can be run again
	# on the running kernel (rerun.py).
	'debug': ('CONFIG_KASAN=y', 'CONFIG_KASAN_GENERIC=y', 'CONFIG_KASAN_INLINE=y',
		  'CONFIG_PROVE_LOCKING=y', 'CONFIG_DEBUG_ATOMIC_SLEEP=y',
		  'CONFIG_DEBUG_OBJECTS=y', 'CONFIG_DEBUG_OBJECTS_FREE=y',
		  'CONFIG_DEBUG_OBJECTS_TIMERS=y', 'CONFIG_DEBUG_OBJECTS_WORK=y',
		  'CONFIG_DEBUG_OBJECTS_RCU_HEAD=y', 'CONFIG_DEBUG_VM_PGFLAGS=y',
		  'CONFIG_DEBUG_FS=y', 'CONFIG_KUNIT_DEBUGFS=y', 'CONFIG_BLK_DEV_INITRD=y'),
	# A live system with a swap area (live.py): KUnit's debugfs to run the
	# suites again after boot, an initramfs for the init that sets the
	# system up, and a RAM disk for it to swap to.
	'live': ('CONFIG_DEBUG_FS=y', 'CONFIG_KUNIT_DEBUGFS=y', 'CONFIG_BLK_DEV_INITRD=y',
		 'CONFIG_BLK_DEV=y', 'CONFIG_BLK_DEV_RAM=y', 'CONFIG_SWAP=y'),
	# The real-time preemption model (mainline since v6.12 on x86_64):
	# spinlock_t becomes a sleeping lock, and the queue locks with it.
	'rt': ('CONFIG_EXPERT=y', 'CONFIG_PREEMPT_RT=y'),
}
# Profiles whose runs boot a live system (live.py) instead of kunit.py's.
LIVE_PROFILES = ('live',)


def output_fields(out: kunit_run.RunOutput) -> Dict[str, Any]:
	"""The fields of a RunRecord that say what kunit.py and the guest showed."""
	return dict(
		cases=tuple(out.cases), built=out.built,
		kunit_returncode=out.returncode, timed_out=out.timed_out, oops=out.oops,
		suite_warnings=tuple(out.suite_warnings), teardown_errors=tuple(out.teardown_errors),
		kernel_reports=tuple(out.kernel_reports), failed_checks=tuple(out.failed_checks),
		parse_errors=tuple(out.parse_errors), unskippable=tuple(out.unskippable),
		live_errors=tuple(out.live_errors),
		config_sha256=out.config_sha256, failures=tuple(sorted(out.failures.items())),
		seconds=round(out.seconds, 1), log=out.log_path)


def make_record(out: kunit_run.RunOutput, selected: Tuple[str, ...], expect: Expectation,
		**meta: str) -> RunRecord:
	"""The record of a run: what kunit.py and the guest showed, and what was
	expected; meta names the tree, variant and settings."""
	return RunRecord(selected=selected, expect=expect, **output_fields(out), **meta)


def expectation(applied: suite.Applied, target: Target = DEFAULT_TARGET,
		declared: bool = True, boot: Sequence[str] = (),
		profile: str = 'default') -> Expectation:
	"""What a run of the applied tree must show: an unpatched variant's declared
	failures (on @target); as shipped, the port's declared exposures where
	they speak for the tree (@declared: declared_tree()), else none; with
	the backports, none.  Skips only where the port, or a boot option
	(@boot: ports/boot-options), allows them, and for want of a swap area
	(ports/<X.Y>/needs-swap) in every run but a live one, and for want of
	a second NUMA node (ports/needs-numa) on every target but x86_64-numa,
	where those cases are not expected to fail either.

	A boot option a variant declares Unreached-With leaves nothing to
	fail, one it declares Expect-Fail-With the cases it names; under
	another, a declared failure may skip where the option allows (its path
	is gone; judge() wants one declared failure seen)."""
	v = applied.variant
	may_fail = frozenset()
	booted = v.booted(boot) if v else None
	if booted is not None:
		fail = booted
		crash = v.may_crash & fail
	elif v:
		fail, may_fail = v.on(target.name)
		crash = v.may_crash
	elif applied.backported or not declared:
		fail, crash = frozenset(), frozenset()
	else:
		fail, crash = frozenset(suite.port_exposures(applied.port)), frozenset()
	skips = suite.port_skips(applied.port) + suite.boot_skips(boot) + \
		suite.profile_skips(profile)
	# no swap area, one NUMA node: the cases that need them skip, and
	# cannot fail
	absent = () if profile in LIVE_PROFILES else suite.swap_skips(applied.port)
	absent += () if target.numa else suite.numa_skips()
	if absent:
		skips += absent

		def runs(name: str) -> bool:
			return not any(fnmatch.fnmatchcase(name, g) for g, _ in absent)
		fail = frozenset(filter(runs, fail))
		crash = frozenset(filter(runs, crash))
	return Expectation(fail, crash, skips, exposure=not v and bool(fail), may_fail=may_fail)


def run_dirs(t: tree.Tree, profile: str, target: Target = DEFAULT_TARGET,
	     kconfig: Sequence[str] = ()) -> Tuple[str, str]:
	"""The build directory of @t's @profile on @target, and the directory its
	results go under (x86_64's keep their names from before arm64).  A
	target that differs only in its CPUs boots the same build; options a
	user adds (@kconfig) build in directories of their own."""
	def named(suffix: str) -> str:
		name = os.path.basename(t.path) + (f'-{suffix}' if suffix else '')
		name = f'{name}-{profile}' if profile != 'default' else name
		added = kconfig_add.build_suffix(kconfig)
		return f'{name}-{added}' if added else name
	build = '' if target.builds_default else target.build_name
	results = '' if target.default else target.name
	return (os.path.join(cache_dir(), 'build', named(build)),
		os.path.join(cache_dir(), 'results', named(results)))


JUDGED = {True: JUDGED_DECLARED, False: JUDGED_OWN}


def tool_boot(port: str, target: Target = DEFAULT_TARGET) -> Tuple[str, ...]:
	"""The kernel options every run of @port's suite boots with besides
	kunit_run.KERNEL_ARGS: the mTHP sizes its cases need (the suite writes
	no THP setting)."""
	return suite.port_thp_anon(port, target.page_kb)


# mm/Kconfig's THP entry, up to its dependencies.
THP_KCONFIG = re.compile(r'^(?:menu)?config TRANSPARENT_HUGEPAGE\n(?:\t.*\n)*?\tdepends on (.*)$',
			 re.M)


def rt_refusal(path: str, target: Target) -> str:
	"""Why the tree at @path cannot build the suite under PREEMPT_RT for
	@target ('' when it can): its architecture does not select
	ARCH_SUPPORTS_RT (x86_64 and arm64 do from v6.12; before, PREEMPT_RT
	was a patch set out of tree), or its THP depends on !PREEMPT_RT (every
	tree up to 7.3 at least: a real-time kernel has no THP, so no deferred
	split queue, and the bug class does not exist there)."""
	arch = os.path.join(path, 'arch', target.arch.replace('x86_64', 'x86'), 'Kconfig')
	mm = os.path.join(path, 'mm', 'Kconfig')
	try:
		with open(arch, errors='replace') as f:
			supported = re.search(r'^\s*select ARCH_SUPPORTS_RT\b', f.read(), re.M)
		with open(mm, errors='replace') as f:
			thp = THP_KCONFIG.search(f.read())
	except OSError as e:
		return f'cannot read {e.filename}: {e.strerror}'
	if not supported:
		return (f'its {target.arch} architecture does not select ARCH_SUPPORTS_RT, so '
			'PREEMPT_RT cannot be built (mainline since v6.12)')
	if thp and re.search(r'!\s*PREEMPT_RT\b', thp.group(1)):
		return ('its mm/Kconfig has TRANSPARENT_HUGEPAGE depend on !PREEMPT_RT: a '
			'PREEMPT_RT kernel has no THP, so no deferred split queue and nothing '
			'for the suite to test')
	return ''


def profile_refusal(t: tree.Tree, profile: str, target: Target = DEFAULT_TARGET) -> str:
	"""Why the prepared tree @t cannot run @profile on @target ('' when it can)."""
	if profile == 'rt':
		return rt_refusal(t.path, target)
	if profile not in LIVE_PROFILES:
		return ''
	try:
		live.check(target)
	except UsageError as e:
		return str(e)
	patches = []
	for path in suite.port_patches(port_of(t)):
		with open(path, errors='replace') as f:
			patches.append(f.read())
	return live.tree_refusal(t.path, patches)


def check_request(spec: str, filter_glob: Optional[str], variant: Optional[str],
		  target: Target, boot: Sequence[str] = (), profile: str = 'default',
		  kconfig: Sequence[str] = ()) -> None:
	"""What can be refused before any download, copy or build: the filter,
	the variant's name, the boot options, added Kconfig options, a user's
	tree (not a kernel tree, no kunit.py, no port fits it, a page size it
	cannot build)."""
	cases.select(cases.repo_declared(), filter_glob)
	suite.check_boot(boot)
	kconfig_add.conflicts(kconfig_add.parse(kconfig), (*target.kconfig(), *PROFILES[profile]))
	if variant and variant not in (variants.SHIPPED, variants.BACKPORTED):
		known = variants.known_names()
		if variant not in known:
			raise UsageError(f'--unpatched {variant}: no port has such a variant (there are: '
					 f'{", ".join(sorted(known))}; thp-ds list)')
		needs = variants.profiles_of(variant)
		if needs and profile not in needs:
			raise UsageError(f'--unpatched {variant}: its path is reached only in a run of the '
					 f'{" or ".join(sorted(needs))} profile (--profile '
					 f'{sorted(needs)[0]}): the variant declares what fails there')
		places = variants.targets_of(variant)
		if places and target.name not in places:
			raise UsageError(f'--unpatched {variant}: its path is reached only on '
					 f'{" or ".join(sorted(places))} (the variant declares what '
					 'fails there)'
					 + ('; run it with --numa' if 'x86_64-numa' in places else ''))
	if profile in LIVE_PROFILES:
		live.check(target)
	if is_path(spec):
		src = check_user_tree(spec)
		why_not = target.refusal(src)
		if why_not:
			raise UsageError(f'tree {spec} cannot be built for {target.name}: {why_not}')


@dataclasses.dataclass
class Plan:
	"""A run's tree prepared and applied, and how it is to be judged."""
	tree: tree.Tree
	port: str
	selected: Tuple[str, ...]
	applied: suite.Applied
	variant: str			# its name: shipped, backported, or the variant's
	declared: bool			# the port's declarations speak for the tree
	judged: str
	source: str			# which suite it runs, in words
	build_dir: str
	results: str
	kconfig: Tuple[str, ...]


def plan(spec: str, filter_glob: Optional[str], variant: Optional[str], profile: str,
	 target: Target, boot: Sequence[str], kconfig: Sequence[str]) -> Plan:
	"""Steps 1-4 of a run: check the request, resolve and prepare the tree
	(a Debian version is resolved and fetched, a user's tree fitted to a
	port and copied), fit, apply (the suite or the tree's own, backports,
	the variant)."""
	# 1. what can be refused cheaply, before anything is fetched or copied
	check_request(spec, filter_glob, variant, target, boot, profile, kconfig)
	kconfig = kconfig_add.parse(kconfig)
	# 2. resolve and prepare: the tree at its stable path
	t = prepare(spec)
	why_not = '' if is_path(spec) else target.refusal(t.path)
	if why_not:
		raise UsageError(f'{t.meta["origin"]} {t.meta["version"]} cannot be built for '
				 f'{target.name}: {why_not}')
	why_not = profile_refusal(t, profile, target)
	if why_not:
		raise UsageError(f'{t.meta["origin"]} {t.meta["version"]} cannot run the {profile} '
				 f'profile: {why_not}')
	# 3. fit: the port whose design the tree's sources show
	port = port_of(t)
	# 4. apply: the suite (or the tree's own), backports, the variant
	selected = cases.select(declared_cases(t), filter_glob)
	with progress.step('apply the suite'):
		applied = apply_suite(t, variant)
	vname = applied.variant.name if applied.variant else \
		variants.BACKPORTED if applied.backported else variants.SHIPPED
	declared = declared_tree(spec, port)
	judged = JUDGED[declared] if not applied.variant else f"variant {vname}'s declarations"
	build_dir, results = run_dirs(t, profile, target, kconfig)
	return Plan(t, port, selected, applied, vname, declared, judged, suite_source(t),
		    build_dir, results, kconfig)


def run_tree(spec: str, timeout: int, filter_glob: Optional[str] = None,
	     accel: str = 'tcg', variant: Optional[str] = None, profile: str = 'default',
	     mode: str = 'run', out_name: Optional[str] = None,
	     target: Target = DEFAULT_TARGET, boot: Sequence[str] = (),
	     kconfig: Sequence[str] = (), jobs: Optional[int] = None) -> TreeRun:
	"""One run, in order: check the request, resolve and prepare the tree,
	fit, apply (plan()), build and boot, record.  judge() then decides the
	verdict from the record alone.

	After a variant run the tree goes back to shipped + suite, so that
	nobody builds the bug from it by accident; the build directory keeps
	what was last built (mode='exec' boots that again without building).
	"""
	p = plan(spec, filter_glob, variant, profile, target, boot, kconfig)
	t, port, selected, applied, vname = p.tree, p.port, p.selected, p.applied, p.variant
	declared, judged, source, build_dir, kconfig = (p.declared, p.judged, p.source,
							p.build_dir, p.kconfig)
	out_dir = os.path.join(p.results, out_name or '+'.join((vname, *boot)))
	booted = f', booted with {" ".join(boot)}' if boot else ''
	booted += f', with {" ".join(kconfig)}' if kconfig else ''
	print(f'[thp-ds] {t.meta["origin"]} {t.meta["version"]} (kernel '
	      f'{tree.kernel_version(t.path)}, port {port}, {vname}, {profile} profile, '
	      f'{target.name}{booted}; suite: {source}; judged on {judged}) at {t.path}',
	      flush=True)
	# 5. build and boot
	try:
		if profile in LIVE_PROFILES:
			out = live.run(t.path, build_dir, out_dir, cache_dir(), timeout, selected,
				       target, (*PROFILES[profile], *kconfig),
				       (*tool_boot(port, target), *boot), build=mode == 'run', jobs=jobs)
		else:
			out = kunit_run.run(t.path, build_dir, out_dir, cache_dir(), timeout=timeout,
					    filter_glob=filter_glob, accel=accel, mode=mode, jobs=jobs,
					    kconfig_add=(*PROFILES[profile], *kconfig), target=target,
					    boot=(*tool_boot(port, target), *boot))
	finally:
		if applied.variant or applied.backported:
			apply_suite(t, None)
	added = [o for o in out.config_lost if o in kconfig]
	if added:
		# kunit.py stopped before building: an added option did not survive
		raise UsageError(f'--kconfig-add: {t.meta["origin"]} {t.meta["version"]} '
				 f'({target.name}, {profile} profile) cannot have '
				 f'{", ".join(added)}: {kconfig_check.explain(t.path, added)}; log '
				 f'{out.log_path}')
	if out.config_lost:
		# kunit.py stopped before building: no kernel, so no verdict.
		raise UsageError(f'{t.meta["origin"]} {t.meta["version"]} cannot be built for '
				 f'{target.name} ({profile} profile): its Kconfig drops what the run '
				 f'needs: {kconfig_check.explain(t.path, out.config_lost)}; log '
				 f'{out.log_path}')
	# 6. record
	record = make_record(
		out, selected, expectation(applied, target, declared, boot, profile),
		tree=os.path.realpath(spec) if is_path(spec) else spec,
		origin=t.meta['origin'], version=t.meta['version'],
		debian_suite=t.meta.get('suite', ''),
		kernel=tree.kernel_version(t.path), port=port, variant=vname,
		judged=judged, suite_source=source,
		filter=filter_glob or '', offline=t.meta.get('offline', ''),
		kunit_from=t.meta.get('kunit_from', ''),
		suite_revision=suite_revision(), accel=accel, arch=target.name,
		profile=profile, boot=tuple(boot), kconfig_add=kconfig,
		date=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()))
	document.write(os.path.join(out_dir, 'result.json'), document.document(record))
	return TreeRun(record, out, applied, t)
