"""Fetch a Debian linux-source-X.Y package without touching the system's apt setup.

The archive addresses are read from this machine's own apt configuration
(deb822 .sources files and one-line .list files); no host name is written
anywhere in the project.  Suites the machine does not list (an older stable's
security suite, sid) are added on the same archive addresses, in a private
source list with private state and cache directories, so the system's
package lists are never changed.
"""

import dataclasses
import glob
import hashlib
import os
import re
import shutil
import subprocess
import time
from typing import Dict, Iterable, List, Optional, Tuple

from thpds import atomic
from thpds.errors import InfraError, UsageError

APT_SOURCE_DIR = '/etc/apt/sources.list.d'
APT_SOURCE_LIST = '/etc/apt/sources.list'

# Suites searched for linux-source-* packages, on the archive that carries
# each kind of suite.  Which of them still carries which kernel is resolved
# at run time; nothing here pins a kernel version.  A suite the archive has
# dropped (bullseye-backports has no Release file any more) is passed over
# (PrivateApt.update()); a new mainline series appears in backports and
# experimental first.
EXTRA_SUITES = {
	'archive': ('bullseye', 'bookworm', 'bookworm-backports', 'trixie',
		    'trixie-backports', 'forky', 'sid', 'experimental'),
	'security': ('bullseye-security', 'bookworm-security',
		     'trixie-security'),
}

# How --tree <series> chooses among the suites that carry it, best first:
# the suites this machine's apt is configured for, then Debian's releases
# and their security and updates suites, then backports, then the
# development suites, then experimental.  A suite's class is read from its
# Release file ('Suite: stable-backports'), not guessed from its codename.
TIER_NAMES = ('configured', 'release', 'backports', 'development', 'experimental')


# The private package lists are refreshed at most this often (seconds):
# 'apt-get update' costs seconds on every run, and the archive's linux-source
# packages change every few weeks.  --refresh forces it (request_refresh()).
REFRESH_SECONDS = 3600

_refresh_requested = False


def request_refresh() -> None:
	"""The next PrivateApt.update() refreshes, however fresh the lists are."""
	global _refresh_requested
	_refresh_requested = True


class FetchError(InfraError):
	"""The archive could not be reached or read (network, apt, a bad package)."""


class NotOffered(UsageError):
	"""The requested series is not (or no longer) offered by the archive."""


@dataclasses.dataclass(frozen=True)
class AptSource:
	uri: str
	suites: Tuple[str, ...]
	signed_by: Optional[str]

	@property
	def kind(self) -> str:
		if any(s.endswith('-security') for s in self.suites):
			return 'security'
		return 'archive'


def parse_deb822(text: str) -> List[AptSource]:
	"""Parse the stanzas of a deb822 .sources file (Types: deb only)."""
	sources = []
	for stanza in re.split(r'\n\s*\n', text):
		fields: Dict[str, str] = {}
		for line in stanza.splitlines():
			if not line.strip() or line.lstrip().startswith('#'):
				continue
			if line[0].isspace() and fields:
				continue  # continuation of a multi-line field
			key, _, value = line.partition(':')
			fields[key.strip().lower()] = value.strip()
		if 'deb' not in fields.get('types', '').split():
			continue
		if fields.get('enabled', 'yes').lower() == 'no':
			continue
		for uri in fields.get('uris', '').split():
			sources.append(AptSource(uri, tuple(fields.get('suites', '').split()),
						 fields.get('signed-by')))
	return sources


def parse_one_line(text: str) -> List[AptSource]:
	"""Parse a one-line-style sources.list ('deb [opts] URI suite comp...')."""
	sources = []
	for line in text.splitlines():
		line = line.split('#', 1)[0].strip()
		m = re.match(r'deb\s+(?:\[(?P<opts>[^\]]*)\]\s+)?(?P<uri>\S+)\s+(?P<suite>\S+)', line)
		if not m:
			continue
		signed_by = None
		for opt in (m.group('opts') or '').split():
			if opt.startswith('signed-by='):
				signed_by = opt.split('=', 1)[1]
		sources.append(AptSource(m.group('uri'), (m.group('suite'),), signed_by))
	return sources


