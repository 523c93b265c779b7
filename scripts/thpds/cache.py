"""What the cache holds, and removing parts of it ('thp-ds cache').

Layout of <cache> (THP_DS_CACHE, default ~/.cache/thp-ds):

  trees/<name>            tool-owned kernel trees (git repositories)
  trees/user-*.staging    copies of users' trees, kept so that the next copy
                          transfers only what changed
  trees/debian-*.staging  unpacked tarballs: only left by an interrupted run
  unpack/                 tarballs taken out of .debs: likewise
  build/<name>[-profile]  kunit.py's build directories
  debs/                   downloaded linux-source .debs
  apt/                    the private package lists
  ccache/                 the compiler cache
  results/                what each run recorded
  lock                    held by the running thp-ds (lock.py)
"""

import argparse
import dataclasses
import os
import re
import shutil
import stat
from typing import Iterable, List, Optional, Set, Tuple

from thpds import atomic, lock, runner
from thpds.errors import UsageError

KNOWN = ('trees', 'build', 'debs', 'unpack', 'apt', 'ccache', 'results')


@dataclasses.dataclass
class Part:
	label: str
	paths: List[str]
	size: int
	note: str = ''


def disk_usage(path: str, seen: Optional[Set[Tuple[int, int]]] = None) -> int:
	"""Bytes path takes on disk (du: allocated blocks, hard links once)."""
	seen = set() if seen is None else seen
	try:
		st = os.lstat(path)
	except OSError:
		return 0
	if (st.st_dev, st.st_ino) in seen:
		return 0
	seen.add((st.st_dev, st.st_ino))
	total = st.st_blocks * 512
	if stat.S_ISDIR(st.st_mode):
		try:
			names = os.listdir(path)
		except OSError:
			return total
		for name in names:
			total += disk_usage(os.path.join(path, name), seen)
	return total


def human(size: int) -> str:
	value = float(size)
	for unit in ('B', 'KiB', 'MiB', 'GiB'):
		if value < 1024 or unit == 'GiB':
			return f'{value:.0f} {unit}' if unit == 'B' else f'{value:.1f} {unit}'
		value /= 1024
	return f'{value:.1f} TiB'


def _listdir(path: str) -> List[str]:
	try:
		return sorted(os.listdir(path))
	except OSError:
		return []


def _tree_note(path: str) -> str:
	meta = atomic.read_json(os.path.join(path, '.git', 'thp-ds.json'))
	if not isinstance(meta, dict) or not meta.get('base'):
		return 'not prepared (an interrupted run; the next one redoes it)'
	pack = disk_usage(os.path.join(path, '.git', 'objects'))
	prepared = meta.get('prepared', '').replace('T', ' ').replace('Z', ' UTC')
	return (f'{meta.get("origin")} {meta.get("version")}'
		+ (f', prepared {prepared}' if prepared else '') + f'; git objects {human(pack)}')


def parts(root: str) -> List[Part]:
	"""Everything under root, in the groups 'thp-ds cache' reports."""
	found: List[Part] = []
	leftovers: List[str] = []
	trees = os.path.join(root, 'trees')
	for name in _listdir(trees):
		path = os.path.join(trees, name)
		if name.endswith('.staging'):
			if name.startswith('user-'):
				found.append(Part(f'trees/{name}', [path], disk_usage(path),
						  'copy of your tree, so the next copy moves only changes'))
			else:
				leftovers.append(path)
			continue
		found.append(Part(f'trees/{name}', [path], disk_usage(path), _tree_note(path)))
	for name in _listdir(os.path.join(root, 'build')):
		path = os.path.join(root, 'build', name)
		found.append(Part(f'build/{name}', [path], disk_usage(path)))
	debs = os.path.join(root, 'debs')
	files = [os.path.join(debs, f) for f in _listdir(debs) if f.endswith('.deb')]
	found.append(Part('debs', files, sum(disk_usage(f) for f in files),
			  f'{len(files)} .deb' + ('' if len(files) == 1 else 's')))
	# pinned versions (--tree 6.1=6.1.170-3): kept until pruned
	pinned = os.path.join(debs, 'pinned')
	files = [os.path.join(pinned, f) for f in _listdir(pinned) if f.endswith('.deb')]
	if files:
		found.append(Part('debs/pinned', files, sum(disk_usage(f) for f in files),
				  f'{len(files)} pinned .deb' + ('' if len(files) == 1 else 's')))
	leftovers += [os.path.join(pinned, 'partial')] if os.path.isdir(
		os.path.join(pinned, 'partial')) else []
	leftovers += [os.path.join(root, 'unpack', n) for n in _listdir(os.path.join(root, 'unpack'))]
	leftovers += [os.path.join(debs, 'partial')] if os.path.isdir(os.path.join(debs, 'partial')) \
		else []
	found.append(Part('unpack/staging leftovers', leftovers,
			  sum(disk_usage(p) for p in leftovers),
			  'left by interrupted runs' if leftovers else ''))
	for label, name in (('apt lists', 'apt'), ('ccache', 'ccache'), ('results', 'results')):
		path = os.path.join(root, name)
		found.append(Part(label, [path], disk_usage(path)))
	others = [os.path.join(root, n) for n in _listdir(root) if n not in KNOWN]
	found.append(Part('other', others, sum(disk_usage(p) for p in others),
			  ', '.join(os.path.basename(p) for p in others)))
	return found


