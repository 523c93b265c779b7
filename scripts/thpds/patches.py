"""thp-ds patches: write the series for a tree, and check it as a maintainer would.

Writes git format-patch output (cover letter, base-commit) to --out, then
checks each patch with the tree's checkpatch, applies the series with git
am to the pristine tree, builds the tree at every patch and runs the suite
on the whole series, and prints the recipients get_maintainer.pl gives.
The tree is switched in place for the builds (the same build directory
and ccache as every run) and is back at shipped + suite afterwards.
"""

import dataclasses
import os
import shutil
import tempfile
import textwrap
from typing import Callable, List, Optional, Tuple

from thpds import cases, runner, series, series_check, suite, tree, variants
from thpds.verdict import judge


@dataclasses.dataclass
class Outcome:
	out_dir: str
	files: List[str]
	findings: List[series_check.Finding]
	recipients: str
	reach: List[Tuple[str, List[str]]] = dataclasses.field(default_factory=list)
	suite_verdict: str = ''

	@property
	def ok(self) -> bool:
		return all(f.ok for f in self.findings)


def _say(text: str) -> None:
	print(f'[thp-ds] {text}', flush=True)


def default_out(t: tree.Tree) -> str:
	return os.path.join(runner.cache_dir(), 'series', os.path.basename(t.path))


def _suite_on(t: tree.Tree, tip: str, port: str) -> str:
	"""For a backport series: the suite committed on its last patch."""
	files = suite.suite_files(lambda rel: tree.show(t.path, tip, rel), port, resolved=True)
	files.update(runner.kunit_tool_files(t))
	return t.commit_on_base(files, suite.port_patches(port),
				f'thp-ds: the deferred-split suite on the series (port {port})', parent=tip)


def _check_suite(t: tree.Tree, commit: str, port: str, backported: bool, timeout: int,
		 out_dir: str, subject: str = 'the series') -> series_check.Finding:
	build_dir, results = runner.run_dirs(t, 'default')
	t.checkout(commit)
	where = 'series' if subject == 'the series' else f'series-{subject[:4]}'
	out = series_check.run_suite(t, build_dir, os.path.join(results, where),
				     runner.cache_dir(), timeout, runner.tool_boot(port))
	applied = suite.Applied(port=port, backported=backported)
	record = runner.make_record(
		out, tuple(f'{s}.{c}' for s, names in _declared(t).items() for c in names),
		runner.expectation(applied), tree=os.path.basename(t.path),
		origin=t.meta['origin'], version=t.meta['version'],
		kernel=tree.kernel_version(t.path), port=port,
		variant=variants.BACKPORTED if backported else variants.SHIPPED)
	verdict = judge(record)
	return series_check.Finding('suite', subject, verdict.ok, verdict.summary())


def _has_suite(t: tree.Tree, commit: str) -> bool:
	"""Whether the tree at @commit has the suite's cases to run (its
	.kunitconfig: the patches before it add only exposures and helpers)."""
	try:
		t.git('cat-file', '-e', f'{commit}:{suite.KUNITCONFIG}')
	except tree.TreeError:
		return False
	return True


def _declared(t: tree.Tree):
	return cases.declared_cases(cases.tree_text(t.path))