def is_debian_archive(source: AptSource) -> bool:
	"""True for sources whose suites are Debian release suites."""
	known = set(EXTRA_SUITES['archive']) | set(EXTRA_SUITES['security'])
	names = {s.split('-')[0] for s in source.suites}
	return bool(names & {k.split('-')[0] for k in known})


def configured_sources(source_dir: str = APT_SOURCE_DIR,
		       source_list: str = APT_SOURCE_LIST) -> List[AptSource]:
	sources = []
	for path in sorted(glob.glob(os.path.join(source_dir, '*.sources'))):
		with open(path) as f:
			sources += parse_deb822(f.read())
	paths = sorted(glob.glob(os.path.join(source_dir, '*.list')))
	if os.path.exists(source_list):
		paths.insert(0, source_list)
	for path in paths:
		with open(path) as f:
			sources += parse_one_line(f.read())
	return [s for s in sources if is_debian_archive(s)]


def private_source_list(sources: Iterable[AptSource]) -> str:
	"""deb822 text: the machine's Debian archives with every suite we search."""
	stanzas = []
	seen = set()
	for src in sources:
		if (src.uri, src.kind) in seen:
			continue
		seen.add((src.uri, src.kind))
		suites = list(src.suites) + [s for s in EXTRA_SUITES[src.kind]
					     if s not in src.suites]
		lines = ['Types: deb', f'URIs: {src.uri}',
			 'Suites: ' + ' '.join(suites),
			 'Components: main', 'Architectures: amd64']
		if src.signed_by:
			lines.append(f'Signed-By: {src.signed_by}')
		stanzas.append('\n'.join(lines))
	if not stanzas:
		raise FetchError('no Debian archive found in the apt configuration under '
				 f'{APT_SOURCE_DIR}')
	return '\n\n'.join(stanzas) + '\n'


