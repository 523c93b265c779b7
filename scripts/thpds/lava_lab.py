"""A LAVA lab on this machine: Debian's lava-server and N lava-worker
processes, loopback only, started and stopped by hand (no init system).

Everything is LAVA's own: PostgreSQL for lava-server's database (set up by
lava-server's postinst.py), gunicorn serving lava-server on 127.0.0.1:8000
(no Apache: the workers and lavacli talk to it directly), lava-scheduler,
and one lava-worker per worker, each with a `qemu` device of its own.  The
commands are those of the packages' systemd units.  Jobs are submitted,
followed and read back with lavacli.  Start is idempotent: what runs is
left running, what exists is kept.
"""

import os
import re
import signal
import subprocess
import time
import urllib.request
from typing import Dict, List, Sequence, Tuple

from thpds.errors import InfraError, UsageError

URL = 'http://127.0.0.1:8000/'
USER = 'thpds'
DEVICES = '/etc/lava-server/dispatcher-config/devices'
DEVICE_DICT = "{{% extends 'qemu.jinja2' %}}\n{{% set mac_addr = '52:54:00:12:34:{mac:02x}' %}}\n"
LOGS = '/var/log/lava-server'
PING_SECONDS = 2
WORKER_LOGS = '/var/log/lava-dispatcher'
# lava-server's events, in its settings as an admin writes them: between
# its passes (every 20 s) lava-scheduler waits for an event, so with them
# a job is scheduled when it is submitted and when a device becomes idle,
# without them up to 20 s later, when a job here runs for seconds.  The
# event stream (lava-publisher's) is published on loopback only.
EVENTS_SETTINGS = '/etc/lava-server/settings.d/01-thp-ds-events.yaml'
EVENTS = 'EVENT_NOTIFICATION: true\nEVENT_SOCKET: "tcp://127.0.0.1:5500"\n'
SERVER = r'gunicorn3 lava_server\.wsgi|gunicorn: \w+ \[lava_server'	# gunicorn renames its processes
SCHEDULER = r'manage lava-scheduler'
PUBLISHER = r'manage lava-publisher'
WORKERS = r'lava-worker .*--name thp-ds-w'
STOP_SECONDS = 20


def run(cmd: List[str], check: bool = True) -> str:
	proc = subprocess.run(cmd, capture_output=True, text=True, cwd='/')
	if check and proc.returncode != 0:
		raise InfraError(f'{" ".join(cmd[:4])} failed: '
				 f'{(proc.stderr or proc.stdout).strip().splitlines()[-1:]}')
	return proc.stdout


def manage(*args: str, check: bool = True) -> str:
	return run(['lava-server', 'manage', *args], check)


def answering(url: str = URL, timeout: float = 2.0) -> bool:
	try:
		with urllib.request.urlopen(url, timeout=timeout) as r:
			return r.status == 200
	except OSError:
		return False


def pids_of(pattern: str) -> List[int]:
	"""Processes whose command line matches @pattern (a regular expression)."""
	found = []
	for pid in os.listdir('/proc'):
		if not pid.isdigit():
			continue
		try:
			with open(f'/proc/{pid}/cmdline', 'rb') as f:
				cmd = f.read().replace(b'\0', b' ').decode(errors='replace')
		except OSError:
			continue
		if re.search(pattern, cmd):
			found.append(int(pid))
	return found


def spawn(cmd: List[str], log: str) -> None:
	"""Start a daemon of the lab in a session of its own."""
	with open(log, 'a') as out:
		subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
				 cwd='/', start_new_session=True)


def postgres() -> None:
	for line in run(['pg_lsclusters', '--no-header']).splitlines():
		version, cluster, _, status = line.split()[:4]
		if status != 'online':
			run(['pg_ctlcluster', version, cluster, 'start'])
		return
	raise InfraError('no PostgreSQL cluster (apt-get install postgresql)')


def database() -> None:
	"""lava-server's database, as its postinst.py sets it up when PostgreSQL
	runs (it skips it when it does not, as on a machine with no init)."""
	if not os.path.exists('/etc/lava-server/settings.d/00-database.yaml'):
		run(['/usr/bin/python3', '/usr/share/lava-server/postinst.py'])


def events() -> bool:
	"""lava-server's events on (EVENTS); whether that changed its settings."""
	try:
		with open(EVENTS_SETTINGS) as f:
			if f.read() == EVENTS:
				return False
	except FileNotFoundError:
		pass
	with open(EVENTS_SETTINGS, 'w') as f:
		f.write(EVENTS)
	return True


