"""The Debian packages the tool needs on the host, and installing them."""

import os
import shutil
import subprocess
from typing import List, Sequence

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
	      'xz-utils': '/usr/bin/xz', 'git': '/usr/bin/git', 'python3': '/usr/bin/python3',
	      'busybox-static': '/bin/busybox',
	      'gcc-aarch64-linux-gnu': '/usr/bin/aarch64-linux-gnu-gcc',
	      'qemu-system-arm': '/usr/bin/qemu-system-aarch64',
	      'python3-jsonschema': '/usr/lib/python3/dist-packages/jsonschema/__init__.py',
	      'libxml2-utils': '/usr/bin/xmllint',
	      'lava-common': '/usr/lib/python3/dist-packages/lava_common/schemas/__init__.py',
	      'python3-voluptuous': '/usr/lib/python3/dist-packages/voluptuous/__init__.py',
	      'python3-yaml': '/usr/lib/python3/dist-packages/yaml/__init__.py',
	      'python3-jinja2': '/usr/lib/python3/dist-packages/jinja2/__init__.py',
	      'lava-dispatcher': '/usr/bin/lava-run',
	      'lava-server': '/usr/share/lava-server/device-types/qemu.jinja2',
	      'lavacli': '/usr/bin/lavacli', 'postgresql': '/usr/bin/pg_lsclusters'}
# What LAVA jobs need (thp-ds jobs): LAVA's own job schema (lava-common,
# with python3-voluptuous) and YAML.
LAVA_PACKAGES = ('lava-common', 'python3-voluptuous', 'python3-yaml')
# What running them here with LAVA's dispatcher needs (thp-ds lava-run):
# lava-run itself, and lava-server's device-type templates.
LAVA_RUN_PACKAGES = (*LAVA_PACKAGES, 'lava-dispatcher', 'lava-server')
# What a LAVA lab here needs besides (thp-ds lava-lab): lavacli to submit,
# PostgreSQL for lava-server's database.
LAB_PACKAGES = (*LAVA_RUN_PACKAGES, 'lavacli', 'postgresql')
# Needed by the project's tests only (check): the validators of the result
# schema (JSON Schema), of the JUnit XML (XML Schema, xmllint) and of the
# LAVA jobs, and Jinja2 to render the KernelCI job's template.
CHECK_PACKAGES = ('python3-jsonschema', 'libxml2-utils', *LAVA_PACKAGES, 'python3-jinja2')
# Needed by the live systems only (rerun, the live profile): their initramfs.
RERUN_PACKAGES = ('busybox-static',)


def profile_packages(profile: str) -> Sequence[str]:
	"""What a build profile needs besides HOST_PACKAGES."""
	return RERUN_PACKAGES if profile == 'live' else ()


def missing_packages(packages: Sequence[str] = HOST_PACKAGES) -> List[str]:
	return [pkg for pkg in packages if not os.path.exists(HOST_FILES[pkg])]


def install_command() -> List[str]:
	"""How to run apt-get here: directly as root, else through sudo.

	Installing host packages is the only thing the tool needs root for;
	everything else (the private package lists, apt-get download, unpack,
	git, builds) runs as an ordinary user.
	"""
	if os.geteuid() == 0:
		return ['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get']
	if shutil.which('sudo'):
		# DEBIAN_FRONTEND is not passed through sudo: a sudoers policy may
		# refuse to set variables, and a user at a terminal can answer.
		return ['sudo', 'apt-get']
	return []


def ensure(install: bool, extra: Sequence[str] = ()) -> None:
	missing = missing_packages((*HOST_PACKAGES, *extra))
	if not missing:
		return
	if not install:
		raise UsageError('missing host packages: ' + ' '.join(missing) +
				 ' (apt-get install them, or run with --install-deps: as root, or '
				 'as a user with sudo)')
	apt_get = install_command()
	if not apt_get:
		raise UsageError('missing host packages: ' + ' '.join(missing) +
				 ' (--install-deps needs root or sudo, and there is no sudo: run as '
				 'root, or have them installed: apt-get install ' + ' '.join(missing) + ')')
	print('[thp-ds] installing ' + ' '.join(missing)
	      + (' (through sudo)' if apt_get[0] == 'sudo' else ''), flush=True)
	subprocess.run([*apt_get, 'update', '-q'], check=True, stdout=subprocess.DEVNULL)
	subprocess.run([*apt_get, 'install', '-y', '-q', '--no-install-recommends', *missing],
		       check=True, stdout=subprocess.DEVNULL)
