"""Tests for thpds.resolve: a tree's own form of the suite."""

import re
import unittest

from thpds import resolve, sources, suite

HEADER = '''#ifndef _MM_TESTS_THP_DEFERRED_SPLIT_KUNIT_H
#define _MM_TESTS_THP_DEFERRED_SPLIT_KUNIT_H

/* The list_head that links a large folio on a deferred split queue. */
static inline struct list_head *thp_ds_deferred_list(struct folio *folio)
{
	return &folio->_deferred_list;
}

static inline bool thp_ds_case_skipped(struct kunit *test)
{
	return test->status == KUNIT_SKIPPED;
}

/* The shrinker, as reclaim runs it. */
static inline void thp_ds_shrink(struct mem_cgroup *memcg, int nid)
{
	shrink_slab(GFP_KERNEL, nid, memcg, 0);
}

/* Memcg offline moves the split queue to the parent's. */
#define THP_DS_REPARENTS	1

/* The tree's KUnit has no suite_init. */
#define THP_DS_SUITE_INIT	0

static inline long thp_ds_kept(void)
{
	return 1;
}

#endif /* _MM_TESTS_THP_DEFERRED_SPLIT_KUNIT_H */
'''
INLINES = ['thp_ds_deferred_list', 'thp_ds_case_skipped', 'thp_ds_shrink']
C = 'mm/tests/thp_deferred_split_x.c'


def resolved(text: str, header: str = HEADER, inlines=INLINES) -> str:
	return resolve.resolve({C: text.encode()}, header, inlines)[C].decode()


class FlagTest(unittest.TestCase):
	def test_the_trees_branch_stays_and_the_directives_go(self):
		text = ('void f(void)\n{\n\ta();\n#if THP_DS_REPARENTS\n\tb();\n#else\n\tc();\n#endif\n'
			'#if !THP_DS_SUITE_INIT\n\td();\n#endif\n#ifdef CONFIG_X\n\te();\n#endif\n}\n')
		self.assertEqual(resolved(text),
				 'void f(void)\n{\n\ta();\n\tb();\n\td();\n#ifdef CONFIG_X\n\te();\n'
				 '#endif\n}\n')

	def test_no_blank_lines_are_left_doubled_or_at_a_blocks_edge(self):
		text = ('void f(void)\n{\n#if !THP_DS_REPARENTS\n\tint x;\n\n\tx = 1;\n#endif\n\n'
			'\ta();\n\n#if THP_DS_SUITE_INIT\n\tb();\n#endif\n}\n')
		self.assertEqual(resolved(text), 'void f(void)\n{\n\ta();\n}\n')

	def test_a_flag_the_port_does_not_define_is_refused(self):
		# the preprocessor would take it as 0: a typo would pick the wrong branch
		with self.assertRaisesRegex(resolve.ResolveError, r'x\.c:2: THP_DS_REPARENT is no flag'):
			resolved('a;\n#if THP_DS_REPARENT\nb;\n#endif\n')

	def test_a_flag_used_as_a_value_or_in_an_elif_is_refused(self):
		with self.assertRaisesRegex(resolve.ResolveError, 'other than as'):
			resolved('\tbool r = THP_DS_REPARENTS;\n')
		with self.assertRaisesRegex(resolve.ResolveError, '#elif'):
			resolved('#if THP_DS_REPARENTS\n#elif 1\n#endif\n')
		with self.assertRaisesRegex(resolve.ResolveError, 'without #endif'):
			resolved('#if THP_DS_REPARENTS\na;\n')
		# a comment may name it
		self.assertEqual(resolved(' * (THP_DS_REPARENTS)\n'), ' * (THP_DS_REPARENTS)\n')

	def test_the_flags_and_their_comments_leave_the_header(self):
		out = resolve.resolve({resolve.HEADER: HEADER.encode()}, HEADER, INLINES)
		text = out[resolve.HEADER].decode()
		self.assertNotIn('THP_DS_REPARENTS', text)
		self.assertNotIn('split queue to the parent', text)
		self.assertNotIn('thp_ds_deferred_list', text)
		self.assertNotIn('The list_head that links', text)
		self.assertIn('static inline long thp_ds_kept(void)', text)
		self.assertIn('#endif /* _MM_TESTS_THP_DEFERRED_SPLIT_KUNIT_H */', text)


