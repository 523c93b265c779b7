"""Tests for thpds.series: the series' messages, MAINTAINERS entry and identity."""

import os
import tempfile
import re
import unittest
from unittest import mock

from thpds import series, suite
from thpds.errors import UsageError

MAINTAINERS = '''MEMORY MANAGEMENT - CORE
M:	Andrew Morton <akpm@linux-foundation.org>
L:	linux-mm@kvack.org
S:	Maintained
F:	mm/memory.c

MEMORY MANAGEMENT - THP (TRANSPARENT HUGE PAGE)
M:	Andrew Morton <akpm@linux-foundation.org>
S:	Maintained
F:	include/linux/huge_mm.h
F:	mm/huge_memory.c
F:	mm/khugepaged.c
F:	tools/testing/selftests/mm/khugepaged.c

MEMORY MAPPING
F:	mm/mmap.c

CONTROL GROUP (CGROUP)
M:	Tejun Heo <tj@kernel.org>
L:	cgroups@vger.kernel.org
F:	include/linux/cgroup*
F:	kernel/cgroup/
F:	tools/testing/selftests/cgroup/
'''


class MaintainersTest(unittest.TestCase):
	def test_the_entry_goes_sorted_into_the_thp_section(self):
		lines = series.insert_maintainers(MAINTAINERS).splitlines()
		at = lines.index('F:\tmm/tests/thp_deferred_split*')
		self.assertEqual(lines[at - 1], 'F:\tmm/khugepaged.c')
		self.assertEqual(lines[at + 1], 'F:\ttools/testing/selftests/mm/khugepaged.c')
		# the cgroup helpers go to the cgroup maintainers too
		at = lines.index('F:\tmm/tests/thp_deferred_split_cgroup.*')
		self.assertEqual(lines[at - 1], 'F:\tkernel/cgroup/')
		self.assertEqual(lines[at + 1], 'F:\ttools/testing/selftests/cgroup/')

	def test_without_a_thp_section_memory_management_takes_it(self):
		text = MAINTAINERS.replace('MEMORY MANAGEMENT - THP (TRANSPARENT HUGE PAGE)',
					   'SOMETHING ELSE').replace('MEMORY MANAGEMENT - CORE',
								     'MEMORY MANAGEMENT')
		lines = series.insert_maintainers(text).splitlines()
		self.assertEqual(lines[lines.index('F:\tmm/memory.c') + 1],
				 'F:\tmm/tests/thp_deferred_split*')

	def test_twice_is_refused(self):
		with self.assertRaises(suite.SuiteError):
			series.insert_maintainers(series.insert_maintainers(MAINTAINERS))