class PrivateApt:
	"""apt-get / apt-cache confined to a private list under cache_dir."""

	def __init__(self, cache_dir: str) -> None:
		self.dir = os.path.join(cache_dir, 'apt')
		self.list_file = os.path.join(self.dir, 'sources.sources')
		# When the lists were last refreshed in full, from which source list.
		self.stamp_file = os.path.join(self.dir, 'updated.json')
		# apt-cache's answers from the lists of that refresh.
		self.answers_file = os.path.join(self.dir, 'answers.json')

	def _opts(self) -> List[str]:
		# No binary caches (pkgcache.bin, srcpkgcache.bin): over 200 MB for
		# these suites, to save the second or so that the few questions
		# asked after each refresh take (their answers are kept: query()).
		return ['-o', f'Dir::Etc::SourceList={self.list_file}',
			'-o', 'Dir::Etc::SourceParts=/dev/null',
			'-o', f'Dir::State::Lists={self.dir}/lists',
			'-o', f'Dir::Cache={self.dir}/cache',
			'-o', 'Dir::Cache::pkgcache=', '-o', 'Dir::Cache::srcpkgcache=',
			'-o', 'APT::Sandbox::User=root']

	def query(self, *args: str) -> str:
		"""apt-cache's output for args, kept until the lists are next refreshed.

		Without binary caches every apt-cache reads all the lists (over a
		second); the lists change only on a refresh, so neither do the
		answers.  Lists not refreshed in full are never answered from here.
		"""
		stamp = atomic.read_json(self.stamp_file)
		when = stamp.get('time') if isinstance(stamp, dict) else None
		kept = atomic.read_json(self.answers_file)
		if not isinstance(kept, dict) or kept.get('lists') != when:
			kept = {'lists': when, 'answers': {}}
		key = ' '.join(args)
		if when is not None and key in kept['answers']:
			return kept['answers'][key]
		proc = subprocess.run(['apt-cache', *self._opts(), *args], capture_output=True,
				      text=True)
		if proc.returncode == 0 and when is not None:
			kept['answers'][key] = proc.stdout
			atomic.write_json(self.answers_file, kept)
		return proc.stdout

	def update(self) -> bool:
		"""Refresh the private package lists if they are due; True if refreshed.

		Due: never refreshed in full, older than REFRESH_SECONDS, made from
		another source list than this machine's apt configuration gives
		now, or --refresh.  Raises FetchError when the archive cannot be
		read at all; when only some suites failed, the lists of the others
		are fresh and apt keeps the old ones of those, so the run goes on
		and the next one tries again.
		"""
		global _refresh_requested
		text = private_source_list(configured_sources())
		if not _refresh_requested and self.lists_age(text) is not None:
			return False
		for sub in ('lists/partial', 'cache/archives/partial'):
			os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
		atomic.write_text(self.list_file, text)
		# The lists are about to change: until a refresh completes in full,
		# neither they nor apt-cache's answers from them count as fresh.
		if os.path.exists(self.stamp_file):
			os.unlink(self.stamp_file)
		proc = subprocess.run(['apt-get', *self._opts(), '-q', 'update'],
				      capture_output=True, text=True)
		# A suite the archive no longer has (no Release file) is not a
		# failure to read the archive: it is passed over, and named.
		gone = _suites_without_release(proc.stderr)
		# apt-get exits 0 when no index could be fetched ('W: Failed to
		# fetch'); stderr says why, stdout's 'Err:' lines only which.
		failed = [line.strip() for line in proc.stderr.splitlines()
			  if line.startswith(('E:', 'W: Failed to fetch'))
			  and 'does not have a Release file' not in line]
		failed += [line.strip() for line in proc.stdout.splitlines() if line.startswith('Err:')
			   and not any(line.rstrip().endswith(f' {s} Release') for s in gone)]
		reached = any(line.startswith(('Hit:', 'Get:')) for line in proc.stdout.splitlines())
		errors = [line for line in failed if line.startswith('E:')]
		if (proc.returncode != 0 and (errors or not gone)) or (failed and not reached):
			why = _apt_reason(failed or proc.stderr.strip().splitlines() or
					  [f'exit status {proc.returncode}'])
			raise FetchError(f'apt-get update (private list) failed: {why}')
		_refresh_requested = False
		if gone:
			print('[thp-ds] the archive no longer has these suites (no Release file): '
			      + ', '.join(gone), flush=True)
		if failed:
			print(f'[thp-ds] apt-get update: some suites could not be read '
			      f'({_apt_reason(failed)}); using their previous lists', flush=True)
			return True
		atomic.write_json(self.stamp_file, {'time': time.time(), 'sources': _sha256(text)})
		return True

	def lists_age(self, text: Optional[str] = None) -> Optional[float]:
		"""Seconds since the lists were refreshed in full, when that is recent
		enough to use them (None: due for a refresh).  text: the source list
		they must have been made from (default: the current one)."""
		if text is None:
			text = private_source_list(configured_sources())
		stamp = atomic.read_json(self.stamp_file)
		if not isinstance(stamp, dict) or stamp.get('sources') != _sha256(text):
			return None
		if not glob.glob(os.path.join(self.dir, 'lists', '*_Packages*')):
			return None
		age = time.time() - float(stamp.get('time', 0))
		return age if 0 <= age < REFRESH_SECONDS else None

	def versions(self, package: str) -> List[Tuple[str, str]]:
		"""(version, suite) pairs of package on offer, newest first."""
		found = []
		for line in self.query('madison', package).splitlines():
			parts = [p.strip() for p in line.split('|')]
			if len(parts) < 3 or parts[0] != package:
				continue
			suite = parts[2].split()[1].split('/')[0] if len(parts[2].split()) > 1 else ''
			found.append((parts[1], suite))
		return sorted(found, key=lambda vs: _DebVersionKey(vs[0]), reverse=True)

	def suite_classes(self) -> Dict[str, str]:
		return release_suites(os.path.join(self.dir, 'lists'))

	def download(self, package: str, version: str, dest: str, keep_others: bool = False) -> str:
		"""package=version's .deb in dest: the one there if it is intact,
		else downloaded.  Other versions of package in dest go (superseded),
		unless @keep_others (dest holds pinned versions, kept until pruned).

		apt-get download writes into a directory of its own (dest/partial)
		and the .deb is moved into dest once complete, so dest never holds
		half a download.
		"""
		os.makedirs(dest, exist_ok=True)
		have = _debs(dest, package, version)
		expected = self._sha256(package, version)
		if have and expected and _file_sha256(have[0]) == expected:
			deb = have[0]
		else:
			deb = self._fetch(package, version, dest)
		for old in [] if keep_others else _debs(dest, package):
			if old != deb:
				os.unlink(old)
		return deb

	def _fetch(self, package: str, version: str, dest: str) -> str:
		partial = os.path.join(dest, 'partial')
		shutil.rmtree(partial, ignore_errors=True)
		os.makedirs(partial)
		proc = subprocess.run(['apt-get', *self._opts(), '-q', 'download',
				       f'{package}={version}'], cwd=partial,
				      capture_output=True, text=True)
		if proc.returncode != 0:
			shutil.rmtree(partial, ignore_errors=True)
			why = _apt_reason(proc.stderr.strip().splitlines()
					  or [f'exit status {proc.returncode}'])
			raise FetchError(f'apt-get download {package}={version} failed: {why}')
		got = _debs(partial, package, version)
		if not got:
			raise FetchError(f'{package}={version} downloaded, but no .deb in {partial}')
		deb = os.path.join(dest, os.path.basename(got[0]))
		os.replace(got[0], deb)
		shutil.rmtree(partial, ignore_errors=True)
		return deb

	def _sha256(self, package: str, version: str) -> Optional[str]:
		"""The archive's SHA256 of package=version's .deb (None if unknown)."""
		m = re.search(r'^SHA256: *(\S+)', self.query('show', f'{package}={version}'), re.M)
		return m.group(1) if m else None


