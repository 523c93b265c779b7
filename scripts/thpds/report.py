"""A run's verdict, in words, for the terminal: every command prints this."""

from typing import List

from thpds import diagnose
from thpds.verdict import Outcome, RunRecord, Status, Verdict


def describe(rec: RunRecord) -> str:
	what = rec.variant if rec.filter == '' else f'{rec.variant}, filter {rec.filter!r}'
	if rec.profile != 'default':
		what += f', {rec.profile} profile'
	if rec.arch != 'x86_64':
		what += f', {rec.arch}'
	if rec.boot:
		what += ', booted with ' + ' '.join(rec.boot)
	return f'{rec.origin} {rec.version} ({what})'


def lines(rec: RunRecord, verdict: Verdict) -> List[str]:
	"""What to print about one run: the verdict first, then why."""
	out = [f'{describe(rec)}: {verdict.summary()} in {rec.seconds} s; log {rec.log}']
	out += [f'  {line}' for line in diagnose.diagnose(rec)]
	out.append(f'  port {rec.port}; judged on {rec.judged}; suite: {rec.suite_source}'
		   + (f'; from {rec.debian_suite}' if rec.debian_suite else ''))
	if rec.offline:
		out.append(f'  built from the cached tree: the archive could not be read ({rec.offline})')
	if rec.oops:
		out.append(f'  the guest crashed: {rec.oops}')
	for j in verdict.judgements:
		if j.outcome == Outcome.FAILED:
			out.append(f'  FAILED {j.name}: {j.why}')
		elif j.outcome == Outcome.SKIPPED:
			out.append(f'  skipped {j.name}: {j.why}')
		elif j.status in (Status.FAIL, Status.ERROR):
			out.append(f'  caught {j.name}: {j.why}')
	for reason in verdict.reasons:
		out.append(f'  {reason}')
	if rec.kernel_reports:
		out.append('  the kernel reported: ' + '; '.join(rec.kernel_reports))
	return out


def show(rec: RunRecord, verdict: Verdict) -> None:
	for line in lines(rec, verdict):
		print('[thp-ds] ' + line, flush=True)