def make(spec: str, out_dir: Optional[str], build: bool, timeout: int,
	 say: Callable[[str], None] = _say) -> Outcome:
	who = series.identity()		# refuse before any work
	t = runner.prepare(spec)
	port = runner.port_of(t)
	kind = series.kind(port)
	base = t.meta['base']
	if kind == 'upstream':
		steps = series.upstream_steps(lambda rel: tree.show(t.path, base, rel), port)
		prefix = 'PATCH'
	else:
		steps = series.backport_steps(port)
		prefix = f'PATCH {port}.y'
	commits = series.commit_steps(t, steps, who)
	out_dir = out_dir or default_out(t)
	files = series.write(t, commits, out_dir, prefix, who)
	patches = series_check.patch_files(files)
	plural = 'es' if len(patches) != 1 else ''
	say(f'{kind} series for {t.meta["origin"]} {t.meta["version"]} (port {port}): '
	    f'{len(patches)} patch{plural} and a cover letter in {out_dir}, as {who.line()}')

	findings, listed = [], ()
	# what MAINTAINERS lists before the series: a new file under mm/ is
	# listed (MEMORY MANAGEMENT's F: mm/) even before the series adds its own
	already = tuple(line[len('F:'):].strip() for line in
			tree.show(t.path, base, 'MAINTAINERS').splitlines() if line.startswith('F:'))
	for p in patches:
		findings.append(series_check.checkpatch(t.path, p, stable=kind == 'backports',
							listed=listed + already))
		with open(p) as f:
			listed += tuple(series_check.maintainers_globs(f.read()))
	for f in findings:
		say(f'checkpatch --strict {f.subject}: ' +
		    ((f'clean ({f.detail})' if f.detail else 'clean') if f.ok
		     else f'NOT clean: {f.detail}'))
	findings.append(series_check.am(t, patches, commits[-1]))
	say(f'git am: {findings[-1].detail}')

	suite_verdict = ''
	if build:
		build_dir, _ = runner.run_dirs(t, 'default')
		try:
			on_top = _suite_on(t, commits[-1], port) if kind == 'backports' else commits[-1]
			f = _check_suite(t, on_top, port, kind == 'backports', timeout, out_dir)
			suite_verdict = f.detail
			say(f'the suite on the whole series{" (suite on top)" if on_top != commits[-1] else ""}: '
			    f'{f.detail}')
			findings.append(f)
			rest = commits if kind == 'backports' else commits[:-1]
			names = [os.path.basename(p) for p in patches][:len(rest)]
			scratch = tempfile.mkdtemp(prefix='thp-ds-config-')
			try:
				config = series_check.suite_config(build_dir,
								   os.path.join(scratch, 'config'))
				if config:
					findings += series_check.bisect(t, rest, names, build_dir,
									runner.cache_dir(), config,
									out_dir, say)
			finally:
				shutil.rmtree(scratch, ignore_errors=True)
			if kind == 'upstream':
				# each patch with cases must pass on its own, not only build
				for commit, name in zip(rest, names):
					if _has_suite(t, commit):
						f = _check_suite(t, commit, port, False, timeout,
								 out_dir, subject=name)
						say(f'the suite at {name}: {f.detail}')
						findings.append(f)
		finally:
			runner.apply_suite(t, None)
	# as the series' own MAINTAINERS has them: the entries it adds count
	maintainers = tree.show(t.path, commits[-1], 'MAINTAINERS')
	recipients = series_check.recipients(t.path, patches, maintainers)
	# which sections each patch reaches: the cgroup helpers' the cgroup maintainers
	reach = [(os.path.basename(p), series_check.sections(
		series_check.recipients(t.path, [p], maintainers))) for p in patches]
	checked = _checked_line(findings, build, suite_verdict)
	series.cover_letter(files[0], 'cover-letter.txt' if kind == 'upstream'
			    else 'backports-cover-letter.txt',
			    dict(origin=t.meta['origin'], version=t.meta['version'],
				 kernel=tree.kernel_version(t.path), series=port, checked=checked,
				 exposure_patches=_numbers(1, len(suite.port_patches(port))),
				 patch_list=_patch_list(steps, len(suite.port_patches(port)))))
	return Outcome(out_dir, files, findings, recipients, reach=reach, suite_verdict=suite_verdict)


def _patch_list(steps: List[series.Step], first: int) -> str:
	"""The cover letter's list of the suite's patches: number and subject."""
	total = len(steps)
	return '\n'.join(f'  {n + 1}/{total} {step.subject}\n' +
			  textwrap.fill(step.cover, width=72, initial_indent='      ',
					subsequent_indent='      ', break_on_hyphens=False)
			  for n, step in enumerate(steps) if n >= first)


def _numbers(first: int, last: int) -> str:
	"""The start of a sentence saying which patches expose what the tests need."""
	if last < first:
		return 'No patch has to expose'
	return f'Patch {first} exposes' if first == last else f'Patches {first}-{last} expose'


