"""The KCIDB export (kcidb.py) and the KernelCI job entry
(docs/kernelci/jobs.yaml): neither can be submitted from here, so their
shape is checked against what KCIDB's schema 5.3 and kernelci-pipeline's
kunit job require."""

import copy
import json
import os
import shlex
import unittest

from tests import recordings
from tests.test_document import matrix_runs, recorded_runs
from thpds import kcidb, suite

try:
	import jsonschema
except ImportError:
	jsonschema = None

ID = {'type': 'string', 'pattern': '^[a-z0-9_]+:.*$'}
ORIGIN = {'type': 'string', 'pattern': '^[a-z0-9_]+$'}
STATUS = {'enum': ['FAIL', 'ERROR', 'MISS', 'PASS', 'DONE', 'SKIP']}
# What kcidb-io's v05_03 schema requires of the objects this export writes
# (required fields, id and origin patterns, status values, no nulls, no
# unknown top-level lists); the optional fields it writes, with their types.
KCIDB_5_3 = {
	'type': 'object', 'additionalProperties': False, 'required': ['version'],
	'properties': {
		'version': {'type': 'object', 'required': ['major'],
			    'properties': {'major': {'const': 5},
					   'minor': {'type': 'integer', 'maximum': 3}}},
		'checkouts': {'type': 'array', 'items': {
			'type': 'object', 'required': ['id', 'origin'],
			'properties': {'id': ID, 'origin': ORIGIN, 'tree_name': {'type': 'string'},
				       'start_time': {'type': 'string', 'format': 'date-time'},
				       'valid': {'type': 'boolean'}, 'misc': {'type': 'object'}}}},
		'builds': {'type': 'array', 'items': {
			'type': 'object', 'required': ['id', 'origin', 'checkout_id'],
			'properties': {'id': ID, 'origin': ORIGIN, 'checkout_id': ID,
				       'architecture': {'type': 'string', 'pattern': '^[a-z0-9_]*$'},
				       'compiler': {'type': 'string'},
				       'config_name': {'type': 'string'}, 'status': STATUS,
				       'misc': {'type': 'object'}}}},
		'tests': {'type': 'array', 'items': {
			'type': 'object', 'required': ['id', 'origin', 'build_id'],
			'properties': {'id': ID, 'origin': ORIGIN, 'build_id': ID,
				       'path': {'type': 'string', 'pattern': r'^(?:[.a-zA-Z0-9_-]*)$'},
				       'status': STATUS, 'duration': {'type': 'number'},
				       'environment': {'type': 'object'}, 'misc': {'type': 'object'}}}},
	},
}


def no_nulls(value):
	if value is None:
		return False
	if isinstance(value, dict):
		return all(no_nulls(v) for v in value.values())
	if isinstance(value, list):
		return all(no_nulls(v) for v in value)
	return True


class KcidbTest(unittest.TestCase):
	def check(self, doc):
		if jsonschema is None:
			raise AssertionError('apt-get install python3-jsonschema')
		errors = [e.message for e in jsonschema.Draft202012Validator(KCIDB_5_3).iter_errors(doc)]
		self.assertEqual(errors, [])
		self.assertTrue(no_nulls(doc))
		checkouts = {c['id'] for c in doc['checkouts']}
		builds = {b['id'] for b in doc['builds']}
		self.assertEqual(len(builds), len(doc['builds']), 'build ids are unique')
		self.assertEqual(len({t['id'] for t in doc['tests']}), len(doc['tests']),
				 'test ids are unique')
		self.assertTrue(all(b['checkout_id'] in checkouts for b in doc['builds']))
		self.assertTrue(all(t['build_id'] in builds for t in doc['tests']))

	def test_the_last_matrix_exports_in_kcidbs_shape(self):
		doc = kcidb.export(matrix_runs())
		self.check(doc)
		self.assertEqual(len(doc['builds']), 286)

	def test_the_recorded_runs_export_and_the_schema_refuses_what_kcidb_does(self):
		doc = kcidb.export(rec for _, rec in recorded_runs())
		self.check(doc)
		for what, breaking in {
			'an id without its origin': lambda d: d['tests'][0].update(id='x'),
			'a status KCIDB has not': lambda d: d['tests'][0].update(status='OK'),
			'a build of no checkout': lambda d: d['builds'][0].pop('checkout_id'),
			'version 4': lambda d: d['version'].update(major=4),
		}.items():
			with self.subTest(broken=what):
				bad = copy.deepcopy(doc)
				breaking(bad)
				with self.assertRaises(AssertionError):
					self.check(bad)

	def test_a_run_is_its_verdict_and_its_cases(self):
		_, rec = recordings.load('6.12-seed-reclaim')
		doc = kcidb.export([rec])
		paths = {t['path']: t for t in doc['tests']}
		self.assertEqual(paths['thp_ds']['status'], 'PASS')	# caught as declared
		lock = paths['kunit.thp_deferred_split.thp_ds_test_free_reclaim_lock']
		self.assertEqual((lock['status'], lock['misc']['outcome']), ('FAIL', 'passed'))


