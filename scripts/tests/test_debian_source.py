"""Tests for thpds.debian_source: apt configuration parsing and version choice."""

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
		self.assertIn('Suites: bookworm bookworm-updates bullseye trixie sid\n', text)
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


class FakeApt:
	def __init__(self, offers):
		self.offers = offers

	def versions(self, package):
		return self.offers.get(package, [])


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

	def test_missing_series_says_what_is_offered(self):
		apt = FakeApt({})
		with mock.patch.object(ds, 'available_series', return_value=['6.1', '6.12']):
			with self.assertRaises(ds.NotOffered) as cm:
				ds.resolve(apt, '4.19')
		self.assertIn('linux-source-4.19 is not offered', str(cm.exception))
		self.assertIn('Offered now: 6.1, 6.12', str(cm.exception))


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