def report(root: str) -> str:
	if not os.path.isdir(root):
		return f'cache {root}: empty (nothing fetched yet)'
	who = lock.holder(root)
	lines = [f'cache {root} ({"in use by " + who if who else "not in use"})']
	found = parts(root)
	width = max(len(p.label) for p in found)
	for p in found:
		lines.append(f'  {p.label:<{width}}  {human(p.size):>9}' + (f'  {p.note}' if p.note else ''))
	lines.append(f'  {"total":<{width}}  {human(sum(p.size for p in found)):>9}')
	usage = shutil.disk_usage(root)
	lines.append(f'  {"free disk":<{width}}  {human(usage.free):>9}  of {human(usage.total)}')
	lines.append('remove parts with: thp-ds cache --prune TREE... | --prune-builds | --prune-debs')
	return '\n'.join(lines)


def prunes(args: argparse.Namespace) -> bool:
	return bool(args.prune or args.prune_builds or args.prune_debs)


def tree_name(root: str, spec: str) -> str:
	"""A tree's directory name from what a user may type: the name as
	listed (with or without trees/), a Debian series, or their tree's path."""
	name = spec[len('trees/'):] if spec.startswith('trees/') else spec
	debian = runner.DEBIAN_SPEC.fullmatch(name)
	if debian:
		name = runner.debian_tree_name(*debian.groups())
	elif runner.is_path(spec) and os.path.isdir(spec):
		name = runner.user_tree_name(os.path.realpath(spec))
	have = [n for n in _listdir(os.path.join(root, 'trees')) if not n.endswith('.staging')]
	if not re.fullmatch(r'[A-Za-z0-9._-]+', name) or name in ('.', '..') or name not in have:
		raise UsageError(f'--prune {spec}: no such tree in {root}/trees (there are: '
				 + (', '.join(have) or 'none') + ')')
	return name


def prune(root: str, trees: Iterable[str] = (), builds: bool = False,
	  debs: bool = False) -> List[Tuple[str, int]]:
	"""Remove parts of the cache; return (path, bytes freed) for each.

	A tree goes with its staging copy and its build directories (a build
	of a tree fetched again rebuilds anyway).  The caller holds the lock.
	"""
	names = [tree_name(root, t) for t in trees]	# all checked before anything goes
	doomed: List[str] = []
	for name in names:
		doomed += [os.path.join(root, 'trees', name), os.path.join(root, 'trees', name + '.staging')]
		doomed += [os.path.join(root, 'build', b) for b in _listdir(os.path.join(root, 'build'))
			   if b == name or b.startswith(name + '-')]
	if builds:
		doomed += [os.path.join(root, 'build', b) for b in _listdir(os.path.join(root, 'build'))]
	if debs:
		for p in parts(root):
			if p.label in ('debs', 'debs/pinned', 'unpack/staging leftovers'):
				doomed += p.paths
	removed = []
	for path in dict.fromkeys(doomed):
		if not os.path.lexists(path):
			continue
		size = disk_usage(path)
		if os.path.isdir(path) and not os.path.islink(path):
			shutil.rmtree(path)
		else:
			os.unlink(path)
		removed.append((path, size))
	return removed
