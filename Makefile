# SPDX-License-Identifier: GPL-2.0
#
# Makefile line of the THP deferred-split KUnit suite.  This is a fragment
# for mm/Makefile (the tool appends it there); it is not a Makefile to run.

obj-$(CONFIG_THP_DEFERRED_SPLIT_KUNIT_TEST) += tests/thp_deferred_split_kunit.o
