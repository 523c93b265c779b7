# SPDX-License-Identifier: GPL-2.0
#
# Makefile lines of the THP deferred-split KUnit suite.  This is a fragment
# for mm/Makefile (the tool appends it there, with the lines of the files a
# port or a patch of the series has); it is not a Makefile to run.  The
# checker is linked first and the race last: the checker's self-tests run
# before the suites that rely on it, the race after them.

obj-$(CONFIG_THP_DEFERRED_SPLIT_KUNIT_TEST) += tests/thp_deferred_split_cgroup.o
obj-$(CONFIG_THP_DEFERRED_SPLIT_KUNIT_TEST) += tests/thp_deferred_split_check.o
obj-$(CONFIG_THP_DEFERRED_SPLIT_KUNIT_TEST) += tests/thp_deferred_split_kunit.o
obj-$(CONFIG_THP_DEFERRED_SPLIT_KUNIT_TEST) += tests/thp_deferred_split_free.o
obj-$(CONFIG_THP_DEFERRED_SPLIT_KUNIT_TEST) += tests/thp_deferred_split_lock.o
obj-$(CONFIG_THP_DEFERRED_SPLIT_KUNIT_TEST) += tests/thp_deferred_split_reclaim.o
obj-$(CONFIG_THP_DEFERRED_SPLIT_KUNIT_TEST) += tests/thp_deferred_split_split.o
obj-$(CONFIG_THP_DEFERRED_SPLIT_KUNIT_TEST) += tests/thp_deferred_split_offline.o
obj-$(CONFIG_THP_DEFERRED_SPLIT_KUNIT_TEST) += tests/thp_deferred_split_numa.o
obj-$(CONFIG_THP_DEFERRED_SPLIT_KUNIT_TEST) += tests/thp_deferred_split_swapout.o
obj-$(CONFIG_THP_DEFERRED_SPLIT_KUNIT_TEST) += tests/thp_deferred_split_charge_move.o
obj-$(CONFIG_THP_DEFERRED_SPLIT_KUNIT_RACE) += tests/thp_deferred_split_race.o
