"""thp-ds: fetch a kernel tree, apply the deferred-split suite, build, boot, report."""

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from typing import List, Optional

from thpds import debian_source, kunit_run, suite, tree

DEFAULT_TREE = '6.12'
# Debian packages the runner needs on the host: kernel build, QEMU (and its
# qboot.rom, which kunit.py's x86_64 config asks for), ccache, git.
HOST_PACKAGES = ('qemu-system-x86', 'qemu-system-data', 'gcc', 'make', 'flex', 'bison', 'bc',
		 'libelf-dev', 'libssl-dev', 'ccache', 'cpio', 'rsync', 'xz-utils', 'git',
		 'python3')
# What shows each package is there.
HOST_FILES = {'qemu-system-x86': '/usr/bin/qemu-system-x86_64',
	      'qemu-system-data': '/usr/share/qemu/qboot.rom',
	      'gcc': '/usr/bin/gcc', 'make': '/usr/bin/make', 'flex': '/usr/bin/flex',
	      'bison': '/usr/bin/bison', 'bc': '/usr/bin/bc',
	      'libelf-dev': '/usr/include/libelf.h', 'libssl-dev': '/usr/include/openssl/ssl.h',
	      'ccache': '/usr/bin/ccache', 'cpio': '/usr/bin/cpio', 'rsync': '/usr/bin/rsync',
	      'xz-utils': '/usr/bin/xz', 'git': '/usr/bin/git', 'python3': '/usr/bin/python3'}


class UsageError(Exception):
	"""Bad input: reported in one line, nothing changed."""


def cache_dir() -> str:
	return os.environ.get('THP_DS_CACHE', os.path.expanduser('~/.cache/thp-ds'))


def missing_host_packages() -> List[str]:
	return [pkg for pkg in HOST_PACKAGES if not os.path.exists(HOST_FILES[pkg])]


def ensure_host(install: bool) -> None:
	missing = missing_host_packages()
	if not missing:
		return
	if not install:
		raise UsageError('missing host packages: ' + ' '.join(missing) +
				 ' (apt-get install them, or run with --install-deps as root)')
	if os.geteuid() != 0:
		raise UsageError('missing host packages: ' + ' '.join(missing) +
				 ' (run as root to install them, or apt-get install them)')
	print('[thp-ds] installing ' + ' '.join(missing), flush=True)
	env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
	subprocess.run(['apt-get', 'update', '-q'], check=True, stdout=subprocess.DEVNULL, env=env)
	subprocess.run(['apt-get', 'install', '-y', '-q', '--no-install-recommends', *missing],
		       check=True, stdout=subprocess.DEVNULL, env=env)


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


def apply_suite(t: tree.Tree) -> str:
	version = tree.kernel_version(t.path)
	port = suite.port_for(version)
	files = suite.suite_files(lambda rel: tree.show(t.path, t.meta['base'], rel), port)
	commit = t.commit_on_base(files, suite.port_patches(port),
				  f'thp-ds: apply the deferred-split suite (port {port})')
	t.checkout(commit)
	return port


def run_tree(spec: str, timeout: int, filter_glob: Optional[str] = None, accel: str = 'tcg'):
	"""Prepare, apply, build, boot, and record one tree; returns (record, result)."""
	t = prepare_user(spec) if is_path(spec) else prepare_debian(spec)
	port = apply_suite(t)
	name = os.path.basename(t.path)
	build_dir = os.path.join(cache_dir(), 'build', name)
	out_dir = os.path.join(cache_dir(), 'results', name)
	print(f'[thp-ds] {t.meta["origin"]} {t.meta["version"]} (kernel '
	      f'{tree.kernel_version(t.path)}, port {port}) at {t.path}', flush=True)
	res = kunit_run.run(t.path, build_dir, out_dir, cache_dir(), timeout=timeout,
			    filter_glob=filter_glob, accel=accel)
	record = {
		'tree': os.path.realpath(spec) if is_path(spec) else spec,
		'origin': t.meta['origin'], 'version': t.meta['version'],
		'kernel': tree.kernel_version(t.path), 'port': port, 'variant': 'as shipped',
		'config_sha256': res.config_sha256, 'accel': accel,
		'date': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
		'seconds': round(res.seconds, 1), 'kunit_returncode': res.returncode,
		'cases': {c.name: c.status for c in res.cases},
	}
	with open(os.path.join(out_dir, 'result.json'), 'w') as f:
		json.dump(record, f, indent=1)
	return record, res


def check_arch(arch: str) -> None:
	if arch != 'x86_64':
		raise UsageError(f'--arch {arch}: the suite needs transparent huge pages, which '
				 'UML (arch/um) cannot build (it does not select '
				 'HAVE_ARCH_TRANSPARENT_HUGEPAGE); only x86_64 under QEMU is supported')


def cmd_run(args: argparse.Namespace) -> int:
	check_arch(args.arch)
	ensure_host(args.install_deps)
	record, res = run_tree(args.tree, args.timeout, args.filter, args.accel)
	return report(record, res)


def unit_tests() -> 'unittest.TestResult':
	"""The tooling's own unit tests (scripts/tests), run in this process."""
	import unittest
	scripts = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
	tests = unittest.defaultTestLoader.discover(os.path.join(scripts, 'tests'),
						    top_level_dir=scripts)
	return unittest.TextTestRunner(stream=sys.stdout, verbosity=1).run(tests)