class KernelciJobTest(unittest.TestCase):
	def test_the_job_entry_has_the_shape_of_kernelci_pipelines_kunit_job(self):
		import yaml
		with open(os.path.join(suite.REPO, 'docs', 'kernelci', 'jobs.yaml')) as f:
			jobs = yaml.safe_load(f)['jobs']
		for name, job in jobs.items():
			with self.subTest(job=name):
				self.assertEqual((job['template'], job['kind']), ('kunit-thp-ds.jinja2', 'job'))
				self.assertIn('kunit-kernelci', job['image'])
				self.assertIn(job['params']['arch'], ('x86_64', 'arm64'))
				self.assertEqual(job['params']['kunitconfig'], 'mm/tests')
				self.assertTrue(job['kcidb_test_suite'].startswith('kunit.'))


	def test_the_template_runs_kunit_py_with_what_the_suite_needs(self):
		"""kunit-thp-ds.jinja2 rendered with each entry's params over a stand-in
		for kernelci-core's base/python.jinja2, in Debian's Python (Jinja2):
		the Python it makes compiles, and its three kunit.py steps carry the
		suite's kunitconfig, QEMU arguments and kernel options."""
		import subprocess
		import yaml
		with open(os.path.join(suite.REPO, 'docs', 'kernelci', 'jobs.yaml')) as f:
			jobs = yaml.safe_load(f)['jobs']
		for name, job in jobs.items():
			with self.subTest(job=name):
				proc = subprocess.run(['/usr/bin/python3', '-c', RENDER,
						       os.path.join(suite.REPO, 'docs', 'kernelci')],
						      input=json.dumps(job['params']), capture_output=True,
						      text=True)
				self.assertEqual(proc.returncode, 0, proc.stderr)
				steps = json.loads(proc.stdout)
				params = job['params']
				for step in ('config', 'build', 'exec'):
					args = shlex.split(steps[step])
					self.assertEqual(args[0], step)
					self.assertIn('--kunitconfig=mm/tests', args)
					self.assertIn(f'--arch={params["arch"]}', args)
					self.assertIn(f'--qemu_args={params["qemu_args"]}', args)
				run = shlex.split(steps['exec'])
				self.assertIn('--json=kunit.json', run)
				self.assertEqual([a for a in run if a.startswith('--kernel_args=')],
						 [f'--kernel_args={a}' for a in params['kernel_args']])


# Render kunit-thp-ds.jinja2 over a stand-in base template; compile what it
# makes and print its kunit.py steps.
RENDER = r'''
import json, sys, types
import jinja2
BASE = """{% block python_imports %}import os{% endblock %}
{% block python_local_imports %}{% endblock %}
{% block python_globals %}NODE_ID = None{% endblock %}
class BaseJob:
    pass
{% block python_job %}{% endblock %}
"""
env = jinja2.Environment(loader=jinja2.ChoiceLoader([
	jinja2.DictLoader({'base/python.jinja2': BASE}), jinja2.FileSystemLoader(sys.argv[1])]))
text = env.get_template('kunit-thp-ds.jinja2').render(**json.load(sys.stdin))
sys.modules['kernelci'] = types.ModuleType('kernelci')
sys.modules['kernelci.api'] = types.ModuleType('kernelci.api')
sys.modules['kernelci.api.helper'] = types.ModuleType('kernelci.api.helper')
module = {}
exec(compile(text, 'kunit-thp-ds', 'exec'), module)
assert callable(module['Job']._run)
print(json.dumps(module['kunit_steps']('kunit.json')))
'''

if __name__ == '__main__':
	unittest.main()