def _suites_without_release(stderr: str) -> List[str]:
	"""The suites apt-get update found gone: 'E: The repository '<uri>
	<suite> Release' does not have a Release file.'"""
	return re.findall(r"^E: The repository '\S+ (\S+) Release' does not have a Release file",
			  stderr, re.M)


def _sha256(text: str) -> str:
	return hashlib.sha256(text.encode()).hexdigest()


def _apt_reason(lines: List[str]) -> str:
	"""apt's first complaint, short enough for one line."""
	line = re.sub(r'^(?:E:|W:|Err:\d+)\s*', '', lines[0].strip())
	line = re.sub(r'\s+', ' ', line)
	return line if len(line) <= 160 else line[:157] + '...'


def _debs(directory: str, package: str, version: Optional[str] = None) -> List[str]:
	"""package's .debs in directory (of version, when given)."""
	return sorted(os.path.join(directory, f) for f in os.listdir(directory)
		      if f.startswith(package + '_') and f.endswith('.deb')
		      and (version is None or _deb_version(f) == version))


def _file_sha256(path: str) -> str:
	h = hashlib.sha256()
	with open(path, 'rb') as f:
		for chunk in iter(lambda: f.read(1 << 20), b''):
			h.update(chunk)
	return h.hexdigest()


def _deb_version(filename: str) -> str:
	# apt-get download escapes ':' in epochs as %3a
	return filename.split('_')[1].replace('%3a', ':')


class _DebVersionKey:
	"""Order Debian versions with dpkg itself (no reimplementation)."""

	def __init__(self, version: str) -> None:
		self.version = version

	def __lt__(self, other: '_DebVersionKey') -> bool:
		return subprocess.run(['dpkg', '--compare-versions', self.version, 'lt',
				       other.version]).returncode == 0


def upstream_version(deb_version: str) -> str:
	"""'6.12.117-1~deb12u1' -> '6.12.117'."""
	return deb_version.split(':')[-1].split('-')[0]


def release_suites(lists_dir: str) -> Dict[str, str]:
	"""Codename -> the class its Release file gives ('bookworm' ->
	'oldstable', 'trixie-backports' -> 'stable-backports', 'sid' ->
	'unstable'), from the Release files of the private package lists."""
	found: Dict[str, str] = {}
	for path in glob.glob(os.path.join(lists_dir, '*_dists_*Release')):
		name = re.search(r'_dists_(.+?)_(?:In)?Release$', os.path.basename(path))
		if not name:
			continue
		with open(path, errors='replace') as f:
			head = f.read(4096)
		m = re.search(r'^Suite: *(\S+)', head, re.M)
		if m:
			found[name.group(1).replace('_', '/')] = m.group(1)
	return found


