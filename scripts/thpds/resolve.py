"""A tree's own form of the suite: the port's constants and one-line
helpers resolved into the suite's files.

The suite's files serve every port; what differs between trees is in the
port's header (ports/<X.Y>/mm/tests/thp_deferred_split_kunit.h).  Two
kinds of difference need not survive into a tree's form, and must not
reach the upstream series (a reviewer of mainline would ask why a test
spells `&folio->_deferred_list` through a helper, or keeps code for paths
the tree does not have):

  - flags: a port's header defines "#define THP_DS_<NAME> 0" or "1" (what
    the tree does, with a comment saying so).  The suite's files test a
    flag only as "#if THP_DS_<NAME>" or "#if !THP_DS_<NAME>", with
    "#else" and "#endif": the tree's branch stays, the other goes, and
    so do the directives and the flag's definition.
  - inlines: ports/<X.Y>/inlines names helpers of the port's header that
    are only the tree's spelling of one expression ("return <expr>;") or
    one statement: each call is replaced by that body, with the
    arguments put in for the parameters, and the helper goes.

Resolving changes no meaning (the compiler already folds both), so the
tool's runs build the files as they are; the series (thpds/series.py) is
resolved, and checked by building and booting it.  A flag the suite
tests but the port does not define (which the C preprocessor would take
as 0) is refused, as is any other use of a flag or a helper the port
inlines.
"""

import os
import re
from typing import Dict, List, Optional, Tuple

from thpds import sources
from thpds.errors import UsageError

HEADER = 'mm/tests/thp_deferred_split_kunit.h'	# a port's header, by its path in a tree
FLAG_DEFINE = re.compile(r'^#define (THP_DS_[A-Z0-9_]+)\s+([01])\s*$')
FLAG_IF = re.compile(r'^#if (!?)(THP_DS_[A-Z0-9_]+)\s*(?:/\*.*\*/)?$')
DIRECTIVE = re.compile(r'^#\s*(if|ifdef|ifndef|elif|else|endif)\b')
FLAG_NAME = re.compile(r'\bTHP_DS_[A-Z0-9_]+\b')
# A helper a port may inline: one line of body, a return or a statement.
HELPER = re.compile(r'^static inline (?P<type>[\w ]+?\s*\**)\s*(?P<name>thp_ds_\w+)'
		    r'\((?P<params>[^)]*)\)\n\{\n\t(?P<body>[^\n]+;)\n\}\n', re.M)
COMMENT = r'^/\*(?:[^*]|\*(?!/))*\*/\n'		# a block comment, its own lines
COMMENT_ABOVE = re.compile(COMMENT + r'\Z', re.M)	# the one right above


class ResolveError(UsageError):
	"""The suite's files cannot be resolved for a port; the message says why."""


def flags(header: str) -> Dict[str, bool]:
	"""The flags a port's header defines: name -> value."""
	return {m.group(1): m.group(2) == '1'
		for m in map(FLAG_DEFINE.match, header.split('\n')) if m}


def inline_names(port: str, repo: str = sources.REPO) -> List[str]:
	"""The helpers a port inlines (ports/<X.Y>/inlines, one name per line)."""
	return sources.declarations(os.path.join(repo, 'ports', port, 'inlines'))


class Helper:
	"""A one-line helper of a port's header."""

	def __init__(self, name: str, params: str, body: str):
		self.name = name
		self.params = [p.split()[-1].lstrip('*') for p in params.split(',')
			       if p.strip() and p.strip() != 'void']
		self.returns = body.startswith('return ')
		self.body = body[len('return '):-1] if self.returns else body[:-1]

	def expand(self, args: List[str]) -> str:
		if len(args) != len(self.params):
			raise ResolveError(f'{self.name}() takes {len(self.params)} arguments, '
					   f'called with {len(args)}')
		out = self.body
		for param, arg in zip(self.params, args):
			out = re.sub(r'(?P<before>[&*!~]?)(?<!->)(?<!\.)\b' + param
				     + r'\b(?P<after>->|\.|\[)?',
				     lambda m, a=arg: m.group('before')
				     + (a if _postfix(a) or not (m.group('before') or m.group('after'))
					else f'({a})') + (m.group('after') or ''), out)
		return out


