"""Tests for thpds.debian_source: apt configuration parsing and version choice."""

import contextlib
import hashlib
import io
import os
import subprocess
import tempfile
import unittest
from unittest import mock

from thpds import debian_source as ds

DEB822 = """Types: deb
# a comment
URIs: http://archive.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://archive.example/debian-security
Suites: bookworm-security
Components: main

Types: deb-src
URIs: http://archive.example/debian
Suites: bookworm

Types: deb
URIs: https://vendor.example/apt
Suites: nodistro
Components: main
"""


class ParseTest(unittest.TestCase):
	def test_deb822_keeps_debian_deb_stanzas(self):
		sources = [s for s in ds.parse_deb822(DEB822) if ds.is_debian_archive(s)]
		self.assertEqual([(s.uri, s.suites, s.kind) for s in sources], [
			('http://archive.example/debian', ('bookworm', 'bookworm-updates'), 'archive'),
			('http://archive.example/debian-security', ('bookworm-security',), 'security'),
		])
		self.assertEqual(sources[0].signed_by,
				 '/usr/share/keyrings/debian-archive-keyring.gpg')

	def test_one_line_format(self):
		text = ('deb [arch=amd64 signed-by=/k.gpg] http://a.example/debian bullseye main\n'
			'# deb http://b.example/debian sid main\n'
			'deb-src http://a.example/debian bullseye main\n')
		sources = ds.parse_one_line(text)
		self.assertEqual(len(sources), 1)
		self.assertEqual(sources[0].uri, 'http://a.example/debian')
		self.assertEqual(sources[0].signed_by, '/k.gpg')

	def test_private_list_adds_suites_on_same_archives(self):
		sources = [s for s in ds.parse_deb822(DEB822) if ds.is_debian_archive(s)]
		text = ds.private_source_list(sources)
		self.assertIn('URIs: http://archive.example/debian\n', text)
		self.assertIn('Suites: bookworm bookworm-updates bullseye bookworm-backports trixie '
			      'trixie-backports forky sid experimental\n', text)
		self.assertIn('Suites: bookworm-security bullseye-security trixie-security\n', text)
		self.assertNotIn('vendor.example', text)

	def test_no_debian_archive_is_an_error(self):
		with self.assertRaises(ds.FetchError):
			ds.private_source_list([])

	def test_configured_sources_reads_files(self):
		with tempfile.TemporaryDirectory() as d:
			with open(os.path.join(d, 'debian.sources'), 'w') as f:
				f.write(DEB822)
			got = ds.configured_sources(d, os.path.join(d, 'missing.list'))
		self.assertEqual(len(got), 2)

	def test_upstream_version(self):
		self.assertEqual(ds.upstream_version('6.12.117-1~deb12u1'), '6.12.117')
		self.assertEqual(ds.upstream_version('1:7.2.13-1'), '7.2.13')


# What the Release files said on 2026-12-04 (Suite: of each codename).
CLASSES = {'bullseye': 'oldoldstable', 'bullseye-security': 'oldoldstable-security',
	   'bookworm': 'oldstable', 'bookworm-security': 'oldstable-security',
	   'bookworm-backports': 'oldstable-backports', 'trixie': 'stable',
	   'trixie-security': 'stable-security', 'trixie-backports': 'stable-backports',
	   'forky': 'testing', 'sid': 'unstable', 'experimental': 'experimental'}


class FakeApt:
	def __init__(self, offers):
		self.offers = offers

	def versions(self, package):
		return self.offers.get(package, [])

	def suite_classes(self):
		return CLASSES