def tier(suite: str, configured: Iterable[str], classes: Dict[str, str]) -> int:
	"""Where @suite stands in TIER_NAMES (0 is best) for --tree <series>."""
	if suite in configured:
		return 0
	# the Release file's class where the lists have it, else the codename
	kind = classes.get(suite, suite)
	if kind == 'experimental':
		return 4
	if kind.endswith('-backports'):
		return 2
	if kind in ('testing', 'unstable', 'sid') or kind.startswith('testing-'):
		return 3
	return 1


@dataclasses.dataclass(frozen=True)
class Offer:
	"""One version of a linux-source package on offer, and where from."""
	series: str
	version: str
	suite: str
	tier: int

	@property
	def tier_name(self) -> str:
		return TIER_NAMES[self.tier]


def offers(apt: 'PrivateApt', series: str) -> List[Offer]:
	"""Every version of linux-source-<series> on offer, best first: by tier,
	then newest first."""
	configured = {s for src in configured_sources() for s in src.suites}
	classes = apt.suite_classes()
	found = [Offer(series, v, s, tier(s, configured, classes))
		 for v, s in apt.versions(f'linux-source-{series}')]
	# versions() is newest first; a stable sort keeps that within a tier
	return sorted(found, key=lambda o: o.tier)


def resolve(apt: PrivateApt, series: str, pinned: Optional[str] = None) -> Tuple[str, str, str]:
	"""The package version of linux-source-<series> to test.

	Without @pinned: the best suite that carries the series (TIER_NAMES:
	the machine's own configured suites, then releases and their security
	suites, then backports, then sid and testing, then experimental), and
	within it the newest version.  With @pinned: exactly that version, if
	any suite still offers it.  Returns (package, version, suite); raises
	NotOffered naming what is on offer when the series or version is not
	(or no longer) packaged, FetchError when the lists offer no kernel at
	all (the archive could not be read).
	"""
	package = f'linux-source-{series}'
	found = offers(apt, series)
	if pinned and found:
		match = [o for o in found if o.version == pinned]
		if match:
			return (package, pinned, match[0].suite)
		raise NotOffered(f'{package} {pinned} is not offered by the archive (any more). '
				 'Offered now: ' + ', '.join(f'{o.version} ({o.suite})' for o in
							     sorted(found, key=lambda o: _DebVersionKey(o.version),
								    reverse=True)))
	if found:
		return (package, found[0].version, found[0].suite)
	offered = available_series(apt)
	if not offered:
		# No kernel at all: the lists are missing or empty, not the series.
		raise FetchError(f'cannot resolve {package}: the private package lists hold no '
				 'linux-source package (the archive was never read in full)')
	raise NotOffered(f'{package} is not offered by the archive (searched suites: '
			 + ', '.join(EXTRA_SUITES['archive'] + EXTRA_SUITES['security'])
			 + '). Offered now: ' + ', '.join(offered))


def available_series(apt: PrivateApt) -> List[str]:
	names = [n[len('linux-source-'):] for n in apt.query('pkgnames', 'linux-source-').split()
		 if re.fullmatch(r'linux-source-\d+\.\d+', n)]
	return sorted(names, key=lambda v: tuple(int(x) for x in v.split('.')))


def unpack(deb: str, dest_dir: str) -> str:
	"""Extract usr/src/linux-source-*.tar.xz from the .deb; return the tarball path.

	dest_dir is emptied first: an interrupted unpack leaves half a tarball.
	"""
	shutil.rmtree(dest_dir, ignore_errors=True)
	os.makedirs(dest_dir)
	listing = subprocess.run(['dpkg-deb', '-c', deb], capture_output=True, text=True,
				 check=True).stdout
	member = next((line.split()[-1] for line in listing.splitlines()
		       if re.search(r'usr/src/linux-source-[\d.]+\.tar\.xz$', line)), None)
	if member is None:
		raise FetchError(f'{deb} holds no usr/src/linux-source-*.tar.xz')
	with subprocess.Popen(['dpkg-deb', '--fsys-tarfile', deb], stdout=subprocess.PIPE) as fsys:
		subprocess.run(['tar', '-x', '-C', dest_dir, member], stdin=fsys.stdout, check=True)
	if fsys.returncode != 0:
		raise FetchError(f'dpkg-deb --fsys-tarfile {deb} failed (exit status {fsys.returncode})')
	return os.path.join(dest_dir, member)