def helpers(header: str, names: List[str]) -> Tuple[Dict[str, Helper], str]:
	"""The named helpers of a port's header, and the header without them
	(and without the comment above each)."""
	found: Dict[str, Helper] = {}
	for m in HELPER.finditer(header):
		if m.group('name') in names:
			found[m.group('name')] = Helper(m.group('name'), m.group('params'),
							 m.group('body'))
	missing = [n for n in names if n not in found]
	if missing:
		raise ResolveError(f'{HEADER}: {missing[0]} is not a helper of one line '
				   '("static inline ... {" and one statement)')
	out = header
	for name in found:
		m = next(m for m in HELPER.finditer(out) if m.group('name') == name)
		start, end = m.start(), m.end()
		above = COMMENT_ABOVE.search(out[:start])
		if above:
			start = above.start()
		out = out[:start] + out[end:].lstrip('\n')
	return found, out


def _postfix(expr: str) -> bool:
	"""Whether @expr needs no parentheses before ->, . or [ (or after &, !):
	a name, with calls, members or indexes after it."""
	flat = expr
	while True:	# take out what calls and indexes enclose
		inner = re.sub(r'\([^()]*\)|\[[^\[\]]*\]', '()', flat)
		if inner == flat:
			break
		flat = inner
	return bool(re.fullmatch(r'[A-Za-z_]\w*(?:\(\)|->\w+|\.\w+)*', flat))


def _top_level_binary(expr: str) -> bool:
	depth = 0
	for i, ch in enumerate(expr):
		depth += ch in '([' and 1 or (ch in ')]' and -1 or 0)
		if depth == 0 and ch == ' ':
			return True	# the kernel's style puts spaces around binary operators
	return False


def _call_args(text: str, open_at: int) -> Tuple[List[str], int]:
	"""The arguments of the call whose "(" is at @open_at, and the index after ")"."""
	depth, args, start = 0, [], open_at + 1
	for i in range(open_at, len(text)):
		ch = text[i]
		if ch in '([':
			depth += 1
		elif ch in ')]':
			depth -= 1
			if depth == 0:
				last = text[start:i].strip()
				if last or args:
					args.append(last)
				return args, i + 1
		elif ch == ',' and depth == 1:
			args.append(text[start:i].strip())
			start = i + 1
	raise ResolveError('unbalanced parentheses in a call')


def _inline(rel: str, text: str, found: Dict[str, Helper]) -> str:
	if not found:
		return text
	call = re.compile(r'\b(' + '|'.join(map(re.escape, found)) + r')\(')
	out, at = [], 0
	while True:
		m = call.search(text, at)
		if not m:
			break
		helper = found[m.group(1)]
		line = text.count('\n', 0, m.start()) + 1
		try:
			args, end = _call_args(text, m.end() - 1)
			body = helper.expand(args)
		except ResolveError as e:
			raise ResolveError(f'{rel}:{line}: {e}') from None
		before = text[text.rfind('\n', 0, m.start()) + 1:m.start()]
		after = text[end:text.find('\n', end) if '\n' in text[end:] else len(text)]
		if not helper.returns:
			if before.strip() or not after.startswith(';'):
				raise ResolveError(f'{rel}:{line}: {helper.name}() is a statement, '
						   'not used as one')
			end += 1
			body += ';'
		elif _top_level_binary(body) and not _safe(before, after, body):
			body = f'({body})'
		out.append(text[at:m.start()] + body)
		at = end
	out.append(text[at:])
	return ''.join(out)


def _safe(before: str, after: str, body: str) -> bool:
	"""Whether an expression with binary operators needs no parentheses
	where it is put: a whole argument, condition or right-hand side, or an
	operand of && or || (when it has neither itself)."""
	b, a = before.rstrip(), after.lstrip()
	whole = (b.endswith(('(', ',', '=', 'return')) and a.startswith((')', ',', ';')))
	logical = (b.endswith(('(', '&&', '||')) and a.startswith((')', '&&', '||'))
		   and not re.search(r'&&|\|\||\?|[^=!<>]=[^=]', body))
	return whole or logical


