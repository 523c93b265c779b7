"""Tests for thpds.variants: the declarations in the repo, and the judging."""

import os
import tempfile
import unittest

from thpds import cases, suite, variants


class DeclarationTest(unittest.TestCase):
	def test_every_port_has_the_variants(self):
		every = ['migrate', 'node-queue', 'put', 'seed-reclaim', 'split-queue']
		want = {'5.10': ['migrate', 'node-queue', 'seed-reclaim', 'shrink-batch', 'zap-batch'],
			'6.1': ['migrate', 'node-queue', 'seed-reclaim', 'shrink-batch', 'zap-batch'],
			'6.12': sorted(every + ['charge-move', 'shrink-batch', 'swapout', 'zap-batch']),
			'7.2': sorted(every + ['cpu-node', 'shrink-batch', 'swapout', 'zap-batch'])}
		self.assertEqual(sorted(want), sorted(suite.ports()))
		for port in suite.ports():
			self.assertEqual(sorted(variants.for_port(port)), want[port], port)

	def test_the_swap_out_variants_run_only_in_the_live_profile(self):
		# the cgroup-v1 swap-out case needs a swap area: a kunit.py run skips it
		for port in ('6.12', '7.2'):
			self.assertEqual(variants.for_port(port)['swapout'].profile, 'live')
		self.assertEqual(variants.profiles_of('swapout'), {'live'})
		self.assertEqual(variants.profiles_of('seed-reclaim'), frozenset())

	def test_declarations_name_cases_of_the_suite(self):
		declared = cases.repo_declared()
		functions = {f'{s}.{c}' for s, names in declared.items() for c in names}
		for port in suite.ports():
			for v in variants.for_port(port).values():
				self.assertTrue(v.title.startswith('UNPATCHED: '), v.patch)
				for name in v.expect_fail | v.may_crash:
					parts = name.split('.')
					self.assertIn('.'.join(parts[:2]), functions, f'{v.patch}: {name}')

	def test_a_variant_whose_path_moved_has_a_form_for_each_shape(self):
		# 7.3 moved __folio_put() and folios_put_refs() to mm/folio.c
		for name in ('put', 'zap-batch'):
			v = variants.for_port('7.2')[name]
			self.assertEqual([os.path.basename(p) for p in v.patches],
					 [f'{name}.patch', f'{name}.folio-c.patch'])
			with open(v.patches[1]) as f:
				self.assertIn('diff --git a/mm/folio.c b/mm/folio.c', f.read())

	def test_forms_must_declare_the_same_cases(self):
		with tempfile.TemporaryDirectory() as repo:
			d = os.path.join(repo, 'ports', '9.9', 'unpatched')
			os.makedirs(d)
			for name, case in (('x.patch', 'a'), ('x.other.patch', 'b')):
				with open(os.path.join(d, name), 'w') as f:
					f.write(f'Subject: [PATCH] UNPATCHED: x\n\nExpect-Fail: s.{case}\n---\n')
			with self.assertRaises(suite.SuiteError) as cm:
				variants.for_port('9.9', repo)
			self.assertIn('every form of a variant must declare the same', str(cm.exception))

	def test_seed_declares_the_reclaim_cases(self):
		v = variants.for_port('6.12')['seed-reclaim']
		self.assertIn('thp_deferred_split.thp_ds_test_free_reclaim', v.expect_fail)
		self.assertIn('thp_deferred_split.thp_ds_test_free_reclaim_lock', v.expect_fail)
		with open(v.patch) as f:
			self.assertIn('7ae88534cdd9', f.read())


class MayCrashTest(unittest.TestCase):
	def test_may_crash_must_be_a_declared_failure(self):
		import os
		import tempfile
		with tempfile.TemporaryDirectory() as d:
			path = os.path.join(d, 'x.patch')
			with open(path, 'w') as f:
				f.write('Subject: [PATCH] UNPATCHED: x\n\nExpect-Fail: s.a\n'
					'May-Crash: s.b\n---\n')
			with self.assertRaises(suite.SuiteError) as cm:
				variants.parse(path, '6.12')
			self.assertIn('s.b', str(cm.exception))
			with open(path, 'w') as f:
				f.write('Subject: [PATCH] UNPATCHED: x\n\nExpect-Fail: s.a\n'
					'May-Crash: s.a\n---\n')
			self.assertEqual(variants.parse(path, '6.12').may_crash, {'s.a'})