def _checked_line(findings: List[series_check.Finding], build: bool, suite_verdict: str) -> str:
	"""What the tool checked, for the cover letter: only what it ran."""
	parts = []
	cp = [f for f in findings if f.check == 'checkpatch']
	allowed = sorted({d for f in cp for d in f.detail.split('; ') if d.startswith('allowed: ')})
	parts.append('checkpatch --strict: ' + ('clean on every patch' if all(f.ok for f in cp)
						else 'NOT clean')
		     + ' (' + ', '.join(series_check.IGNORED) + ' not run: the tree has no '
		     'upstream history to look the cited commits up in'
		     + ('; the one complaint left is GIT_COMMIT_ID on each patch\'s '
			'"[ Upstream commit <sha> ]" line, which stable-kernel-rules require'
			if any('GIT_COMMIT_ID' in a for a in allowed) else '')
		     + ('; FILE_PATH_CHANGES ("does MAINTAINERS need updating?") is answered '
			'on the patches whose new files MAINTAINERS lists already'
			if any('FILE_PATH_CHANGES' in a for a in allowed) else '') + ')')
	am = next(f for f in findings if f.check == 'git am')
	parts.append('git am on the pristine tree: ' + ('clean' if am.ok else 'FAILS'))
	if build:
		builds = [f for f in findings if f.check == 'build']
		parts.append('builds at every patch' if all(f.ok for f in builds)
			     else 'does NOT build at every patch')
		early = [f for f in findings if f.check == 'suite' and f.subject != 'the series']
		if early:
			parts.append(f'the suite passes at each of the {len(early)} earlier patches '
				     'that add cases' if all(f.ok for f in early)
				     else 'the suite does NOT pass at every patch that adds cases')
		parts.append(f'the suite on the series: {suite_verdict}')
	return f'Checked by thp-ds on {series.date()}: ' + '; '.join(parts) + '.'


# The project's own identity for `thp-ds check` (the user's signs real series).
CHECK_IDENTITY = {'GIT_AUTHOR_NAME': 'thp-ds check', 'GIT_AUTHOR_EMAIL': 'check@thp-ds.invalid'}


def expected_shape(out: Outcome, build: bool) -> List[str]:
	"""What a written and checked series must hold; each missing thing, in words."""
	patches = series_check.patch_files(out.files)
	wrong = []
	if not out.files or not os.path.basename(out.files[0]).startswith('0000-'):
		wrong.append('no cover letter')
	else:
		with open(out.files[0]) as f:
			cover = f.read()
		for needle in ('base-commit: ', 'Checked by thp-ds on '):
			if needle not in cover:
				wrong.append(f'the cover letter has no "{needle.strip()}"')
		if '*** SUBJECT HERE ***' in cover or '{' in cover.split('\n\n', 1)[1].split('---')[0]:
			wrong.append('the cover letter was not filled in')
	for p in patches:
		with open(p) as f:
			text = f.read()
		ident = CHECK_IDENTITY
		signoff = f'Signed-off-by: {ident["GIT_AUTHOR_NAME"]} <{ident["GIT_AUTHOR_EMAIL"]}>'
		if signoff not in text or 'Fixes:' in text:
			wrong.append(f'{os.path.basename(p)}: no Signed-off-by of the author, or a Fixes: tag')
	kinds = [f.check for f in out.findings]
	if kinds.count('checkpatch') != len(patches) or kinds.count('git am') != 1:
		wrong.append('not every patch was checked')
	if build and (kinds.count('suite') < 1 or kinds.count('build') < len(patches) - 1):
		wrong.append('the builds at every patch or the suite run are missing')
	return wrong


def project_check(spec: str, timeout: int) -> Tuple[int, int, List[str]]:
	"""`thp-ds check`'s series test: write and check @spec's series under
	the project's identity; (passed, failed, summary lines)."""
	saved = {k: os.environ.get(k) for k in CHECK_IDENTITY}
	os.environ.update(CHECK_IDENTITY)
	try:
		out = make(spec, os.path.join(runner.cache_dir(), 'series', 'check'), True, timeout)
	finally:
		for k, v in saved.items():
			if v is None:
				os.environ.pop(k, None)
			else:
				os.environ[k] = v
	wrong = expected_shape(out, True)
	passed = sum(1 for f in out.findings if f.ok)
	failed = sum(1 for f in out.findings if not f.ok) + len(wrong)
	lines = [f'series of {spec}: {passed} checks passed, {failed} failed ({out.out_dir})']
	lines += [f'  FAILED {f.check} {f.subject}: {f.detail}' for f in out.findings if not f.ok]
	lines += [f'  FAILED series: {w}' for w in wrong]
	return passed, failed, lines
