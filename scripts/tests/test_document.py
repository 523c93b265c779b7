"""The machine-readable results (document.py, junit.py) against their schemas,
and against the verdict the tool prints for the same run.

Every recorded run (scripts/tests/data/runs/) and every run of the last
matrix (docs/results/matrix.json) is rendered and validated: the result
document with JSON Schema (Debian's python3-jsonschema), the JUnit XML
with XML Schema (xmllint, Debian's libxml2-utils).  Each validator is
first shown to reject a document that breaks its schema.
"""

import contextlib
import copy
import dataclasses
import io
import json
import os
import shutil
import subprocess
import tempfile
import unittest
import xml.etree.ElementTree as ET
from unittest import mock

from tests import recordings
from thpds import cli, document, host, junit, report, runner, suite
from thpds.errors import UsageError
from thpds.verdict import Outcome, RunRecord, judge

try:
	import jsonschema
except ImportError:	# the test says what to install, it does not skip
	jsonschema = None

JUNIT_XSD = os.path.join(suite.REPO, 'docs', 'schema', 'junit.xsd')
MATRIX = os.path.join(suite.REPO, 'docs', 'results', 'matrix.json')


def recorded_runs():
	"""(name, record) of every recording."""
	for name in sorted(os.listdir(recordings.DATA)):
		try:
			yield name, recordings.load(name)[1]
		except UsageError:	# its filter selects no case: judged on every case
			yield name, recordings.load(name, filter_glob=None)[1]


def matrix_runs():
	with open(MATRIX) as f:
		return [RunRecord.from_json(row) for row in json.load(f)]


def validator():
	if jsonschema is None:
		raise AssertionError('python3-jsonschema is needed to validate the result schema: '
				     'apt-get install python3-jsonschema (thp-ds check --install-deps '
				     'does)')
	with open(document.SCHEMA_FILE) as f:
		schema = json.load(f)
	jsonschema.Draft202012Validator.check_schema(schema)
	return jsonschema.Draft202012Validator(schema)


def schema_errors(v, doc):
	return [f'{"/".join(map(str, e.absolute_path))}: {e.message}' for e in v.iter_errors(doc)]


def xmllint(path: str) -> subprocess.CompletedProcess:
	if not shutil.which('xmllint'):
		raise AssertionError('xmllint is needed to validate the JUnit XML: apt-get install '
				     'libxml2-utils (thp-ds check --install-deps does)')
	return subprocess.run(['xmllint', '--noout', '--schema', JUNIT_XSD, path],
			      capture_output=True, text=True)


class ResultSchemaTest(unittest.TestCase):
	def test_every_recorded_run_validates(self):
		v = validator()
		for name, rec in recorded_runs():
			with self.subTest(run=name):
				self.assertEqual(schema_errors(v, document.document(rec)), [])

	def test_every_run_of_the_last_matrix_validates(self):
		v = validator()
		for rec in matrix_runs():
			with self.subTest(run=rec.label):
				self.assertEqual(schema_errors(v, document.document(rec)), [])

	def test_the_schema_rejects_what_it_does_not_describe(self):
		v = validator()
		_, rec = recordings.load('6.12-seed-reclaim')
		good = document.document(rec)
		self.assertEqual(schema_errors(v, good), [])
		broken = {
			'no verdict': lambda d: d.pop('verdict'),
			'another version': lambda d: d.update(schema='thp-ds-result/2'),
			'an unknown field': lambda d: d.update(color='green'),
			'a status kunit.py has not': lambda d: d['cases'][0].update(status='OK'),
			'a verdict that is not one': lambda d: d['verdict'].update(result='GREEN'),
			'an exit status run never gives': lambda d: d['verdict'].update(exit_status=2),
			'a count below zero': lambda d: d['verdict'].update(failed=-1),
			'a target there is not': lambda d: d.update(target='sparc'),
		}
		for what, breaking in broken.items():
			with self.subTest(broken=what):
				doc = copy.deepcopy(good)
				breaking(doc)
				self.assertNotEqual(schema_errors(v, doc), [])

	def test_the_document_reads_back_as_the_same_run(self):
		for name, rec in recorded_runs():
			with self.subTest(run=name):
				doc = json.loads(json.dumps(document.document(rec)))
				self.assertEqual(RunRecord.from_json(doc), rec)


def printed(rec):
	with contextlib.redirect_stdout(io.StringIO()) as out:
		report.show(rec, judge(rec))
	return out.getvalue()


