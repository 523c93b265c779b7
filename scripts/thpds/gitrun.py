"""git with nothing of the user's configuration: the only way the tool runs git.

The tool's trees must come out the same for every user.  A global excludes
file that lists 'build/' once made 'git add -A' skip the kernel's
tools/build/ and 'git clean -fdx' delete it; a global hooks directory, an
fsmonitor, an attributes file with eol rules or an inherited GIT_DIR would
each change what is committed or checked out, or run code of the user's in
the middle of a build.  So every git process gets:

- an environment without any inherited GIT_* variable (GIT_DIR,
  GIT_WORK_TREE, GIT_INDEX_FILE, GIT_CONFIG_PARAMETERS, ...); callers add
  back only what they set themselves;
- no system or global configuration (GIT_CONFIG_SYSTEM/GLOBAL=/dev/null,
  GIT_CONFIG_NOSYSTEM), and a HOME and XDG_CONFIG_HOME where nothing exists,
  for git versions older than 2.32 that ignore GIT_CONFIG_GLOBAL;
- command-line settings for what git reads even without configuration
  ($XDG_CONFIG_HOME/git/ignore and .../attributes are read by default) and
  for what a repository's own configuration could otherwise switch on.
"""

import os
import subprocess
from typing import Dict, List, Optional, Sequence, Union

# Nothing may exist here: git looks for .gitconfig and .config/git/* under it.
NO_HOME = '/nonexistent/thp-ds-git-home'

ISOLATION = ('-c', 'core.excludesFile=' + os.devnull,
	     '-c', 'core.attributesFile=' + os.devnull,
	     '-c', 'core.hooksPath=' + os.devnull,
	     '-c', 'core.fsmonitor=false',
	     '-c', 'core.autocrlf=false',
	     # git itself never packs or prunes behind the tool's back (the
	     # tool packs its trees when it has just set a base, see tree.py).
	     '-c', 'gc.auto=0',
	     '-c', 'maintenance.auto=false',
	     # No reflogs: they would keep every base a tree ever had alive
	     # through each repack (the tool keeps nothing it does not use).
	     '-c', 'core.logAllRefUpdates=false')

IDENTITY = ('-c', 'user.name=thp-ds', '-c', 'user.email=thp-ds@localhost',
	    '-c', 'commit.gpgsign=false')


def env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
	"""os.environ without GIT_*, with configuration switched off, plus extra."""
	clean = {k: v for k, v in os.environ.items() if not k.startswith('GIT_')}
	clean.update(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_SYSTEM=os.devnull,
		     GIT_CONFIG_NOSYSTEM='1', GIT_TERMINAL_PROMPT='0',
		     HOME=NO_HOME, XDG_CONFIG_HOME=NO_HOME)
	clean.update(extra or {})
	return clean


def command(args: Sequence[str], cwd: Optional[str] = None,
	    settings: Sequence[str] = ()) -> List[str]:
	"""The argv of an isolated git: git [-C cwd] -c ... settings args."""
	where = ['-C', cwd] if cwd else []
	return ['git', *where, *ISOLATION, *IDENTITY, *settings, *args]


def run(args: Sequence[str], cwd: Optional[str] = None,
	extra_env: Optional[Dict[str, str]] = None, settings: Sequence[str] = (),
	input: Union[str, bytes, None] = None, text: bool = True) -> subprocess.CompletedProcess:
	"""Run an isolated git; the caller judges the exit status."""
	return subprocess.run(command(args, cwd, settings), capture_output=True, text=text,
			      input=input, env=env(extra_env))


def read_only(args: Sequence[str], repo: str) -> subprocess.CompletedProcess:
	"""git @args in a user's repository @repo, which it must not write: no
	optional locks (status would refresh the index), no discovery above
	it, and the repository may belong to another user."""
	return run(args, cwd=repo,
		   extra_env={'GIT_OPTIONAL_LOCKS': '0',
			      'GIT_CEILING_DIRECTORIES': os.path.dirname(repo)},
		   settings=('-c', f'safe.directory={repo}'))
