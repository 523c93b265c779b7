"""Tests for thpds.fit: a tree gets the port its sources show, whatever its
version says, and a tree no port fits is refused with the reason.

The trees are excerpts of real Debian trees (data/fit/*.json): the lines
every port's assumptions read, as the trees have them."""

import os
import tempfile
import unittest

from thpds import fit, suite
from tests.test_tree import fit_excerpt


def reader(files):
	return lambda path: files.get(path)


class FitTest(unittest.TestCase):
	def test_each_debian_tree_fits_exactly_its_port(self):
		for name, port in (('debian-5.10.262', '5.10'), ('debian-6.1.192-3', '6.1'),
				   ('debian-6.12.118', '6.12'), ('debian-7.2.13', '7.2'),
				   ('debian-7.3.4', '7.2')):
			files = fit_excerpt(name)
			fitting = [p for p in suite.ports() if fit.check(reader(files), p).ok]
			self.assertEqual(fitting, [port], name)
			self.assertEqual(fit.choose(reader(files), name), port)

	def refusal(self, files):
		with self.assertRaises(fit.NoPortFits) as cm:
			fit.choose(reader(files), 'the tree')
		return str(cm.exception)

	def test_a_renamed_list_lru_is_refused_naming_port_7_2(self):
		files = fit_excerpt('debian-7.2.13')
		files['mm/huge_memory.c'] = files['mm/huge_memory.c'].replace(
			'deferred_split_lru', 'thp_split_lru')
		why = self.refusal(files)
		self.assertIn('the nearest is port 7.2 (12 of its 13 assumptions hold)', why)
		self.assertIn('the first that fails: mm/huge_memory.c has /^(?:static )?struct '
			      'list_lru deferred_split_lru;/', why)

	def test_a_queue_reparented_at_offline_fits_no_port(self):
		# v6.19-v7.1: struct deferred_split, reparented at memcg offline
		files = fit_excerpt('debian-6.12.118')
		files['mm/huge_memory.c'] += ('void reparent_deferred_split_queue(struct mem_cgroup '
					      '*memcg)\n')
		why = self.refusal(files)
		self.assertIn('the nearest is port 6.12', why)
		self.assertIn('mm/huge_memory.c lacks /reparent_deferred_split_queue/', why)

	def test_a_one_argument_enqueue_fits_no_port(self):
		# 6.6.y: deferred_split_folio(folio), before partially_mapped
		files = fit_excerpt('debian-6.12.118')
		files['include/linux/huge_mm.h'] = files['include/linux/huge_mm.h'].replace(
			'void deferred_split_folio(struct folio *folio, bool partially_mapped);',
			'void deferred_split_folio(struct folio *folio);')
		why = self.refusal(files)
		self.assertIn('the nearest is port 6.12', why)
		self.assertIn('deferred_split_folio', why)

	def test_a_missing_file_has_nothing(self):
		files = fit_excerpt('debian-6.12.118')
		del files['include/kunit/visibility.h']
		self.assertIn('include/kunit/visibility.h has /VISIBLE_IF_KUNIT/', self.refusal(files))

	def test_the_suite_applied_still_fits(self):
		# a tree that carries the suite has the exposures applied
		files = fit_excerpt('debian-6.12.118')
		files['mm/vmscan.c'] = files['mm/vmscan.c'].replace(
			'static unsigned int move_folios_to_lru', 'VISIBLE_IF_KUNIT unsigned int '
			'move_folios_to_lru')
		self.assertEqual(fit.choose(reader(files), 'x'), '6.12')

	def test_directory_reader_reads_a_tree_on_disk(self):
		with tempfile.TemporaryDirectory() as d:
			for rel, text in fit_excerpt('debian-7.3.4').items():
				os.makedirs(os.path.dirname(os.path.join(d, rel)), exist_ok=True)
				with open(os.path.join(d, rel), 'w') as f:
					f.write(text)
			self.assertEqual(fit.choose(fit.directory_reader(d), d), '7.2')


class AssumesFileTest(unittest.TestCase):
	def write(self, text):
		tmp = tempfile.TemporaryDirectory()
		self.addCleanup(tmp.cleanup)
		os.makedirs(os.path.join(tmp.name, 'ports', '9.9'))
		with open(os.path.join(tmp.name, 'ports', '9.9', 'assumes'), 'w') as f:
			f.write(text)
		return tmp.name

	def test_every_port_has_one(self):
		for port in suite.ports():
			self.assertTrue(fit.assumptions(port), port)

	def test_a_bad_line_is_refused(self):
		repo = self.write('mm/x.c contains /y/: z\n')
		with self.assertRaises(suite.SuiteError):
			fit.assumptions('9.9', repo)

	def test_a_bad_regex_is_refused(self):
		repo = self.write('mm/x.c has /(unclosed/: z\n')
		with self.assertRaises(suite.SuiteError):
			fit.assumptions('9.9', repo)

	def test_a_port_without_one_is_refused(self):
		repo = self.write('# nothing\n')
		with self.assertRaises(suite.SuiteError):
			fit.assumptions('9.9', repo)


if __name__ == '__main__':
	unittest.main()