class InlineTest(unittest.TestCase):
	def test_a_call_becomes_the_helpers_body(self):
		self.assertEqual(resolved('\tif (list_empty(thp_ds_deferred_list(folio)))\n'),
				 '\tif (list_empty(&folio->_deferred_list))\n')
		self.assertEqual(resolved('\tx = thp_ds_deferred_list(lru_to_folio(list));\n'),
				 '\tx = &lru_to_folio(list)->_deferred_list;\n')
		# an argument that is not a name, call or member gets parentheses
		self.assertEqual(resolved('\tx = thp_ds_deferred_list(&f);\n'),
				 '\tx = &(&f)->_deferred_list;\n')
		self.assertEqual(resolved('\tthp_ds_shrink(ctx->memcg, nid);\n'),
				 '\tshrink_slab(GFP_KERNEL, nid, ctx->memcg, 0);\n')

	def test_an_expression_gets_parentheses_only_where_it_needs_them(self):
		self.assertEqual(resolved('\tif (!ctx || thp_ds_case_skipped(test))\n'),
				 '\tif (!ctx || test->status == KUNIT_SKIPPED)\n')
		self.assertEqual(resolved('\tif (thp_ds_case_skipped(test))\n'),
				 '\tif (test->status == KUNIT_SKIPPED)\n')
		self.assertEqual(resolved('\tif (!thp_ds_case_skipped(test))\n'),
				 '\tif (!(test->status == KUNIT_SKIPPED))\n')

	def test_a_helper_named_other_than_in_a_call_is_refused(self):
		with self.assertRaisesRegex(resolve.ResolveError, 'named here other than in a call'):
			resolved('\tfn = thp_ds_case_skipped;\n')
		with self.assertRaisesRegex(resolve.ResolveError, 'is a statement, not used as one'):
			resolved('\tx = thp_ds_shrink(m, 0);\n')
		with self.assertRaisesRegex(resolve.ResolveError, 'takes 1 arguments, called with 2'):
			resolved('\tthp_ds_deferred_list(a, b);\n')

	def test_a_helper_of_more_than_one_line_cannot_be_inlined(self):
		with self.assertRaisesRegex(resolve.ResolveError, 'thp_ds_missing is not a helper'):
			resolved('', inlines=['thp_ds_missing'])


class PortFormTest(unittest.TestCase):
	"""Every port's own form of the suite: nothing left to resolve."""

	def test_every_port_resolves_completely(self):
		for port in suite.ports():
			files = sources.for_port(port)
			files.update(suite.port_files(port))
			with self.subTest(port=port):
				out = resolve.for_port(files, port)
				text = b''.join(out.values()).decode()
				self.assertNotIn('#if THP_DS_', text)
				self.assertNotIn('#define THP_DS_SUITE_INIT', text)
				for name in resolve.inline_names(port):
					self.assertIsNone(re.search(rf'\b{name}\b', text), name)
				header = files[resolve.HEADER].decode()
				self.assertTrue(resolve.flags(header))

	def test_the_mainline_form_has_no_helper_of_a_trees_spelling(self):
		files = sources.for_port('7.2')
		files.update(suite.port_files('7.2'))
		text = b''.join(resolve.for_port(files, '7.2').values()).decode()
		for spelling in ('thp_ds_param_value', 'thp_ds_folio_lru', 'thp_ds_fixture_release',
				 'thp_ds_case_fixture', 'later trees', '6.19+'):
			self.assertFalse(spelling in text, spelling)


if __name__ == '__main__':
	unittest.main()