class MayFailOnTest(unittest.TestCase):
	RACE = 'thp_deferred_split_race.thp_ds_test_race_reclaim_scan'

	def parse(self, body):
		import os
		import tempfile
		with tempfile.TemporaryDirectory() as d:
			path = os.path.join(d, 'x.patch')
			with open(path, 'w') as f:
				f.write(f'Subject: [PATCH] UNPATCHED: x\n\n{body}---\n')
			return variants.parse(path, '6.12')

	def test_a_race_case_may_pass_on_one_target_only(self):
		v = self.parse(f'Expect-Fail: s.a\nExpect-Fail: {self.RACE}\n'
			       f'May-Crash: {self.RACE}\nMay-Fail-On: arm64-64k {self.RACE}\n')
		self.assertEqual(v.on('x86_64'), ({'s.a', self.RACE}, frozenset()))
		self.assertEqual(v.on('arm64-64k'), ({'s.a'}, {self.RACE}))

	def test_a_deterministic_case_never_may_pass(self):
		with self.assertRaises(suite.SuiteError):
			self.parse('Expect-Fail: s.a\nMay-Fail-On: arm64-64k s.a\n')


if __name__ == '__main__':
	unittest.main()


class BackportTest(unittest.TestCase):
	"""Exposures name real cases and a backport that exists, in stable style."""

	def test_exposures_name_cases_and_their_backport(self):
		declared = cases.repo_declared()
		functions = {f'{s}.{c}' for s, names in declared.items() for c in names}
		seen = 0
		for port in suite.ports():
			for name, why in suite.port_exposures(port).items():
				seen += 1
				self.assertIn(name, functions, f'ports/{port}/exposures: {name}')
				self.assertRegex(why, r'\b[0-9a-f]{12} \("', 'names the missing commit')
		self.assertGreater(seen, 0)

	def test_backports_have_the_stable_header(self):
		for port in suite.ports():
			for path in suite.port_backports(port):
				with open(path) as f:
					text = f.read()
				head = text.split('\n---\n', 1)[0]
				self.assertRegex(head, r'\n\[ Upstream commit [0-9a-f]{40} \]\n', path)
				self.assertNotIn('Expect-Fail:', head, path)
				self.assertIn('Deviations from', head, path)

	def test_a_bad_exposure_line_is_refused(self):
		import tempfile, os
		with tempfile.TemporaryDirectory() as repo:
			os.makedirs(os.path.join(repo, 'ports', '9.9', 'backports'))
			with open(os.path.join(repo, 'ports', '9.9', 'exposures'), 'w') as f:
				f.write('s.c: 0123456789ab ("x"); closed by backports/none.patch\n')
			with self.assertRaises(suite.SuiteError) as cm:
				suite.port_exposures('9.9', repo)
			self.assertIn('does not have', str(cm.exception))


class ProfileTest(unittest.TestCase):
	def test_a_variant_may_name_only_a_known_profile(self):
		with tempfile.TemporaryDirectory() as d:
			path = os.path.join(d, 'x.patch')
			with open(path, 'w') as f:
				f.write('Subject: [PATCH] UNPATCHED: x\n\nProfile: swap\nExpect-Fail: s.a\n---\n')
			with self.assertRaises(suite.SuiteError) as cm:
				variants.parse(path, '6.12')
			self.assertIn('Profile: swap', str(cm.exception))

	def test_a_variant_may_name_only_a_known_target_and_boot_options(self):
		with tempfile.TemporaryDirectory() as d:
			path = os.path.join(d, 'x.patch')
			for head, error in (('Target: arm64-numa', 'Target: arm64-numa'),
					    ('Unreached-With: a b', "'a b' is not a boot option"),
					    ('Unreached-With: x=1\nExpect-Fail-With: x=1 s.a',
					     'both Unreached-With and Expect-Fail-With for x=1')):
				with open(path, 'w') as f:
					f.write(f'Subject: [PATCH] UNPATCHED: x\n\n{head}\n'
						'Expect-Fail: s.a\n---\n')
				with self.assertRaises(suite.SuiteError) as cm:
					variants.parse(path, '7.2')
				self.assertIn(error, str(cm.exception))

	def test_the_cpu_node_variant_runs_on_the_numa_target_only(self):
		self.assertEqual(variants.for_port('7.2')['cpu-node'].target, 'x86_64-numa')
		self.assertEqual(variants.targets_of('cpu-node'), {'x86_64-numa'})
		self.assertEqual(variants.targets_of('seed-reclaim'), frozenset())
