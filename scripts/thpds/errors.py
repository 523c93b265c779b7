"""The errors the command line reports in one line, and their exit statuses.

  0  the verdict is PASS
  1  the verdict is FAIL
  2  usage error: bad input, or an environment the tool cannot use; nothing changed
  3  the infrastructure failed: download, unpack, git, build, disk, apt
"""


class ThpDsError(Exception):
	"""An error the tool explains in one line; exit_code says which kind."""
	exit_code = 3


class UsageError(ThpDsError):
	"""Bad input or an unusable environment: reported in one line, nothing changed."""
	exit_code = 2


class InfraError(ThpDsError):
	"""The machinery failed (network, archive, git, disk, build): no verdict."""
	exit_code = 3