class ResolveTest(unittest.TestCase):
	def setUp(self):
		configured = [ds.AptSource('http://a/debian', ('bookworm',), None),
			      ds.AptSource('http://a/debian-security', ('bookworm-security',), None)]
		patcher = mock.patch.object(ds, 'configured_sources', return_value=configured)
		patcher.start()
		self.addCleanup(patcher.stop)

	def test_configured_suite_wins_over_newer_elsewhere(self):
		apt = FakeApt({'linux-source-6.12': [('6.12.118-1', 'trixie-security'),
						     ('6.12.117-1~deb12u1', 'bookworm-security')]})
		self.assertEqual(ds.resolve(apt, '6.12'),
				 ('linux-source-6.12', '6.12.117-1~deb12u1', 'bookworm-security'))

	def test_extra_suite_when_not_configured(self):
		apt = FakeApt({'linux-source-7.2': [('7.2.13-1', 'sid')]})
		self.assertEqual(ds.resolve(apt, '7.2'), ('linux-source-7.2', '7.2.13-1', 'sid'))

	def test_releases_then_backports_then_sid_then_experimental(self):
		# what the archive served on 2026-12-04
		apt = FakeApt({'linux-source-7.2': [('7.2.13-1', 'sid'), ('7.2.12-1', 'forky'),
						    ('7.2.12-1~bpo13+1', 'trixie-backports'),
						    ('7.2.11-1~bpo13+1', 'trixie-backports')],
			       'linux-source-7.3': [('7.3.4-1~bpo13+1', 'trixie-backports'),
						    ('7.3~rc7-1~exp1', 'experimental')],
			       'linux-source-9.9': [('9.9~rc1-1~exp1', 'experimental')]})
		self.assertEqual(ds.resolve(apt, '7.2'),
				 ('linux-source-7.2', '7.2.12-1~bpo13+1', 'trixie-backports'))
		self.assertEqual(ds.resolve(apt, '7.3'),
				 ('linux-source-7.3', '7.3.4-1~bpo13+1', 'trixie-backports'))
		self.assertEqual(ds.resolve(apt, '9.9'),
				 ('linux-source-9.9', '9.9~rc1-1~exp1', 'experimental'))
		self.assertEqual([(o.suite, o.tier_name) for o in ds.offers(apt, '7.2')],
				 [('trixie-backports', 'backports'), ('trixie-backports', 'backports'),
				  ('sid', 'development'), ('forky', 'development')])

	def test_a_pinned_version_is_exactly_that_one(self):
		apt = FakeApt({'linux-source-6.1': [('6.1.192-3', 'bookworm-security'),
						    ('6.1.170-3', 'bookworm')]})
		self.assertEqual(ds.resolve(apt, '6.1', '6.1.170-3'),
				 ('linux-source-6.1', '6.1.170-3', 'bookworm'))

	def test_a_pinned_version_no_longer_offered_says_what_is(self):
		apt = FakeApt({'linux-source-6.1': [('6.1.192-3', 'bookworm-security'),
						    ('6.1.170-3', 'bookworm')]})
		with self.assertRaises(ds.NotOffered) as cm:
			ds.resolve(apt, '6.1', '6.1.192-2')
		self.assertIn('linux-source-6.1 6.1.192-2 is not offered by the archive (any more). '
			      'Offered now: 6.1.192-3 (bookworm-security), 6.1.170-3 (bookworm)',
			      str(cm.exception))

	def test_release_files_name_each_suites_class(self):
		with tempfile.TemporaryDirectory() as d:
			for codename, cls in (('trixie-backports', 'stable-backports'),
					      ('sid', 'unstable')):
				with open(os.path.join(d, f'deb.example_debian_dists_{codename}_InRelease'),
					  'w') as f:
					f.write(f'-----BEGIN PGP SIGNED MESSAGE-----\nOrigin: Debian\n'
						f'Suite: {cls}\nCodename: {codename}\n')
			self.assertEqual(ds.release_suites(d), {'trixie-backports': 'stable-backports',
								'sid': 'unstable'})

	def test_lists_without_any_kernel_are_an_archive_failure(self):
		with mock.patch.object(ds, 'available_series', return_value=[]):
			with self.assertRaises(ds.FetchError) as cm:
				ds.resolve(FakeApt({}), '6.12')
		self.assertNotIsInstance(cm.exception, ds.NotOffered)

	def test_missing_series_says_what_is_offered(self):
		apt = FakeApt({})
		with mock.patch.object(ds, 'available_series', return_value=['6.1', '6.12']):
			with self.assertRaises(ds.NotOffered) as cm:
				ds.resolve(apt, '4.19')
		self.assertIn('linux-source-4.19 is not offered', str(cm.exception))
		self.assertIn('Offered now: 6.1, 6.12', str(cm.exception))