def terminate(pattern: str) -> int:
	"""SIGTERM to the processes whose command line matches @pattern; how many."""
	pids = pids_of(pattern)
	for pid in pids:
		try:
			os.kill(pid, signal.SIGTERM)
		except ProcessLookupError:
			pass
	return len(pids)


def publisher() -> None:
	if not pids_of(PUBLISHER):
		spawn(['lava-server', 'manage', 'lava-publisher', '--level', 'INFO', '--log-file',
		       f'{LOGS}/lava-publisher.log', '--host', '127.0.0.1', '--port', '8001'],
		      f'{LOGS}/lava-publisher.out')


def server() -> None:
	if not answering():
		os.makedirs(LOGS, exist_ok=True)
		run(['/usr/bin/gunicorn3', 'lava_server.wsgi', '--log-level', 'INFO', '--log-file',
		     f'{LOGS}/gunicorn.log', '-u', 'lavaserver', '-g', 'lavaserver',
		     '--worker-class', 'eventlet', '--workers', '2', '--bind', '127.0.0.1:8000',
		     '--daemon'])
		for _ in range(60):
			if answering():
				break
			time.sleep(0.5)
		else:
			raise InfraError(f'lava-server did not answer at {URL} (log {LOGS}/gunicorn.log)')
	if not pids_of(SCHEDULER):
		spawn(['lava-server', 'manage', 'lava-scheduler', '--level', 'INFO', '--log-file',
		       f'{LOGS}/lava-scheduler.log'], f'{LOGS}/lava-scheduler.out')


def user_token() -> str:
	if USER not in manage('users', 'list'):
		manage('users', 'add', USER, '--superuser', '--staff', '--passwd',
		       os.urandom(12).hex())
	tokens = re.findall(r'^\* (\S+)', manage('tokens', 'list', '--user', USER), re.M)
	if not tokens:
		manage('tokens', 'add', '--user', USER)
		tokens = re.findall(r'^\* (\S+)', manage('tokens', 'list', '--user', USER), re.M)
	return tokens[0]


def worker_name(i: int) -> str:
	return f'thp-ds-w{i}'


def workers(n: int) -> None:
	"""N workers, each with a qemu device, each running."""
	if 'qemu' not in manage('device-types', 'list'):
		manage('device-types', 'add', 'qemu')
	devices = manage('devices', 'list')
	known = manage('workers', 'list')
	os.makedirs(WORKER_LOGS, exist_ok=True)
	for i in range(1, n + 1):
		name, device = worker_name(i), f'thp-ds-qemu-{i:02d}'
		if name not in known:
			manage('workers', 'add', name)
		if device not in devices:
			path = os.path.join(DEVICES, f'{device}.jinja2')
			os.makedirs(DEVICES, exist_ok=True)
			with open(path, 'w') as f:
				f.write(DEVICE_DICT.format(mac=0x40 + i))
			manage('devices', 'add', '--device-type', 'qemu', '--worker', name, device)
		manage('devices', 'update', '--health', 'GOOD', device, check=False)
		if pids_of(rf'lava-worker .*--name {name} '):
			continue
		token = re.search(r'^token\s*: (\S+)', manage('workers', 'details', name), re.M).group(1)
		work = f'/var/lib/lava/{name}'
		os.makedirs(work, exist_ok=True)
		# a ping every 2 s, not 20: a worker takes a job, and reports it
		# finished, at a ping; a job here runs for seconds
		spawn(['lava-worker', '--level', 'INFO', '--name', name, '--url', URL, '--token', token,
		       '--worker-dir', work, '--log-file', f'{WORKER_LOGS}/{name}.log',
		       '--ping-interval', str(PING_SECONDS)],
		      f'{WORKER_LOGS}/{name}.out')


def idle_beyond(n: int) -> None:
	"""The devices of workers after the first @n: in maintenance, so that no
	job waits for a worker that is not running."""
	for device in re.findall(r'(thp-ds-qemu-(\d+))', manage('devices', 'list', '--all',
								 check=False)):
		if int(device[1]) > n:
			manage('devices', 'update', '--health', 'MAINTENANCE', device[0], check=False)
	for pid in pids_of(WORKERS):
		name = re.search(r'--name thp-ds-w(\d+)', open(f'/proc/{pid}/cmdline').read()
				 .replace('\0', ' '))
		if name and int(name.group(1)) > n:
			os.kill(pid, signal.SIGTERM)


