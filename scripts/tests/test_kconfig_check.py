"""Tests for thpds.kconfig_check: a configuration kunit.py could not make."""

import os
import tempfile
import unittest

from thpds import kconfig_check

# What 6.12's kunit.py printed for --arch=arm64 with
# --kconfig_add=CONFIG_ARM64_VA_BITS_36=y --kconfig_add=CONFIG_NOPE=y
# (36-bit VAs need 16K pages and EXPERT; CONFIG_NOPE is no symbol at all).
KUNIT_LOG = """\
[07:06:55] Configuring KUnit Kernel ...
Generating .config ...
Populating config with:
$ make ARCH=arm64 O=/tmp/kcfg olddefconfig CROSS_COMPILE=aarch64-linux-gnu-
ERROR:root:Not all Kconfig options selected in kunitconfig were in the generated .config.
This is probably due to unsatisfied dependencies.
Missing: CONFIG_ARM64_VA_BITS_36=y, CONFIG_NOPE=y
[07:06:58] Elapsed time: 3.670s
"""

KCONFIG = """\
choice
	prompt "Virtual address space size"

config ARM64_VA_BITS_36
	bool "36-bit" if EXPERT
	depends on PAGE_SIZE_16KB

config ARM64_VA_BITS_48
	bool "48-bit"
	depends on !ARM64_64K_PAGES
	depends on !PAGE_SIZE_16KB

config ARM64_VA_BITS_52
	bool "52-bit"

endchoice

menuconfig TRANSPARENT_HUGEPAGE
	bool "Transparent Hugepage Support"
	depends on HAVE_ARCH_TRANSPARENT_HUGEPAGE && !PREEMPT_RT

if TRANSPARENT_HUGEPAGE

choice
	prompt "Transparent Hugepage Support sysfs defaults"
	depends on TRANSPARENT_HUGEPAGE
"""


class LostOptionsTest(unittest.TestCase):
	def test_the_options_kunit_py_lost_are_read_back(self):
		self.assertEqual(kconfig_check.lost_options(KUNIT_LOG),
				 ['CONFIG_ARM64_VA_BITS_36=y', 'CONFIG_NOPE=y'])

	def test_a_configuration_that_kept_everything_lost_nothing(self):
		self.assertEqual(kconfig_check.lost_options('Building with:\nMissing: nothing\n'), [])

	def test_each_lost_option_is_explained_from_the_tree(self):
		with tempfile.TemporaryDirectory() as tree:
			os.makedirs(os.path.join(tree, 'arch/arm64'))
			with open(os.path.join(tree, 'arch/arm64/Kconfig'), 'w') as f:
				f.write(KCONFIG)
			why = kconfig_check.explain(tree, ['CONFIG_ARM64_VA_BITS_36=y', 'CONFIG_NOPE=y',
							   'CONFIG_ARM64_VA_BITS_48=y',
							   'CONFIG_ARM64_VA_BITS_52=y',
							   'CONFIG_TRANSPARENT_HUGEPAGE=y'])
		self.assertEqual(why.split('; '), [
			'CONFIG_ARM64_VA_BITS_36=y: depends on PAGE_SIZE_16KB',
			'CONFIG_NOPE=y: no Kconfig file of the tree defines NOPE',
			'CONFIG_ARM64_VA_BITS_48=y: depends on (!ARM64_64K_PAGES) && (!PAGE_SIZE_16KB)',
			'CONFIG_ARM64_VA_BITS_52=y: dropped by olddefconfig (a choice or select '
			'decided otherwise)',
			'CONFIG_TRANSPARENT_HUGEPAGE=y: depends on '
			'HAVE_ARCH_TRANSPARENT_HUGEPAGE && !PREEMPT_RT'])


if __name__ == '__main__':
	unittest.main()
