"""Unpatched variants: patches that put a historical bug back into a tree.

Each lives at ports/<port>/unpatched/<name>.patch, a git format-patch whose
message says which upstream fix it undoes and why it is faithful, and
declares with 'Expect-Fail: <suite.case[.param]>' lines exactly which cases
must fail on it, and with 'May-Crash: <suite.case>' which of those may end
in a guest oops instead (a race that corrupts a list can crash the kernel
before the case reports).  'May-Fail: <suite.case>' names a timing-dependent
case (the race) that the variant's bug breaks only when the race lands: it
may pass or fail, never crash; the deterministic cases are never May-Fail.
'May-Fail-On: <target> <suite.case>' says of a declared race case that on
that target it may also pass (arm64-16k and arm64-64k: the race frees one
32 MB or 512 MB THP at a time, which the shrinker may split off the queue
before its free); if it is May-Crash, it may still crash there.
'Profile: live' says that the variant's path is reached only in a run of
that profile (the cgroup-v1 swap-out needs the live profile's swap area):
the variant runs only there.  'Target: x86_64-numa' likewise confines a
variant to the target whose runs reach its path (a lookup by the
freeing CPU's node differs from the folio's only on two nodes).
'Unreached-With: <boot option>' says that a
kernel booted with that option never takes the variant's path (without
the memory controller there is no memcg to clear before the unqueue): a
run with it must pass like the tree as shipped.  'Expect-Fail-With:
<boot option> <suite.case>' lines replace the Expect-Fail lines for a
kernel booted with that option, where the bug shows in other cases (with
cgroup.memory=nokmem 7.2's queue is per node, and only the kernel's own
warning of an unqueue after the uncharge, once per boot, is left).  With
any other boot option the declaration holds, except that a declared
failure may skip where ports/boot-options allows it.  The reason goes in
the message.
verdict.judge() holds a run to that declaration:
a case that stops failing (the bug is no longer caught) and a case that
starts failing (the suite no longer localises the bug) both fail the run.
"""

import dataclasses
import os
import re
from typing import Dict, Optional, Tuple

from thpds import suite

SHIPPED = 'shipped'
# As shipped plus the port's stable backports (ports/<X.Y>/backports/): the
# tree a distribution would ship once it took them.  Unpatched variants are
# applied on top of it, so that each breaks exactly its own path.
BACKPORTED = 'backported'
# The suite whose case is timing-dependent (the only one May-Fail may name).
RACE_SUITE = 'thp_deferred_split_race'
# What 'Profile:' may name: the profiles whose runs reach a path the
# default run cannot ('' is any profile).
PROFILES = ('', 'live')
# What 'Target:' may name: the targets whose runs reach a path no other
# target's can ('' is any target).
TARGETS = ('', 'x86_64-numa')


@dataclasses.dataclass(frozen=True)
class Variant:
	name: str
	port: str
	patch: str
	title: str
	expect_fail: frozenset
	may_crash: frozenset = frozenset()
	may_fail: frozenset = frozenset()
	# target name -> declared race cases that may pass there
	may_fail_on: Tuple[Tuple[str, frozenset], ...] = ()
	# the variant's other forms, for trees where its path moved (for_port)
	forms: Tuple[str, ...] = ()
	# the only build profile whose runs reach its path ('' for any)
	profile: str = ''
	# boot options under which the kernel never takes its path
	unreached_with: frozenset = frozenset()
	# boot option -> the cases that fail instead of expect_fail when booted with it
	fail_with: Tuple[Tuple[str, frozenset], ...] = ()
	# the only target whose runs reach its path ('' for any)
	target: str = ''

	@property
	def patches(self) -> Tuple[str, ...]:
		"""Every form of the variant, the first to try first."""
		return (self.patch,) + self.forms

	def confined_to(self, profile: str, target: str) -> bool:
		"""Whether the variant is confined to a profile or a target, and a run
		of @profile ('default' for none) on @target is where it runs."""
		return bool(self.profile or self.target) and \
			(self.profile or 'default') == profile and self.target in ('', target)

	def booted(self, boot) -> Optional[frozenset]:
		"""The cases that must fail when the kernel boots with the options
		@boot, where the variant declares them for one of the options
		(empty: Unreached-With); None where it declares nothing for them."""
		if self.unreached_with & set(boot):
			return frozenset()
		found = [cases for option, cases in self.fail_with if option in boot]
		return frozenset().union(*found) if found else None

	def on(self, target: str) -> Tuple[frozenset, frozenset]:
		"""(expect_fail, may_fail) on @target ('x86_64', 'arm64-64k')."""
		moved = dict(self.may_fail_on).get(target, frozenset())
		return self.expect_fail - moved, self.may_fail | moved


