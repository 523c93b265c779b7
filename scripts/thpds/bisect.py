"""thp-ds bisect: which commit of a user's git tree broke the suite.

The suite is the oracle of `git bisect run` ('thp-ds oracle'): exit 0 when
the revision's verdict is PASS, 1 when it is FAIL, 125 when the revision
cannot be judged (no port fits it, it does not build, kunit.py cannot
configure it), so git skips it.  The user's tree is never written: the
bisection runs in a clone of it under the cache (`git clone --shared`,
which reads the user's objects and writes nothing there), and each step is
an ordinary run of that clone, copied to one tool-owned tree and built in
one build directory, so every step after the first rebuilds incrementally.

Both ends are judged first: a bisection whose "bad" revision passes, or
whose "good" one fails, would name a commit that proves nothing.
"""

import dataclasses
import os
import re
import shutil
import subprocess
import sys
from typing import Callable, Dict, List, Optional, Sequence

from thpds import gitrun
from thpds.errors import InfraError, UsageError

# git bisect run's protocol
GOOD, BAD, SKIP = 0, 1, 125
# Anything else stops git bisect run: an interrupted or broken step.
ABORT = 255
FIRST_BAD = re.compile(r'^([0-9a-f]{40}) is the first bad commit$', re.M)
LOGGED = re.compile(r'^# (good|bad|skip): \[([0-9a-f]{40})\] (.*)$', re.M)
ONLY_SKIPPED = 'only \'skip\'ped commits left to test'


@dataclasses.dataclass
class Outcome:
	first_bad: str			# the first bad commit, or '' when none was found
	subject: str
	steps: List[Dict[str, str]]	# each judged revision: verdict, commit, subject
	message: str			# in words, for the last line


def git(repo: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
	proc = gitrun.run(list(args), cwd=repo,
			  extra_env={'GIT_CEILING_DIRECTORIES': os.path.dirname(repo)},
			  settings=('-c', f'safe.directory={repo}', '-c', 'advice.detachedHead=false'))
	if check and proc.returncode != 0:
		raise InfraError(f'git {" ".join(args)} in {repo} failed: '
					  f'{(proc.stderr or proc.stdout).strip().splitlines()[-1:]}')
	return proc


def revision(src: str, rev: str, what: str) -> str:
	"""@rev of the user's tree @src as a full commit id, read-only."""
	proc = gitrun.read_only(['rev-parse', '--verify', '--quiet', f'{rev}^{{commit}}'], src)
	if proc.returncode != 0 or not proc.stdout.strip():
		raise UsageError(f'--{what} {rev}: not a commit of {src}')
	return proc.stdout.strip()


def check_range(src: str, good: str, bad: str) -> None:
	if not os.path.lexists(os.path.join(src, '.git')):
		raise UsageError(f'--tree {src}: not a git work tree (bisect needs its history)')
	proc = gitrun.read_only(['merge-base', '--is-ancestor', good, bad], src)
	if proc.returncode != 0:
		raise UsageError(f'--good {good[:12]} is not an ancestor of --bad {bad[:12]}')
	if good == bad:
		raise UsageError('--good and --bad are the same commit')


def workspace(src: str, path: str) -> str:
	"""A clone of @src at @path that shares its objects; made afresh each
	time, so that it holds exactly the user's history now."""
	shutil.rmtree(path, ignore_errors=True)
	os.makedirs(os.path.dirname(path), exist_ok=True)
	proc = gitrun.run(['clone', '--shared', '--no-checkout', '--quiet', src, path],
			  cwd=os.path.dirname(path),
			  extra_env={'GIT_OPTIONAL_LOCKS': '0'},
			  settings=('-c', f'safe.directory={src}'))
	if proc.returncode != 0:
		raise InfraError(f'git clone --shared {src} failed: {proc.stderr.strip()}')
	return path


def judge_at(ws: str, commit: str, oracle: Sequence[str]) -> int:
	"""The oracle's exit status on @commit, checked out in @ws, run as git
	bisect run runs it (in git's environment: the oracle's argv carries
	what it needs, see cli.oracle_command())."""
	git(ws, 'checkout', '--quiet', '--force', commit)
	return subprocess.run(list(oracle), cwd=ws, env=gitrun.env()).returncode


def subject(ws: str, commit: str) -> str:
	return git(ws, 'log', '-1', '--format=%s', commit).stdout.strip()


WORDS = {GOOD: 'good (PASS)', BAD: 'bad (FAIL)', SKIP: 'skipped (cannot be judged)'}


def run(src: str, good: str, bad: str, ws_path: str, oracle: Sequence[str],
	say: Callable[[str], None] = print) -> Outcome:
	"""Bisect @src between @good and @bad (commits) in a clone at @ws_path,
	with @oracle (a command run in the clone) as git bisect run's test."""
	ws = workspace(src, ws_path)
	steps: List[Dict[str, str]] = []
	for commit, want, name in ((bad, BAD, 'bad'), (good, GOOD, 'good')):
		say(f'judging the --{name} end first: {commit[:12]} {subject(ws, commit)}')
		status = judge_at(ws, commit, oracle)
		steps.append({'commit': commit, 'subject': subject(ws, commit),
			      'verdict': WORDS.get(status, f'stopped ({status})')})
		if status == ABORT or status not in WORDS:
			raise InfraError(f'the oracle stopped at {commit[:12]} (exit {status})')
		if status != want:
			return Outcome('', '', steps, f'the --{name} revision {commit[:12]} is '
				       f'{WORDS[status]}, not {name}: nothing to bisect')
	git(ws, 'bisect', 'start', bad, good)
	seen = []
	with subprocess.Popen(gitrun.command(['bisect', 'run', *oracle], ws,
					     ('-c', f'safe.directory={ws}')),
			      cwd=ws, env=gitrun.env(), stdout=subprocess.PIPE,
			      stderr=subprocess.STDOUT, text=True, errors='replace') as proc:
		assert proc.stdout is not None
		for line in proc.stdout:	# each step's report as it comes
			sys.stdout.write(line)
			sys.stdout.flush()
			seen.append(line)
	output = ''.join(seen)
	if output and not output.endswith('\n'):
		print(flush=True)	# git's last line has none
	log = git(ws, 'bisect', 'log', check=False).stdout
	for verdict, commit, text in LOGGED.findall(log):
		if commit not in (good, bad):
			steps.append({'commit': commit, 'subject': text,
				      'verdict': {'good': WORDS[GOOD], 'bad': WORDS[BAD],
						  'skip': WORDS[SKIP]}[verdict]})
	git(ws, 'bisect', 'reset', '--quiet', check=False)
	m = FIRST_BAD.search(output)
	if m:
		first = m.group(1)
		return Outcome(first, subject(ws, first), steps,
			       f'first bad commit: {first[:12]} {subject(ws, first)}')
	if ONLY_SKIPPED in output:
		left = re.findall(r'^([0-9a-f]{40})$', output, re.M)
		return Outcome('', '', steps, 'no single first bad commit: it is one of '
			       + ', '.join(c[:12] for c in left) + ' (the others could not be judged)')
	raise InfraError('git bisect run stopped without an answer (exit '
				  f'{proc.returncode}): {output.strip().splitlines()[-1:]}')


def oracle_status(verdict_ok: Optional[bool]) -> int:
	"""git bisect run's exit status for a verdict: None is no verdict."""
	if verdict_ok is None:
		return SKIP
	return GOOD if verdict_ok else BAD