class MessageTest(unittest.TestCase):
	def test_patch_message_of_a_port_patch(self):
		path = sorted(suite.port_patches('7.2'))[1]
		subject, body = series.patch_message(path)
		self.assertEqual(subject, 'mm/huge_memory: let KUnit tests reach the deferred split '
				 'list_lru')
		self.assertNotIn('---', body)
		self.assertIn('Make deferred_split_lru visible when KUnit is enabled', body)

	def test_in_repo_patches_have_an_author_who_signed_them_off(self):
		for port in suite.ports():
			for path in suite.port_patches(port) + suite.port_backports(port):
				with open(path) as f:
					text = f.read()
				author = re.search(r'^From: (.+)$', text, re.M).group(1)
				self.assertNotIn('localhost', author, path)
				self.assertIn(f'Signed-off-by: {author}', series.patch_message(path)[1],
					      path)

	def test_signoff_is_added_once(self):
		who = series.Identity('A U Thor', 'a@example.org')
		msg = series.Step('subject', 'body').message(who)
		self.assertEqual(msg, 'subject\n\nbody\n\nSigned-off-by: A U Thor <a@example.org>\n')
		again = series.Step('subject', msg.split('\n\n', 1)[1]).message(who)
		self.assertEqual(again.count('Signed-off-by:'), 1)

	def test_fixes_are_read_from_the_suite_comments(self):
		source = '/*\n * as commit f8f931bba0f9 ("mm/thp: fix deferred split unqueue\n' \
			 ' * naming and locking") did.\n */\n'
		self.assertEqual(series.guarded_fixes(source), [
			('f8f931bba0f9', 'mm/thp: fix deferred split unqueue naming and locking')])

	def steps(self, port):
		return series.upstream_steps(lambda rel: MAINTAINERS if rel == 'MAINTAINERS' else
					     'source "mm/damon/Kconfig"\nendmenu\n', port)

	def test_each_suite_message_cites_its_fixes_in_upstream_form(self):
		steps = self.steps('7.2')[len(suite.port_patches('7.2')):]
		free = next(s for s in steps if 'free paths' in s.subject)
		self.assertIn('commit f8f931bba0f9 ("mm/thp: fix deferred split unqueue naming and '
			      'locking")', ' '.join(free.body.replace('\n  ', ' ').split('\n')))
		for step in steps:
			self.assertNotIn('{fixes}', step.body)
			self.assertNotIn('Cover:', step.body)
			self.assertTrue(step.cover)
			self.assertNotIn('Fixes:', step.body)
			self.assertTrue(all(len(line) <= 75 for line in step.body.splitlines()),
					step.body)
		self.assertIn('MAINTAINERS', steps[0].files)
		self.assertTrue(all('MAINTAINERS' not in s.files for s in steps[1:]))

	def test_the_series_adds_the_suite_a_part_at_a_time(self):
		steps = self.steps('7.2')[len(suite.port_patches('7.2')):]
		self.assertEqual(steps[0].subject, 'mm/tests: add test-only helpers for memory cgroups')
		# the cgroup helpers come alone, with their VFS and nothing of the queue
		first = {rel for rel in steps[0].files if rel.startswith('mm/tests/')}
		self.assertEqual(first, {'mm/tests/thp_deferred_split_cgroup.c',
					 'mm/tests/thp_deferred_split_cgroup.h',
					 'mm/tests/thp_deferred_split_vfs.h'})
		# then the checker, with its self-tests and without the fixture
		self.assertEqual(steps[1].subject, 'mm/tests: add a checker for deferred split queues')
		self.assertNotIn('mm/tests/thp_deferred_split_kunit.c', steps[1].files)
		self.assertIn(b'KUNIT_CASE(thp_ds_test_checker)',
			      steps[1].files['mm/tests/thp_deferred_split_check.c'])
		self.assertNotIn(b'/* thp_deferred_split_kunit.c',
				 steps[1].files['mm/tests/thp_deferred_split.h'])
		# the case table grows with the files
		main = steps[2].files['mm/tests/thp_deferred_split_kunit.c']
		self.assertIn(b'KUNIT_CASE(thp_ds_test_checker_leak)', main)
		self.assertNotIn(b'thp_ds_test_free_put', main)
		self.assertNotIn(b'thp_ds_race_suite', main)
		self.assertNotIn(b'/* thp_deferred_split_race.c', steps[2].files['mm/tests/thp_deferred_split.h'])
		last = steps[-1].files
		self.assertIn(b'kunit_test_suites(&thp_ds_race_suite);',
			      last['mm/tests/thp_deferred_split_race.c'])
		# the race's own option comes with the race, in Kconfig and .kunitconfig
		for step in steps[:-1]:
			self.assertNotIn(b'THP_DEFERRED_SPLIT_KUNIT_RACE', step.files['mm/Kconfig'])
			self.assertNotIn(b'THP_DEFERRED_SPLIT_KUNIT_RACE',
					 step.files.get('mm/tests/.kunitconfig', b''))
		self.assertIn(b'config THP_DEFERRED_SPLIT_KUNIT_RACE\n', last['mm/Kconfig'])
		self.assertIn(b'CONFIG_THP_DEFERRED_SPLIT_KUNIT_RACE=y', last['mm/tests/.kunitconfig'])
		# the last patch has the suite in the port's own form (flags and
		# one-line helpers resolved), every file of it
		base = {'mm/Kconfig': 'source "mm/damon/Kconfig"\nendmenu\n', 'mm/Makefile': ''}
		whole = suite.suite_files(base.__getitem__, '7.2', resolved=True)
		for rel, data in whole.items():
			if rel.startswith('mm/tests/'):
				self.assertEqual(last.get(rel), data, rel)
		self.assertNotIn(b'#if THP_DS_', b''.join(last.values()))
		self.assertNotIn(b'thp_ds_deferred_list', b''.join(last.values()))
		# a port whose tree lacks a path has no patch for it
		self.assertFalse(any('charge move' in s.subject for s in steps))
		self.assertTrue(any('charge move' in s.subject for s in self.steps('6.12')))