def parse(path: str, port: str) -> Variant:
	with open(path) as f:
		text = f.read()
	head = text.split('\n---\n', 1)[0]
	m = re.search(r'^Subject: (?:\[PATCH[^\]]*\] )?(.*(?:\n [^\n]*)*)', head, re.M)
	title = ' '.join(m.group(1).split()) if m else os.path.basename(path)
	def declared(key: str) -> frozenset:
		return frozenset(line.split(':', 1)[1].strip() for line in head.splitlines()
				 if line.startswith(key + ':'))

	expect, crash = declared('Expect-Fail'), declared('May-Crash')
	may_fail = declared('May-Fail')
	per_target: Dict[str, set] = {}
	for entry in declared('May-Fail-On'):
		where, _, case = entry.partition(' ')
		per_target.setdefault(where, set()).add(case.strip())
	name = os.path.basename(path)[:-len('.patch')]
	profile = ' '.join(sorted(declared('Profile')))
	if profile not in PROFILES:
		raise suite.SuiteError(f'{path}: Profile: {profile}: a variant may name one of: '
				       + ', '.join(p for p in PROFILES if p))
	if not expect:
		raise suite.SuiteError(f'{path}: declares no Expect-Fail case')
	confined = ' '.join(sorted(declared('Target')))
	if confined not in TARGETS:
		raise suite.SuiteError(f'{path}: Target: {confined}: a variant may name one of: '
				       + ', '.join(t for t in TARGETS if t))
	unreached = declared('Unreached-With')
	fail_with: Dict[str, set] = {}
	for entry in declared('Expect-Fail-With'):
		option, _, case = entry.partition(' ')
		fail_with.setdefault(option, set()).add(case.strip())
	for option in sorted(unreached | set(fail_with)):
		if not suite.BOOT_OPTION.match(option):
			raise suite.SuiteError(f'{path}: Unreached-With/Expect-Fail-With: {option!r} is '
					       'not a boot option (one word, name or name=value)')
	if unreached & set(fail_with):
		raise suite.SuiteError(f'{path}: both Unreached-With and Expect-Fail-With for '
				       + ', '.join(sorted(unreached & set(fail_with))))
	if not crash <= expect:
		raise suite.SuiteError(f'{path}: May-Crash names cases it does not declare to fail: '
				       + ', '.join(sorted(crash - expect)))
	if may_fail & expect:
		raise suite.SuiteError(f'{path}: May-Fail names cases it declares to fail: '
				       + ', '.join(sorted(may_fail & expect)))
	for where, names in per_target.items():
		if not names <= expect or any(not n.startswith(RACE_SUITE + '.') for n in names):
			raise suite.SuiteError(f'{path}: May-Fail-On {where} may name only race cases '
					       'it declares to fail: ' + ', '.join(sorted(names)))
	return Variant(name, port, path, title, expect, crash, may_fail,
		       tuple(sorted((w, frozenset(n)) for w, n in per_target.items())),
		       profile=profile, unreached_with=unreached, target=confined,
		       fail_with=tuple(sorted((o, frozenset(c)) for o, c in fail_with.items())))


def for_port(port: str, repo: str = suite.REPO) -> Dict[str, Variant]:
	"""The port's variants by name.  A variant whose path moved between the
	trees a port fits has more than one form: <name>.patch, and
	<name>.<form>.patch for each other shape of the code (put.folio-c.patch:
	7.3 moved folios_put_refs() from mm/swap.c to mm/folio.c).  Every form
	declares the same cases; the first form that applies to a tree is used
	(Variant.forms)."""
	d = os.path.join(repo, 'ports', port, 'unpatched')
	if not os.path.isdir(d):
		return {}
	names = sorted(p for p in os.listdir(d) if p.endswith('.patch'))
	found: Dict[str, Variant] = {}
	for p in names:
		name, _, form = p[:-len('.patch')].partition('.')
		if form:
			continue
		v = parse(os.path.join(d, p), port)
		others = [os.path.join(d, q) for q in names if q != p and q.startswith(name + '.')]
		for other in others:
			o = parse(other, port)
			if (o.expect_fail, o.may_crash, o.may_fail, o.may_fail_on, o.profile,
			    o.unreached_with, o.target, o.fail_with) != \
			   (v.expect_fail, v.may_crash, v.may_fail, v.may_fail_on, v.profile,
			    v.unreached_with, v.target, v.fail_with):
				raise suite.SuiteError(f'{other}: declares other cases than {p}: every '
						       'form of a variant must declare the same')
		found[name] = dataclasses.replace(v, forms=tuple(others))
	for p in names:
		name = p[:-len('.patch')].partition('.')[0]
		if name not in found:
			raise suite.SuiteError(f'{os.path.join(d, p)}: a form of variant {name}, '
					       f'which has no {name}.patch')
	return found


def known_names(repo: str = suite.REPO) -> Dict[str, list]:
	"""Every variant name of every port -> the ports that have it: a name
	no port has is refused before any tree is fetched."""
	found: Dict[str, list] = {}
	for port in suite.ports(repo):
		for name in for_port(port, repo):
			found.setdefault(name, []).append(port)
	return found


def _confined(name: str, field: str, repo: str) -> frozenset:
	"""What a variant of that name is confined to in any port (its @field:
	'profile' or 'target'); empty where it is confined to nothing."""
	return frozenset(getattr(v, field) for port in suite.ports(repo)
			 for n, v in for_port(port, repo).items() if n == name and getattr(v, field))


def profiles_of(name: str, repo: str = suite.REPO) -> frozenset:
	"""The profiles a variant of that name is confined to, in any port ('Profile:');
	empty where it runs in every profile."""
	return _confined(name, 'profile', repo)


def targets_of(name: str, repo: str = suite.REPO) -> frozenset:
	"""The targets a variant of that name is confined to, in any port ('Target:');
	empty where it runs on every target."""
	return _confined(name, 'target', repo)
