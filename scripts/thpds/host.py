"""The Debian packages the tool needs on the host, and installing them."""

import os
import subprocess
from typing import List

from thpds.errors import UsageError

# Kernel build, QEMU (and its qboot.rom, which kunit.py's x86_64 config asks
# for), ccache, git.
HOST_PACKAGES = ('qemu-system-x86', 'qemu-system-data', 'gcc', 'make', 'flex', 'bison', 'bc',
		 'libelf-dev', 'libssl-dev', 'ccache', 'cpio', 'rsync', 'xz-utils', 'git',
		 'python3')
# A file that shows each package is there.
HOST_FILES = {'qemu-system-x86': '/usr/bin/qemu-system-x86_64',
	      'qemu-system-data': '/usr/share/qemu/qboot.rom',
	      'gcc': '/usr/bin/gcc', 'make': '/usr/bin/make', 'flex': '/usr/bin/flex',
	      'bison': '/usr/bin/bison', 'bc': '/usr/bin/bc',
	      'libelf-dev': '/usr/include/libelf.h', 'libssl-dev': '/usr/include/openssl/ssl.h',
	      'ccache': '/usr/bin/ccache', 'cpio': '/usr/bin/cpio', 'rsync': '/usr/bin/rsync',
	      'xz-utils': '/usr/bin/xz', 'git': '/usr/bin/git', 'python3': '/usr/bin/python3'}


def missing_packages() -> List[str]:
	return [pkg for pkg in HOST_PACKAGES if not os.path.exists(HOST_FILES[pkg])]


def ensure(install: bool) -> None:
	missing = missing_packages()
	if not missing:
		return
	if not install:
		raise UsageError('missing host packages: ' + ' '.join(missing) +
				 ' (apt-get install them, or run with --install-deps as root)')
	if os.geteuid() != 0:
		raise UsageError('missing host packages: ' + ' '.join(missing) +
				 ' (run as root to install them, or apt-get install them)')
	print('[thp-ds] installing ' + ' '.join(missing), flush=True)
	env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
	subprocess.run(['apt-get', 'update', '-q'], check=True, stdout=subprocess.DEVNULL, env=env)
	subprocess.run(['apt-get', 'install', '-y', '-q', '--no-install-recommends', *missing],
		       check=True, stdout=subprocess.DEVNULL, env=env)