class SameVerdictTest(unittest.TestCase):
	"""The JSON, the JUnit XML and the printed report of a run say the same."""

	def test_json_says_what_is_printed(self):
		for name, rec in recorded_runs():
			with self.subTest(run=name):
				v = judge(rec)
				doc = document.document(rec)['verdict']
				text = printed(rec)
				self.assertIn(f': {doc["summary"]} in ', text.splitlines()[0])
				self.assertEqual(doc['exit_status'], v.exit_code)
				self.assertEqual(doc['result'] == 'PASS', v.ok)
				self.assertEqual((doc['passed'], doc['failed'], doc['skipped']), v.tally())
				for reason in doc['reasons']:
					self.assertIn(reason, text)
				for case in doc['cases']:
					if case['outcome'] == 'failed':
						self.assertIn(f'FAILED {case["name"]}: {case["why"]}', text)
					if case['outcome'] == 'skipped':
						self.assertIn(f'skipped {case["name"]}: {case["why"]}', text)

	def test_junit_says_what_is_printed(self):
		for name, rec in recorded_runs():
			with self.subTest(run=name):
				v = judge(rec)
				suite_el = junit.testsuite(rec, v)
				passed, failed, skipped = v.tally()
				# a kernel that did not build: no verdict, errors
				self.assertEqual(int(suite_el.get('errors')) +
						 int(suite_el.get('failures')), failed)
				if v.infrastructure:
					self.assertEqual(suite_el.get('failures'), '0')
					continue
				self.assertEqual(int(suite_el.get('skipped')), skipped)
				cases = suite_el.findall('testcase')
				self.assertEqual(int(suite_el.get('tests')), len(cases))
				failing = {c.get('name') for c in cases if c.find('failure') is not None}
				wrong = {j.name for j in v.judgements if j.outcome == Outcome.FAILED}
				if not v.ok and not wrong:
					wrong = {junit.RUN_CASE}
				self.assertEqual(failing, wrong)
				props = {p.get('name'): p.get('value') for p in suite_el.iter('property')}
				self.assertEqual(props['verdict'], v.summary())
				self.assertEqual(props['result'], 'PASS' if v.ok else 'FAIL')

	def test_a_failed_case_carries_its_diagnosis_and_missing_fix(self):
		# the seed's reclaim bug read as a tree judged on its own results
		# (a user's tree that lacks the fix): its failures point to the fix
		_, rec = recordings.load('6.12-seed-reclaim', variant='shipped',
					 judged="its own results", expect=None)
		rec = dataclasses.replace(rec, expect=dataclasses.replace(rec.expect,
									  expect_fail=frozenset(),
									  may_crash=frozenset()))
		doc = document.document(rec)['verdict']
		fixes = {c['name']: c.get('missing_fix') for c in doc['cases']
			 if c['outcome'] == 'failed'}
		self.assertIn('47932e7048df', fixes['thp_deferred_split.thp_ds_test_free_reclaim_lock'])
		self.assertIn('47932e7048df',
			      fixes['thp_deferred_split.thp_ds_test_free_reclaim.order 9'])
		self.assertTrue(doc['diagnosis'][0].startswith('exposed: lacks 7ae88534cdd9'))
		xml = ET.tostring(junit.testsuite(rec), encoding='unicode')
		self.assertIn('points to the missing fix 7ae88534cdd9', xml)


	def test_failures_no_known_fix_explains_are_named(self):
		# a crash in free_reclaim alone: no known fix has just that case
		_, rec = recordings.load('param-crash')
		doc = document.document(rec)['verdict']
		self.assertEqual(doc['missing_fixes'], [])
		self.assertEqual(doc['unexplained'], ['thp_deferred_split.thp_ds_test_free_reclaim'])