UNREACHABLE = ('Err:1 http://deb.example/debian bookworm InRelease\n'
	       "  Could not resolve 'deb.example'\n", "W: Failed to fetch "
	       "http://deb.example/debian/dists/bookworm/InRelease  Could not resolve "
	       "'deb.example'\nW: Some index files failed to download. They have been "
	       'ignored, or old ones used instead.\n')


class UpdateTest(unittest.TestCase):
	"""The private lists: refreshed at most hourly, on --refresh, or when the
	machine's apt configuration changed; an unreachable archive is an error."""

	def setUp(self):
		self.tmp = tempfile.TemporaryDirectory()
		self.addCleanup(self.tmp.cleanup)
		self.sources = [ds.AptSource('http://deb.example/debian', ('bookworm',), None)]
		patches = [mock.patch.object(ds, 'configured_sources', lambda: self.sources),
			   mock.patch.object(ds.subprocess, 'run', self.fake_run),
			   mock.patch.object(ds, '_refresh_requested', False)]
		for p in patches:
			p.start()
			self.addCleanup(p.stop)
		self.apt = ds.PrivateApt(self.tmp.name)
		self.updates = self.queries = 0
		self.result = (0, 'Hit:1 http://deb.example/debian bookworm InRelease\n', '')

	def fake_run(self, argv, **kw):
		if argv[0] == 'apt-cache':
			self.queries += 1
			return subprocess.CompletedProcess(argv, 0, MADISON, '')
		self.assertIn('update', argv)
		self.updates += 1
		rc, out, err = self.result
		if out.startswith('Hit'):
			lists = os.path.join(self.apt.dir, 'lists')
			with open(os.path.join(lists, 'deb.example_dists_bookworm_main_Packages'), 'w'):
				pass
		return subprocess.CompletedProcess(argv, rc, out, err)

	def test_at_most_once_an_hour(self):
		now = 1_000_000.0
		with mock.patch.object(ds.time, 'time', lambda: now):
			self.assertTrue(self.apt.update())
			self.assertFalse(self.apt.update())
			now += ds.REFRESH_SECONDS - 1
			self.assertFalse(self.apt.update())
			now += 2
			self.assertTrue(self.apt.update())
		self.assertEqual(self.updates, 2)

	def test_refresh_forces_one_update(self):
		self.apt.update()
		ds.request_refresh()
		self.assertTrue(self.apt.update())
		self.assertFalse(self.apt.update())
		self.assertEqual(self.updates, 2)

	def test_a_changed_apt_configuration_refreshes(self):
		self.apt.update()
		self.sources = self.sources + [ds.AptSource('http://other.example/debian',
							     ('trixie',), None)]
		self.assertTrue(self.apt.update())
		self.assertEqual(self.updates, 2)

	def test_missing_lists_or_a_half_written_stamp_refresh(self):
		self.apt.update()
		with open(self.apt.stamp_file, 'w') as f:
			f.write('{"time": 12')
		self.assertTrue(self.apt.update())
		for name in os.listdir(os.path.join(self.apt.dir, 'lists')):
			if name.endswith('Packages'):
				os.unlink(os.path.join(self.apt.dir, 'lists', name))
		self.assertTrue(self.apt.update())
		self.assertEqual(self.updates, 3)

	def test_a_suite_the_archive_dropped_is_passed_over(self):
		# bullseye-backports has no Release file any more: apt-get exits 100
		self.result = (100, 'Hit:1 http://deb.example/debian bookworm InRelease\n'
			       'Ign:2 http://deb.example/debian bullseye-backports InRelease\n'
			       'Err:3 http://deb.example/debian bullseye-backports Release\n'
			       '  404  Not Found [IP: 192.0.2.1 80]\n',
			       "E: The repository 'http://deb.example/debian bullseye-backports "
			       "Release' does not have a Release file.\n")
		with contextlib.redirect_stdout(io.StringIO()) as said:
			self.assertTrue(self.apt.update())
			self.assertFalse(self.apt.update())	# fresh: the stamp was written
		self.assertIn('no longer has these suites (no Release file): bullseye-backports',
			      said.getvalue())
		self.assertEqual(self.updates, 1)

	def test_a_dropped_suite_besides_an_unreachable_archive_is_still_an_error(self):
		self.result = (100, UNREACHABLE[0], UNREACHABLE[1] +
			       "E: The repository 'http://deb.example/debian bullseye-backports "
			       "Release' does not have a Release file.\n")
		with self.assertRaises(ds.FetchError):
			self.apt.update()

	def test_unreachable_archive_is_an_error_and_is_retried(self):
		self.result = (0, *UNREACHABLE)	# apt-get exits 0 when nothing could be read
		with self.assertRaises(ds.FetchError) as cm:
			self.apt.update()
		self.assertEqual(len(str(cm.exception).splitlines()), 1)
		self.assertIn("Could not resolve 'deb.example'", str(cm.exception))
		with self.assertRaises(ds.FetchError):
			self.apt.update()
		self.assertEqual(self.updates, 2)

	def test_some_suites_failing_goes_on_but_retries(self):
		out = 'Hit:1 http://deb.example/debian bookworm InRelease\n' + UNREACHABLE[0]
		self.result = (0, out, UNREACHABLE[1])
		with contextlib.redirect_stdout(io.StringIO()) as said:
			self.assertTrue(self.apt.update())
			self.assertTrue(self.apt.update())
		self.assertIn('some suites could not be read', said.getvalue())
		self.assertEqual(self.updates, 2)

	def test_apt_cache_answers_are_kept_until_the_next_refresh(self):
		self.apt.update()
		for _ in range(3):
			self.assertEqual(self.apt.versions('linux-source-6.12'),
					 [('6.12.117-1~deb12u1', 'bookworm-security')])
		self.assertEqual(self.queries, 1)
		ds.request_refresh()
		self.apt.update()
		self.apt.versions('linux-source-6.12')
		self.assertEqual(self.queries, 2)

	def test_lists_of_a_partial_refresh_are_asked_each_time(self):
		self.apt.update()
		self.apt.versions('linux-source-6.12')
		ds.request_refresh()
		self.result = (0, 'Hit:1 http://deb.example/debian bookworm InRelease\n'
			       + UNREACHABLE[0], UNREACHABLE[1])
		with contextlib.redirect_stdout(io.StringIO()):
			self.apt.update()
		self.apt.versions('linux-source-6.12')
		self.apt.versions('linux-source-6.12')
		self.assertEqual(self.queries, 3)


