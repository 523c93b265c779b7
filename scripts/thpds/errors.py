"""The one exception type the command line reports as a one-line message."""


class UsageError(Exception):
	"""Bad input or an unusable environment: reported in one line, nothing changed."""