class SeriesSuiteTest(unittest.TestCase):
	def test_the_suite_on_the_series_boots_as_every_run_does(self):
		from thpds import kunit_run, series_check
		tree = mock.Mock(path='/t')
		with mock.patch.object(kunit_run, 'run') as run:
			series_check.run_suite(tree, '/b', '/o', '/c', 300, suite.port_thp_anon('7.2', 4))
		self.assertEqual(run.call_args.kwargs['boot'],
				 ('thp_anon=16K,64K:madvise;2048K:inherit',))


class IdentityTest(unittest.TestCase):
	def test_no_identity_is_refused_with_how_to_set_it(self):
		home = tempfile.mkdtemp()
		env = {k: v for k, v in os.environ.items() if not k.startswith('GIT_')}
		env.update(HOME=home, XDG_CONFIG_HOME=home, GIT_CONFIG_NOSYSTEM='1')
		with mock.patch.dict(os.environ, env, clear=True), \
		     mock.patch.object(series, '_user_config', return_value=''):
			with self.assertRaises(UsageError) as e:
				series.identity()
		self.assertIn('git config --global user.name', str(e.exception))

	def test_environment_identity_is_used(self):
		with mock.patch.dict(os.environ, {'GIT_AUTHOR_NAME': 'N', 'GIT_AUTHOR_EMAIL': 'e@x'}):
			self.assertEqual(series.identity().line(), 'N <e@x>')


if __name__ == '__main__':
	unittest.main()


class CheckpatchAnswerTest(unittest.TestCase):
	"""checkpatch's "does MAINTAINERS need updating?" answered from MAINTAINERS."""
	PATCH = ('diff --git a/MAINTAINERS b/MAINTAINERS\n+F:\tmm/tests/thp_deferred_split*\n'
		 'diff --git a/mm/tests/thp_deferred_split_free.c '
		 'b/mm/tests/thp_deferred_split_free.c\nnew file mode 100644\n'
		 'diff --git a/mm/tests/.kunitconfig b/mm/tests/.kunitconfig\n'
		 'new file mode 100644\n')

	def test_new_files_and_added_entries_are_read_from_the_patch(self):
		from thpds import series_check
		self.assertEqual(series_check.maintainers_globs(self.PATCH),
				 ['mm/tests/thp_deferred_split*'])
		self.assertEqual(series_check.new_files(self.PATCH),
				 ['mm/tests/thp_deferred_split_free.c', 'mm/tests/.kunitconfig'])

	def test_a_file_is_covered_by_a_glob_or_a_directory(self):
		from thpds import series_check
		globs = ['mm/tests/thp_deferred_split*', 'mm/']
		self.assertEqual(series_check.covered('mm/tests/thp_deferred_split_free.c', globs),
				 'mm/tests/thp_deferred_split*')
		self.assertEqual(series_check.covered('mm/tests/.kunitconfig', globs), 'mm/')
		self.assertIsNone(series_check.covered('kernel/x.c', globs))

	def test_the_cover_letter_says_each_patch_with_cases_passed(self):
		from thpds import patches, series_check
		found = [series_check.Finding('checkpatch', 'p1', True),
			 series_check.Finding('git am', 'the series', True),
			 series_check.Finding('build', 'p1', True),
			 series_check.Finding('suite', 'the series', True, 'PASS'),
			 series_check.Finding('suite', 'p1', True, 'PASS')]
		line = patches._checked_line(found, True, 'PASS')
		self.assertIn('the suite passes at each of the 1 earlier patches that add cases', line)
		found[-1] = series_check.Finding('suite', 'p1', False, 'FAIL')
		self.assertIn('does NOT pass at every patch', patches._checked_line(found, True, 'PASS'))


class SectionsTest(unittest.TestCase):
	def test_the_sections_get_maintainer_names(self):
		from thpds import series_check
		out = ('Tejun Heo <tj@kernel.org> (maintainer:CONTROL GROUP (CGROUP))\n'
		       'Steven Rostedt <rostedt@goodmis.org> '
		       '(supporter:Real-time Linux (PREEMPT_RT):Keyword:PREEMPT_RT)\n'
		       'cgroups@vger.kernel.org (open list:CONTROL GROUP (CGROUP))\n'
		       'linux-kernel@vger.kernel.org (open list)\n')
		self.assertEqual(series_check.sections(out),
				 ['CONTROL GROUP (CGROUP)', 'Real-time Linux (PREEMPT_RT)'])