def cmd_check(args: argparse.Namespace) -> int:
	"""The project's tests: tooling unit tests, then the suite on each tree."""
	ensure_host(args.install_deps)
	result = unit_tests()
	failed = len(result.failures) + len(result.errors)
	skipped = len(result.skipped)
	passed = result.testsRun - failed - skipped
	lines = [f'tooling unit tests: {passed} passed, {failed} failed, {skipped} skipped']
	for spec in args.trees:
		try:
			record, res = run_tree(spec, args.timeout)
		except (UsageError, suite.SuiteError, tree.TreeError,
			debian_source.FetchError) as e:
			print(f'thp-ds: {spec}: {e}', file=sys.stderr)
			failed += 1
			lines.append(f'{spec}: could not be prepared: {e}')
			continue
		report(record, res)
		counts = {'PASS': 0, 'SKIP': 0, 'FAIL': 0}
		for c in res.cases:
			counts[c.status if c.status in counts else 'FAIL'] += 1
		passed += counts['PASS']
		skipped += counts['SKIP']
		failed += counts['FAIL']
		broken = res.returncode != 0 and counts['FAIL'] == 0 or not res.cases
		if broken:
			failed += 1
		lines.append(f'{spec} ({record["origin"]} {record["version"]}): {counts["PASS"]} passed, '
			     f'{counts["FAIL"]} failed, {counts["SKIP"]} skipped'
			     + (' + the run itself failed (build error, crash or timeout)' if broken else '')
			     + f', {record["seconds"]} s')
	print('\n[thp-ds] summary')
	for line in lines:
		print('[thp-ds]   ' + line)
	print(f'{passed} passed, {failed} failed' + (f', {skipped} skipped' if skipped else ''))
	return 1 if failed else 0


def report(record: dict, res: kunit_run.RunResult) -> int:
	counts = res.counts
	suite_cases = [c for c in res.cases if c.name.startswith(kunit_run.SUITE + '.')]
	bad = [c for c in res.cases if c.status not in ('PASS', 'SKIP')]
	print(f'[thp-ds] {record["origin"]} {record["version"]}: '
	      + ', '.join(f'{n} {s}' for s, n in sorted(counts.items()))
	      + f' ({len(suite_cases)} suite cases, {record["seconds"]} s, log {res.log_path})')
	for c in bad:
		print(f'[thp-ds]   {c.status}: {c.name}')
	if res.returncode != 0 and not bad:
		print(f'[thp-ds] kunit.py exited {res.returncode} without a failing case: '
		      'build error, crash or timeout; see the log')
	if not suite_cases:
		print('[thp-ds] no case of the suite ran')
		return 1
	return 0 if res.returncode == 0 and not bad else 1


def cmd_fetch(args: argparse.Namespace) -> int:
	t = prepare_user(args.tree) if is_path(args.tree) else prepare_debian(args.tree)
	print(f'{t.meta["origin"]} {t.meta["version"]} at {t.path}')
	return 0


def cmd_list(args: argparse.Namespace) -> int:
	apt = debian_source.PrivateApt(cache_dir())
	apt.update()
	for series in debian_source.available_series(apt):
		package, version, suite_name = debian_source.resolve(apt, series)
		print(f'{series}\t{version}\t{suite_name}')
	return 0


def parser() -> argparse.ArgumentParser:
	p = argparse.ArgumentParser(prog='thp-ds', description=__doc__)
	sub = p.add_subparsers(dest='command', required=True)

	r = sub.add_parser('run', help='apply the suite to a tree, build, boot in QEMU, report')
	r.add_argument('--tree', default=DEFAULT_TREE,
		       help='Debian kernel series (6.12, 7.2, ...) or a path to your own kernel '
		       'tree (copied, never modified); default %(default)s')
	r.add_argument('--arch', default='x86_64', help='only x86_64 (QEMU) is supported')
	r.add_argument('--filter', help='kunit.py filter glob, e.g. "thp_deferred_split.*migrate*"')
	r.add_argument('--timeout', type=int, default=300,
		       help='seconds the guest may run before it is stopped (default %(default)s)')
	r.add_argument('--accel', choices=('tcg', 'auto'), default='tcg',
		       help="tcg (default): QEMU's emulator only, the same on every host; auto: "
		       "whatever kunit.py asks for (newer ones try KVM first)")
	r.add_argument('--install-deps', action='store_true',
		       help='apt-get install missing host packages (needs root)')
	r.set_defaults(func=cmd_run)

	c = sub.add_parser('check', help="the project's tests: tooling unit tests, then the "
			   'suite on each tree; ends with "N passed, N failed"')
	c.add_argument('--trees', nargs='+', default=['6.12', '7.2'],
		       help='trees to run the suite on (default: %(default)s)')
	c.add_argument('--timeout', type=int, default=300)
	c.add_argument('--install-deps', action='store_true',
		       help='apt-get install missing host packages (needs root)')
	c.set_defaults(func=cmd_check)

	f = sub.add_parser('fetch', help='fetch and prepare a tree without building it')
	f.add_argument('--tree', default=DEFAULT_TREE)
	f.set_defaults(func=cmd_fetch)

	ls = sub.add_parser('list', help='kernel series the Debian archive offers now')
	ls.set_defaults(func=cmd_list)
	return p


def main(argv: Optional[List[str]] = None) -> int:
	args = parser().parse_args(argv)
	try:
		return args.func(args)
	except (UsageError, suite.SuiteError, tree.TreeError, debian_source.FetchError) as e:
		print(f'thp-ds: {e}', file=sys.stderr)
		return 2