def _resolve_flags(rel: str, text: str, values: Dict[str, bool]) -> str:
	out: List[str] = []
	stack: List[Optional[List[bool]]] = []	# per #if: [keep now] for a flag's, None otherwise
	for number, line in enumerate(text.split('\n'), 1):
		where = f'{rel}:{number}'
		directive = DIRECTIVE.match(line)
		m = FLAG_IF.match(line)
		if m:
			if m.group(2) not in values:
				raise ResolveError(f'{where}: {m.group(2)} is no flag of the port\'s '
						   f'{HEADER}')
			stack.append([values[m.group(2)] != bool(m.group(1))])
			continue
		if directive:
			kind = directive.group(1)
			if kind in ('if', 'ifdef', 'ifndef'):
				stack.append(None)
			elif not stack:
				raise ResolveError(f'{where}: #{kind} without #if')
			elif stack[-1] is not None:
				if kind == 'elif':
					raise ResolveError(f'{where}: #elif after a flag\'s #if')
				if kind == 'else':
					stack[-1][0] = not stack[-1][0]
				else:
					stack.pop()
				continue
			elif kind == 'endif':
				stack.pop()
		if FLAG_DEFINE.match(line):
			continue
		code = re.sub(r'/\*.*?\*/|"(?:[^"\\]|\\.)*"', '', line)
		if not line.lstrip().startswith('*') and \
		   set(FLAG_NAME.findall(code)) & set(values):
			raise ResolveError(f'{where}: a flag used other than as "#if THP_DS_X": '
					   f'{line.strip()}')
		if all(frame is None or frame[0] for frame in stack):
			out.append(line)
	if stack:
		raise ResolveError(f'{rel}: #if without #endif')
	return _tidy('\n'.join(out))


def _without_flag_comments(header: str) -> str:
	"""The header without the comment directly above each flag's #define."""
	return re.sub(COMMENT + r'(?=#define THP_DS_[A-Z0-9_]+\s+[01]\s*\n)', '', header,
		      flags=re.M)


def _tidy(text: str) -> str:
	"""No two blank lines in a row, none after "{" or before "}"."""
	text = re.sub(r'\n{3,}', '\n\n', text)
	text = re.sub(r'\{\n\n', '{\n', text)
	return re.sub(r'\n\n(\t*\})', r'\n\1', text)


def resolve(files: Dict[str, bytes], header: str, inlines: List[str]) -> Dict[str, bytes]:
	"""The suite's files (as a tree gets them, the port's included) with
	the flags of the port's @header and its helpers named in @inlines
	resolved.  @header is the port's whole header, also where @files do
	not have it yet (an early patch of the series)."""
	values = flags(header)
	found, _ = helpers(header, inlines)
	out: Dict[str, bytes] = {}
	for rel, data in files.items():
		if not sources.is_source(rel):
			out[rel] = data
			continue
		text = data.decode()
		if rel == HEADER:
			text = helpers(_without_flag_comments(text), inlines)[1]
		text = _resolve_flags(rel, text, values)
		text = _inline(rel, text, found)
		left = re.search(r'\b(' + '|'.join(map(re.escape, found)) + r')\b', text) \
			if found else None
		if left:
			line = text.count('\n', 0, left.start()) + 1
			raise ResolveError(f'{rel}:{line}: {left.group(1)} is inlined by the port, '
					   'but named here other than in a call')
		out[rel] = text.encode()
	return out


def for_port(files: Dict[str, bytes], port: str, repo: str = sources.REPO) -> Dict[str, bytes]:
	"""resolve() with @port's header and inlines."""
	with open(os.path.join(repo, 'ports', port, HEADER)) as f:
		header = f.read()
	return resolve(files, header, inline_names(port, repo))