class DownloadTest(unittest.TestCase):
	"""A .deb is downloaded whole or not at all, kept while intact, and
	dropped when superseded."""

	def setUp(self):
		self.tmp = tempfile.TemporaryDirectory()
		self.addCleanup(self.tmp.cleanup)
		self.dest = os.path.join(self.tmp.name, 'debs')
		self.apt = ds.PrivateApt(self.tmp.name)
		self.downloads = 0
		self.failing = False
		patcher = mock.patch.object(ds.subprocess, 'run', self.fake_run)
		patcher.start()
		self.addCleanup(patcher.stop)

	@staticmethod
	def content(version):
		return f'deb of {version}'.encode()

	def fake_run(self, argv, cwd=None, **kw):
		if argv[0] == 'apt-cache':
			version = argv[-1].split('=')[1]
			sha = hashlib.sha256(self.content(version)).hexdigest()
			return subprocess.CompletedProcess(argv, 0, f'Package: x\nSHA256: {sha}\n', '')
		self.assertEqual(os.path.basename(cwd), 'partial')
		if self.failing:
			return subprocess.CompletedProcess(argv, 100, '', 'E: Failed to fetch x  '
							   'Connection timed out\n')
		self.downloads += 1
		package, version = argv[-1].split('=')
		with open(os.path.join(cwd, f'{package}_{version}_all.deb'), 'wb') as f:
			f.write(self.content(version))
		return subprocess.CompletedProcess(argv, 0, '', '')

	def download(self, version, package='linux-source-6.12'):
		return self.apt.download(package, version, self.dest)

	def test_intact_deb_is_reused_and_a_damaged_one_fetched_again(self):
		deb = self.download('6.12.117-1')
		self.assertEqual(os.path.dirname(deb), self.dest)
		self.assertFalse(os.path.exists(os.path.join(self.dest, 'partial')))
		self.assertEqual(self.download('6.12.117-1'), deb)
		self.assertEqual(self.downloads, 1)
		with open(deb, 'wb') as f:
			f.write(b'half')
		self.download('6.12.117-1')
		self.assertEqual(self.downloads, 2)
		with open(deb, 'rb') as f:
			self.assertEqual(f.read(), self.content('6.12.117-1'))

	def test_superseded_debs_are_dropped(self):
		old = self.download('6.12.117-1')
		other = self.download('7.2.13-1', package='linux-source-7.2')
		new = self.download('6.12.118-1')
		self.assertEqual(sorted(os.listdir(self.dest)), sorted(
			[os.path.basename(new), os.path.basename(other)]))
		self.assertFalse(os.path.exists(old))

	def test_an_interrupted_or_failed_download_leaves_nothing_half(self):
		old = self.download('6.12.117-1')
		os.makedirs(os.path.join(self.dest, 'partial'))
		with open(os.path.join(self.dest, 'partial', 'linux-source-6.12_6.12.118-1_all.deb'),
			  'w') as f:
			f.write('half')
		self.failing = True
		with self.assertRaises(ds.FetchError) as cm:
			self.download('6.12.118-1')
		self.assertIn('Connection timed out', str(cm.exception))
		self.assertEqual(os.listdir(self.dest), [os.path.basename(old)])
		self.assertTrue(os.path.exists(old))
		self.failing = False
		self.download('6.12.118-1')
		self.assertEqual(os.listdir(self.dest), ['linux-source-6.12_6.12.118-1_all.deb'])


