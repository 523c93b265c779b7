"""JUnit XML for CI systems (GitLab, Jenkins, GitHub actions' reporters).

One <testsuite> per run, one <testcase> per judged case, in the shape
those systems read (docs/schema/junit.xsd, docs/json.md): a case the
verdict failed carries <failure> with its reason and the case's first
message (its diagnosis) as the message; a case skipped where the port
allows it carries <skipped> with the reason; a case that failed where the
run declares it must (an unpatched variant caught, an exposure shown) is
a passing testcase that says so.  A run-level failure no case shows (a
crash, a timeout, a missing suite, a kernel report) is one more failing
testcase, "(run)", exactly as verdict.tally() counts it; where the kernel
did not build, every case is an <error> (no verdict on the kernel).  The counts of every <testsuite>
are verdict.tally()'s, so the XML says what the printed verdict says.
"""

import os
import re
import socket
import xml.etree.ElementTree as ET
from typing import Iterable, List, Optional, Tuple

from thpds import document
from thpds.verdict import Outcome, RunRecord, Status, Verdict, judge

RUN_CASE = '(run)'
# What XML 1.0 cannot carry (a guest's console can print anything).
NOT_XML = re.compile('[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]')


def _clean(root: ET.Element) -> None:
	for el in root.iter():
		if el.text:
			el.text = NOT_XML.sub('?', el.text)
		for key, value in el.attrib.items():
			el.attrib[key] = NOT_XML.sub('?', value)


def suite_name(rec: RunRecord) -> str:
	"""A run's name: tree, setting, variant (RunRecord.label) and version."""
	return f'{rec.label} ({rec.origin} {rec.version})'


def _properties(rec: RunRecord, verdict: Verdict) -> List[Tuple[str, str]]:
	return [('schema', document.SCHEMA), ('tree', rec.tree), ('origin', rec.origin),
		('version', rec.version), ('debian_suite', rec.debian_suite),
		('kernel', rec.kernel), ('port', rec.port), ('variant', rec.variant),
		('target', rec.arch), ('profile', rec.profile), ('boot', ' '.join(rec.boot)),
		('kconfig_add', ' '.join(rec.kconfig_add)), ('filter', rec.filter),
		('judged', rec.judged), ('suite_revision', rec.suite_revision),
		('config_sha256', rec.config_sha256),
		('result', document.result_word(verdict)), ('verdict', verdict.summary())]


def testsuite(rec: RunRecord, verdict: Optional[Verdict] = None) -> ET.Element:
	verdict = verdict or judge(rec)
	passed, failed, skipped = verdict.tally()
	errors = failed if verdict.infrastructure else 0
	failures = 0 if verdict.infrastructure else failed
	cases = verdict.judgements
	run_case = not verdict.ok and verdict.count(Outcome.FAILED) == 0
	total = len(cases) + (1 if run_case else 0)
	suite = ET.Element('testsuite', {
		'name': suite_name(rec), 'tests': str(total), 'failures': str(failures),
		'errors': str(errors), 'skipped': str(0 if verdict.infrastructure else skipped),
		'time': f'{rec.seconds:.1f}', 'timestamp': rec.date.rstrip('Z') or
		'1970-01-01T00:00:00', 'hostname': socket.gethostname() or 'localhost',
		'id': '0', 'package': f'thp-ds.{rec.tree}'})
	props = ET.SubElement(suite, 'properties')
	for name, value in _properties(rec, verdict):
		ET.SubElement(props, 'property', {'name': name, 'value': value})
	classname = f'thp-ds.{rec.label}'
	messages = dict(rec.failures)
	diag = document.verdict_json(rec, verdict)
	fixes = {c['name']: c.get('missing_fix', '') for c in diag['cases']}
	if verdict.infrastructure:
		# no verdict on the kernel: every selected case is an error
		for j in cases:
			case = ET.SubElement(suite, 'testcase', {'name': j.name, 'classname': classname,
								 'time': '0'})
			err = ET.SubElement(case, 'error', {'message': verdict.summary(),
							    'type': 'infrastructure'})
			err.text = '\n'.join(verdict.reasons) + (f'\nlog: {rec.log}' if rec.log else '')
	else:
		for j in cases:
			case = ET.SubElement(suite, 'testcase', {'name': j.name, 'classname': classname,
								 'time': '0'})
			if j.outcome == Outcome.FAILED:
				first = messages.get(j.name, '')
				message = j.why + (f': {first}' if first else '')
				fail = ET.SubElement(case, 'failure', {'message': message,
								       'type': j.status.value})
				fail.text = '\n'.join(filter(None, [
					f'{j.name}: {j.status.value}; {j.why}', first,
					f'points to the missing fix {fixes[j.name]}'
					if fixes.get(j.name) else '']))
			elif j.outcome == Outcome.SKIPPED:
				ET.SubElement(case, 'skipped', {'message': j.why})
			elif j.status in (Status.FAIL, Status.ERROR):
				out = ET.SubElement(case, 'system-out')
				out.text = j.why + (f': {messages[j.name]}' if messages.get(j.name) else '')
		if run_case:
			case = ET.SubElement(suite, 'testcase', {'name': RUN_CASE, 'classname': classname,
								 'time': f'{rec.seconds:.1f}'})
			fail = ET.SubElement(case, 'failure', {'message': verdict.reasons[0],
							       'type': 'run'})
			fail.text = '\n'.join(verdict.reasons)
	out = ET.SubElement(suite, 'system-out')
	out.text = '\n'.join([verdict.summary(), *diag['diagnosis'],
			      *(f'kernel reported: {r}' for r in rec.kernel_reports),
			      *([f'log: {rec.log}'] if rec.log else [])])
	ET.SubElement(suite, 'system-err')
	return suite


def document_of(records: Iterable[RunRecord], name: str = 'thp-ds') -> ET.ElementTree:
	"""<testsuites> over @records, each judged by judge()."""
	root = ET.Element('testsuites', {'name': name})
	totals = dict(tests=0, failures=0, errors=0, skipped=0)
	seconds = 0.0
	for i, rec in enumerate(records):
		suite = testsuite(rec)
		suite.set('id', str(i))
		root.append(suite)
		for key in totals:
			totals[key] += int(suite.get(key))
		seconds += rec.seconds
	for key, value in totals.items():
		root.set(key, str(value))
	root.set('time', f'{seconds:.1f}')
	_clean(root)
	ET.indent(root)
	return ET.ElementTree(root)


def write(path: str, records: Iterable[RunRecord], name: str = 'thp-ds') -> None:
	"""Write the JUnit XML of @records to @path atomically."""
	os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
	tmp = path + '.tmp'
	document_of(records, name).write(tmp, encoding='utf-8', xml_declaration=True)
	os.replace(tmp, path)
