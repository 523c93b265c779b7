"""From a tree spec to a recorded result: prepare, apply, (un)patch, build, boot.

A tree spec is a Debian kernel series ('6.12') or a path to a user's tree.
Either way the tree that is built is tool-owned, at a stable path under the
cache, and switched between 'as shipped' and the unpatched variants in
place (see tree.py), so each switch rebuilds incrementally.
"""

import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from typing import Dict, Optional, Sequence, Tuple

from thpds import cases, debian_source, kconfig_check, kunit_run, lock, suite, tree, variants
from thpds.errors import UsageError
from thpds.target import DEFAULT as DEFAULT_TARGET, Target
from thpds.verdict import Expectation, RunRecord


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


def prepare_debian(series: str) -> tree.Tree:
	"""The Debian tree for series at its stable path, at the resolved version."""
	if not re.fullmatch(r'\d+\.\d+', series):
		raise UsageError(f'--tree {series!r}: give a Debian kernel series such as 6.12 or 7.2, '
				 'or a path to a kernel tree')
	root = cache_dir()
	t = tree.Tree(os.path.join(root, 'trees', f'debian-{series}'))
	repair(t)
	apt = debian_source.PrivateApt(root)
	try:
		refreshed = apt.update()
		package, version, suite_name = debian_source.resolve(apt, series)
	except debian_source.FetchError as e:
		return use_cached(t, e)
	lists = '' if refreshed else f', package lists {_age(apt.lists_age())} old'
	if t.meta.get('version') == version and t.exists():
		print(f'[thp-ds] {package} {version} ({suite_name}{lists}) already at {t.path}',
		      flush=True)
		return t
	print(f'[thp-ds] fetching {package} {version} from {suite_name}{lists}', flush=True)
	try:
		deb = apt.download(package, version, os.path.join(root, 'debs'))
	except debian_source.FetchError as e:
		return use_cached(t, e)
	unpacked = os.path.join(root, 'unpack', series)
	tarball = debian_source.unpack(deb, unpacked)
	staging = tree.stage_debian_tarball(tarball, t.path + '.staging')
	# A Debian tarball is pure source: all of it is committed.
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


def prepare_user(path: str) -> tree.Tree:
	"""A copy of the user's tree at a stable path derived from its real path."""
	src = os.path.realpath(path)
	if not os.path.isdir(src):
		raise UsageError(f'--tree {path}: no such directory')
	if not tree.looks_like_kernel_tree(src):
		raise UsageError(f'--tree {path}: not a kernel source tree (no Makefile, Kconfig, '
				 'mm/Kconfig, mm/Makefile)')
	if not os.path.exists(os.path.join(src, 'tools/testing/kunit/kunit.py')):
		raise UsageError(f'--tree {path}: has no tools/testing/kunit/kunit.py')
	suite.port_for(tree.kernel_version(src))	# refuses a tree too old, before copying
	t = tree.Tree(os.path.join(cache_dir(), 'trees', user_tree_name(src)))
	repair(t)
	files = tree.user_git_files(src)
	staging = tree.stage_user_tree(src, t.path + '.staging', files)
	t.set_base(staging, f'user tree {src}', tree.kernel_version(staging),
		   force=files is not None)
	return t


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


def apply_suite(t: tree.Tree, variant: Optional[str] = None) -> suite.Applied:
	"""Check out base + suite in t, plus for 'backported' the port's stable
	backports, plus for an unpatched variant the backports and its patch;
	return what was applied."""
	version = tree.kernel_version(t.path)
	port = suite.port_for(version)
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
	files = suite.suite_files(lambda rel: tree.show(t.path, t.meta['base'], rel), port)
	files.update(kunit_tool_files(t))
	commit = t.commit_on_base(files, suite.port_patches(port),
				  f'thp-ds: apply the deferred-split suite (port {port})')
	backported = bool(backports and variant and variant != variants.SHIPPED)
	if backported:
		commit = t.commit_on_base({}, backports,
					  f'thp-ds: the stable backports of port {port}', parent=commit)
	if v:
		commit = t.commit_on_base({}, [v.patch], f'thp-ds: {v.title}', parent=commit)
	t.checkout(commit)
	return suite.Applied(port=port, variant=v, backported=backported)


@dataclasses.dataclass
class TreeRun:
	record: RunRecord
	output: kunit_run.RunOutput
	applied: suite.Applied


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
}


def write_json_atomically(path: str, data) -> None:
	tmp = path + '.tmp'
	with open(tmp, 'w') as f:
		json.dump(data, f, indent=1)
	os.replace(tmp, path)