MADISON = ('linux-source-6.12 | 6.12.117-1~deb12u1 | http://deb.example/debian-security '
	   'bookworm-security/main amd64 Packages\n')


def make_deb(root, package='linux-source-6.12', version='6.12.117-1'):
	"""A minimal linux-source .deb holding usr/src/<package>.tar.xz."""
	pkg = os.path.join(root, 'pkg')
	os.makedirs(os.path.join(pkg, 'DEBIAN'))
	os.makedirs(os.path.join(pkg, 'usr/src'))
	with open(os.path.join(pkg, 'DEBIAN/control'), 'w') as f:
		f.write(f'Package: {package}\nVersion: {version}\nArchitecture: all\n'
			'Maintainer: t <t@example>\nDescription: t\n')
	with open(os.path.join(pkg, f'usr/src/{package}.tar.xz'), 'wb') as f:
		f.write(b'not really xz')
	deb = os.path.join(root, f'{package}_{version}_all.deb')
	subprocess.run(['dpkg-deb', '-Zgzip', '--build', pkg, deb], check=True,
		       capture_output=True)
	return deb


class UnpackTest(unittest.TestCase):
	def test_unpack_starts_from_an_empty_directory(self):
		with tempfile.TemporaryDirectory() as d:
			deb = make_deb(d)
			dest = os.path.join(d, 'unpack')
			os.makedirs(os.path.join(dest, 'usr/src'))
			with open(os.path.join(dest, 'usr/src/half-of-an-old.tar.xz'), 'w') as f:
				f.write('interrupted')
			tarball = ds.unpack(deb, dest)
			self.assertEqual(os.listdir(os.path.join(dest, 'usr/src')),
					 ['linux-source-6.12.tar.xz'])
			with open(tarball, 'rb') as f:
				self.assertEqual(f.read(), b'not really xz')


if __name__ == '__main__':
	unittest.main()