class JunitSchemaTest(unittest.TestCase):
	def setUp(self):
		self.dir = tempfile.mkdtemp()
		self.addCleanup(shutil.rmtree, self.dir)

	def check(self, records, name='runs.xml'):
		path = os.path.join(self.dir, name)
		junit.write(path, records)
		return xmllint(path)

	def test_every_recorded_run_validates(self):
		result = self.check([rec for _, rec in recorded_runs()])
		self.assertEqual(result.returncode, 0, result.stderr)

	def test_the_last_matrix_validates(self):
		result = self.check(matrix_runs())
		self.assertEqual(result.returncode, 0, result.stderr)

	def test_the_schema_rejects_a_report_ci_systems_cannot_read(self):
		_, rec = recordings.load('6.12-seed-reclaim')
		tree = junit.document_of([rec])
		tree.getroot().find('testsuite').attrib.pop('tests')
		path = os.path.join(self.dir, 'broken.xml')
		tree.write(path)
		self.assertNotEqual(xmllint(path).returncode, 0)

	def test_text_xml_cannot_carry_is_replaced(self):
		_, rec = recordings.load('6.12-seed-reclaim')
		rec = dataclasses.replace(rec, failures=(
			('thp_deferred_split.thp_ds_test_free_reclaim', 'bad \x1b[0m byte\x00'),))
		result = self.check([rec])
		self.assertEqual(result.returncode, 0, result.stderr)

	def test_a_kernel_that_did_not_build_is_an_error_not_a_failure(self):
		_, rec = recordings.load('6.12-shipped')
		rec = dataclasses.replace(rec, built=False, cases=())
		el = junit.testsuite(rec)
		self.assertEqual((el.get('errors'), el.get('failures')), (str(len(rec.selected)), '0'))
		self.assertEqual(document.document(rec)['verdict']['result'], 'NO-VERDICT')
		self.assertEqual(self.check([rec]).returncode, 0)


class ExportTest(unittest.TestCase):
	"""thp-ds export over results as run_tree() leaves them."""

	def setUp(self):
		self.dir = tempfile.mkdtemp()
		self.addCleanup(shutil.rmtree, self.dir)
		for name in ('6.12-shipped', '6.12-seed-reclaim'):
			_, rec = recordings.load(name)
			document.write(os.path.join(self.dir, 'results', name, 'result.json'),
				       document.document(rec))

	def export(self, *argv):
		with contextlib.redirect_stdout(io.StringIO()), \
		     contextlib.redirect_stderr(io.StringIO()) as err:
			code = cli.main(['export', *argv])
		return code, err.getvalue()

	def test_a_directory_of_runs_exports_every_run(self):
		out = os.path.join(self.dir, 'all.json')
		xml = os.path.join(self.dir, 'all.xml')
		code, _ = self.export('--json', out, '--junit', xml, os.path.join(self.dir, 'results'))
		with open(out) as f:
			docs = json.load(f)
		self.assertEqual([d['variant'] for d in docs], ['seed-reclaim', 'shipped'])
		self.assertEqual(code, 0 if all(d['verdict']['result'] == 'PASS' for d in docs) else 1)
		self.assertEqual(len(ET.parse(xml).getroot().findall('testsuite')), 2)

	def test_check_writes_every_kernel_run(self):
		_, rec = recordings.load('6.12-shipped')
		fake_tests = mock.Mock(testsRun=1, failures=[], errors=[], skipped=[],
				       unexpectedSuccesses=[])
		xml, out = os.path.join(self.dir, 'check.xml'), os.path.join(self.dir, 'check.json')
		with mock.patch.dict(os.environ, {'THP_DS_CACHE': os.path.join(self.dir, 'cache')}), \
		     mock.patch.object(runner, 'run_tree',
				       return_value=mock.Mock(record=rec, applied=suite.Applied('6.12'))), \
		     mock.patch.object(cli, 'unit_tests', return_value=fake_tests), \
		     mock.patch.object(host, 'ensure'), \
		     contextlib.redirect_stdout(io.StringIO()):
			code = cli.main(['check', '--trees', '6.12', '7.2', '--no-series', '--variant', '',
					 '--targets', 'x86_64', '--live', '--numa', '--boots',
					 '--junit', xml, '--json', out])
		self.assertEqual(code, 0)
		self.assertEqual(len(ET.parse(xml).getroot().findall('testsuite')), 2)
		with open(out) as f:
			self.assertEqual([d['verdict']['result'] for d in json.load(f)], ['PASS', 'PASS'])

	def test_bad_input_is_one_line_and_2(self):
		junk = os.path.join(self.dir, 'junk.json')
		with open(junk, 'w') as f:
			f.write('{"not": "a result"}')
		for argv, text in ((('--json', '/dev/null', '/nonexistent'), 'no such file'),
				   (('--json', '/dev/null', junk), 'not a thp-ds result'),
				   ((junk,), 'give --json FILE, --junit FILE, --kcidb FILE, or more'),
				   (('--json', '/dev/null', self.dir + '/none'), 'no such file')):
			with self.subTest(argv=argv):
				code, err = self.export(*argv)
				self.assertEqual(code, 2)
				self.assertIn(text, err)
				self.assertEqual(len(err.strip().splitlines()), 1)


if __name__ == '__main__':
	unittest.main()