def start(n: int = 2) -> str:
	"""The lab with @n workers; lavacli's URI (with the user's token)."""
	if os.geteuid() != 0:
		raise UsageError('the LAVA lab runs as root (lava-server, lava-worker)')
	postgres()
	database()
	if events():
		# lava-server and its scheduler read their settings when they start
		halt((('lava-server', SERVER), ('scheduler', SCHEDULER)))
	os.makedirs(LOGS, exist_ok=True)
	publisher()
	server()
	token = user_token()
	idle_beyond(n)
	workers(n)
	return f'http://{USER}:{token}@127.0.0.1:8000/RPC2'


def stop() -> List[str]:
	"""Stop what start() started; the database is kept (and PostgreSQL)."""
	return halt((('workers', WORKERS), ('scheduler', SCHEDULER), ('lava-server', SERVER),
		     ('publisher', PUBLISHER)))


def halt(processes: Sequence[Tuple[str, str]]) -> List[str]:
	"""SIGTERM to @processes, (what, command-line pattern) each, and wait,
	bounded, until they are gone: a start right after must not find one
	dying.  What was stopped, with how many processes."""
	stopped = []
	for what, pattern in processes:
		count = terminate(pattern)
		if count:
			stopped.append(f'{what} ({count})')
	for _ in range(STOP_SECONDS * 4):
		left = [what for what, pattern in processes if pids_of(pattern)]
		if not left:
			break
		time.sleep(0.25)
	else:
		raise InfraError(f'still running {STOP_SECONDS} s after SIGTERM: {", ".join(left)}')
	return stopped


def status() -> Dict[str, str]:
	return {'lava-server': 'answering' if answering() else 'not answering',
		'scheduler': f'{len(pids_of(SCHEDULER))} running',
		'publisher (events)': f'{len(pids_of(PUBLISHER))} running',
		'workers': f'{len(pids_of(WORKERS))} running'}


def guest_cpus(definition: str) -> int:
	"""The CPUs a job's guest boots (its '-smp N' in the job's @definition text)."""
	m = re.search(r'-smp (\d+)', definition)
	return int(m.group(1)) if m else 1


def shared_cores(workers: int, cpus: int, cores: int) -> str:
	"""Why @workers guests of @cpus CPUs each, at once on @cores host cores,
	may not get what the tool's own runs have ('' when they do)."""
	if workers < 2 or workers * cpus <= cores:
		return ''
	return (f'{workers} workers run up to {workers} guests of {cpus} CPUs at once on '
		f'{cores} host cores: a lock case waits, bounded, for both of its guest\'s CPUs '
		'to run at once, and may skip with "no verdict" (which fails a run whose port '
		f'does not let it skip); one worker per {cpus} cores gives each guest what '
		'thp-ds run has (docs/lava.md)')


def lavacli(uri: str, *args: str, check: bool = True) -> str:
	return run(['lavacli', '--uri', uri, *args], check)


def submit(uri: str, job_file: str) -> int:
	return int(lavacli(uri, 'jobs', 'submit', job_file).strip().split()[-1])


def state(uri: str, job_id: int) -> Dict[str, str]:
	text = lavacli(uri, 'jobs', 'show', str(job_id))
	return {k.strip().lower(): v.strip() for k, _, v in
		(line.partition(':') for line in text.splitlines()) if _}


def wait(uri: str, ids: List[int], timeout: float, poll: float = 3.0) -> Dict[int, Dict]:
	"""Each job's final state; a job still unfinished after @timeout
	seconds is cancelled and reported as such."""
	end = time.monotonic() + timeout
	done: Dict[int, Dict] = {}
	while len(done) < len(ids):
		for i in ids:
			if i not in done:
				s = state(uri, i)
				if s.get('state') == 'Finished':
					done[i] = s
		if len(done) < len(ids):
			if time.monotonic() > end:
				for i in ids:
					if i not in done:
						lavacli(uri, 'jobs', 'cancel', str(i), check=False)
						done[i] = {'state': 'Cancelled', 'health': 'Incomplete'}
				break
			time.sleep(poll)
	return done


def log_lines(uri: str, job_id: int) -> List[str]:
	return lavacli(uri, 'jobs', 'logs', '--raw', str(job_id)).splitlines()

