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
from typing import Dict, Optional

from thpds import debian_source, kunit_run, suite, tree, variants
from thpds.errors import UsageError


def cache_dir() -> str:
	return os.environ.get('THP_DS_CACHE', os.path.expanduser('~/.cache/thp-ds'))


def is_path(spec: str) -> bool:
	return '/' in spec or spec.startswith('.') or os.path.isdir(spec)


def prepare_debian(series: str) -> tree.Tree:
	"""The Debian tree for series at its stable path, at the resolved version."""
	if not re.fullmatch(r'\d+\.\d+', series):
		raise UsageError(f'--tree {series!r}: give a Debian kernel series such as 6.12 or 7.2, '
				 'or a path to a kernel tree')
	root = cache_dir()
	apt = debian_source.PrivateApt(root)
	apt.update()
	package, version, suite_name = debian_source.resolve(apt, series)
	t = tree.Tree(os.path.join(root, 'trees', f'debian-{series}'))
	if t.meta.get('version') == version:
		print(f'[thp-ds] {package} {version} ({suite_name}) already at {t.path}', flush=True)
		return t
	print(f'[thp-ds] fetching {package} {version} from {suite_name}', flush=True)
	deb = apt.download(package, version, os.path.join(root, 'debs'))
	unpacked = os.path.join(root, 'unpack', series)
	tarball = debian_source.unpack(deb, unpacked)
	staging = tree.stage_debian_tarball(tarball, t.path + '.staging')
	t.set_base(staging, package, version)
	shutil.rmtree(t.path + '.staging', ignore_errors=True)
	shutil.rmtree(unpacked, ignore_errors=True)
	return t


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
	key = hashlib.sha256(src.encode()).hexdigest()[:12]
	name = f'user-{os.path.basename(src.rstrip("/"))}-{key}'
	t = tree.Tree(os.path.join(cache_dir(), 'trees', name))
	staging = tree.stage_user_tree(src, t.path + '.staging')
	t.set_base(staging, f'user tree {src}', tree.kernel_version(staging))
	return t


# Trees already prepared by this process: 'matrix' and 'repeat' run one tree
# many times, and need not refresh the apt lists or re-copy a user's tree
# before every run.
_prepared: Dict[str, tree.Tree] = {}


def prepare(spec: str) -> tree.Tree:
	if spec not in _prepared:
		_prepared[spec] = prepare_user(spec) if is_path(spec) else prepare_debian(spec)
	return _prepared[spec]


def apply_suite(t: tree.Tree, variant: Optional[str] = None) -> suite.Applied:
	"""Check out base + suite (+ the variant's patch) in t; return what was applied."""
	version = tree.kernel_version(t.path)
	port = suite.port_for(version)
	files = suite.suite_files(lambda rel: tree.show(t.path, t.meta['base'], rel), port)
	commit = t.commit_on_base(files, suite.port_patches(port),
				  f'thp-ds: apply the deferred-split suite (port {port})')
	v = None
	if variant and variant != variants.SHIPPED:
		offered = variants.for_port(port)
		if variant not in offered:
			raise UsageError(f'--unpatched {variant}: port {port} has no such variant '
					 f'(it has: {", ".join(sorted(offered)) or "none"})')
		v = offered[variant]
		commit = t.commit_on_base({}, [v.patch], f'thp-ds: {v.title}', parent=commit)
	t.checkout(commit)
	return suite.Applied(port=port, variant=v)


@dataclasses.dataclass
class TreeRun:
	record: Dict
	result: kunit_run.RunResult
	applied: suite.Applied


def suite_revision() -> str:
	"""This repository's commit, '+' when the working tree differs from it."""
	head = subprocess.run(['git', '-C', suite.REPO, 'rev-parse', '--short=12', 'HEAD'],
			      capture_output=True, text=True).stdout.strip()
	dirty = subprocess.run(['git', '-C', suite.REPO, 'status', '--porcelain', '--',
				'mm', 'ports', 'Kconfig', 'Makefile'],
			       capture_output=True, text=True).stdout.strip()
	return (head or 'unknown') + ('+' if dirty else '')


def oops_summary(oops_path: str) -> str:
	"""'BUG: ... at RIP function', or '' when the guest did not crash."""
	if not oops_path:
		return ''
	with open(oops_path) as f:
		lines = [line.split('] ', 1)[-1] for line in f.read().splitlines()]
	rip = next((line.split('RIP: ', 1)[1] for line in lines if 'RIP: ' in line), '')
	return lines[0] + (f' (RIP {rip})' if rip else '')


def run_tree(spec: str, timeout: int, filter_glob: Optional[str] = None,
	     accel: str = 'tcg', variant: Optional[str] = None) -> TreeRun:
	"""Prepare, apply, build, boot and record one tree (and variant)."""
	t = prepare(spec)
	applied = apply_suite(t, variant)
	vname = applied.variant.name if applied.variant else variants.SHIPPED
	name = os.path.basename(t.path)
	build_dir = os.path.join(cache_dir(), 'build', name)
	out_dir = os.path.join(cache_dir(), 'results', name, vname)
	print(f'[thp-ds] {t.meta["origin"]} {t.meta["version"]} (kernel '
	      f'{tree.kernel_version(t.path)}, port {applied.port}, {vname}) at {t.path}',
	      flush=True)
	res = kunit_run.run(t.path, build_dir, out_dir, cache_dir(), timeout=timeout,
			    filter_glob=filter_glob, accel=accel)
	record = {
		'tree': os.path.realpath(spec) if is_path(spec) else spec,
		'origin': t.meta['origin'], 'version': t.meta['version'],
		'kernel': tree.kernel_version(t.path), 'port': applied.port, 'variant': vname,
		'suite_revision': suite_revision(),
		'expect_fail': sorted(applied.variant.expect_fail) if applied.variant else [],
		'config_sha256': res.config_sha256, 'accel': accel,
		'date': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
		'seconds': round(res.seconds, 1), 'kunit_returncode': res.returncode,
		'cases': {c.name: c.status for c in res.cases},
		'oops': oops_summary(res.oops_path),
		'log': res.log_path,
	}
	with open(os.path.join(out_dir, 'result.json'), 'w') as f:
		json.dump(record, f, indent=1)
	return TreeRun(record, res, applied)