def make_record(out: kunit_run.RunOutput, selected: Tuple[str, ...], expect: Expectation,
		**meta: str) -> RunRecord:
	"""The record of a run: what kunit.py and the guest showed, and what was
	expected; meta names the tree, variant and settings."""
	return RunRecord(
		selected=selected, cases=tuple(out.cases), expect=expect, built=out.built,
		kunit_returncode=out.returncode, timed_out=out.timed_out, oops=out.oops,
		suite_warnings=tuple(out.suite_warnings), teardown_errors=tuple(out.teardown_errors),
		kernel_reports=tuple(out.kernel_reports), failed_checks=tuple(out.failed_checks),
		parse_errors=tuple(out.parse_errors), unskippable=tuple(out.unskippable),
		config_sha256=out.config_sha256,
		seconds=round(out.seconds, 1), log=out.log_path, **meta)


def expectation(applied: suite.Applied, target: Target = DEFAULT_TARGET) -> Expectation:
	"""What a run of the applied tree must show: an unpatched variant's declared
	failures (on @target); as shipped, the port's declared exposures; with the
	backports, none.  Skips only where the port allows them."""
	v = applied.variant
	may_fail = frozenset()
	if v:
		fail, may_fail = v.on(target.name)
		crash = v.may_crash
	elif applied.backported:
		fail, crash = frozenset(), frozenset()
	else:
		fail, crash = frozenset(suite.port_exposures(applied.port)), frozenset()
	return Expectation(fail, crash, suite.port_skips(applied.port),
			   exposure=not v and bool(fail), may_fail=may_fail)


def run_dirs(t: tree.Tree, profile: str,
	     target: Target = DEFAULT_TARGET) -> Tuple[str, str]:
	"""The build directory of @t's @profile on @target, and the directory its
	results go under (x86_64's keep their names from before arm64)."""
	name = os.path.basename(t.path)
	if not target.default:
		name = f'{name}-{target.name}'
	if profile != 'default':
		name = f'{name}-{profile}'
	return (os.path.join(cache_dir(), 'build', name),
		os.path.join(cache_dir(), 'results', name))


def run_tree(spec: str, timeout: int, filter_glob: Optional[str] = None,
	     accel: str = 'tcg', variant: Optional[str] = None, profile: str = 'default',
	     mode: str = 'run', out_name: Optional[str] = None,
	     target: Target = DEFAULT_TARGET) -> TreeRun:
	"""Prepare, apply, build, boot and record one tree (and variant).

	After a variant run the tree goes back to shipped + suite, so that
	nobody builds the bug from it by accident; the build directory keeps
	what was last built (mode='exec' boots that again without building).
	"""
	selected = cases.select(cases.repo_declared(), filter_glob)
	# A user's tree is judged before it is copied (the copy takes a while),
	# a Debian tree once it is there.
	user_tree = is_path(spec) and os.path.isdir(spec)
	why_not = target.refusal(spec) if user_tree else ''
	if why_not:
		raise UsageError(f'tree {spec} cannot be built for {target.name}: {why_not}')
	t = prepare(spec)
	why_not = '' if user_tree else target.refusal(t.path)
	if why_not:
		raise UsageError(f'{t.meta["origin"]} {t.meta["version"]} cannot be built for '
				 f'{target.name}: {why_not}')
	applied = apply_suite(t, variant)
	vname = applied.variant.name if applied.variant else \
		variants.BACKPORTED if applied.backported else variants.SHIPPED
	build_dir, results = run_dirs(t, profile, target)
	out_dir = os.path.join(results, out_name or vname)
	print(f'[thp-ds] {t.meta["origin"]} {t.meta["version"]} (kernel '
	      f'{tree.kernel_version(t.path)}, port {applied.port}, {vname}, '
	      f'{profile} profile, {target.name}) at {t.path}', flush=True)
	try:
		out = kunit_run.run(t.path, build_dir, out_dir, cache_dir(), timeout=timeout,
				    filter_glob=filter_glob, accel=accel, mode=mode,
				    kconfig_add=PROFILES[profile], target=target)
	finally:
		if applied.variant or applied.backported:
			apply_suite(t, None)
	if out.config_lost:
		# kunit.py stopped before building: no kernel, so no verdict.
		raise UsageError(f'{t.meta["origin"]} {t.meta["version"]} cannot be built for '
				 f'{target.name} ({profile} profile): its Kconfig drops what the run '
				 f'needs: {kconfig_check.explain(t.path, out.config_lost)}; log '
				 f'{out.log_path}')
	record = make_record(
		out, selected, expectation(applied, target),
		tree=os.path.realpath(spec) if is_path(spec) else spec,
		origin=t.meta['origin'], version=t.meta['version'],
		kernel=tree.kernel_version(t.path), port=applied.port, variant=vname,
		filter=filter_glob or '', offline=t.meta.get('offline', ''),
		kunit_from=t.meta.get('kunit_from', ''),
		suite_revision=suite_revision(), accel=accel, arch=target.name,
		profile=profile, date=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()))
	write_json_atomically(os.path.join(out_dir, 'result.json'), record.to_json())
	return TreeRun(record, out, applied)
