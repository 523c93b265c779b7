// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for the memcg-aware THP deferred split queue.
 *
 * The kswapd crash as a bounded race: reclaim frees batches of queued THPs
 * on one CPU while the deferred split shrinker scans the same queue on
 * another.  A suite of its own, run last: on a kernel with the bug it can
 * crash the kernel.
 */

#include <kunit/test.h>
#include <linux/atomic.h>
#include <linux/completion.h>
#include <linux/cpumask.h>
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/refcount.h>
#include <linux/slab.h>
#include <linux/swap.h>

#include "thp_deferred_split.h"

/*
 * How long the reclaim/shrinker race runs (a slow case), and its batch of
 * THPs: up to 8, and no more than 16 MB of them (a PMD THP is 2 MB with
 * 4K pages, 512 MB with arm64's 64K pages).
 */
#define THP_DS_RACE_MS		2000
#define THP_DS_RACE_BATCH_MAX	8
#define THP_DS_RACE_BATCH	clamp_t(unsigned int, SZ_16M / HPAGE_PMD_SIZE, 1, \
					THP_DS_RACE_BATCH_MAX)

/*
 * The other side of the race: the shrinker scanning the case memcg's
 * queue, from every other online CPU (as kswapd and direct reclaimers
 * scan it at once on a larger machine).  Refcounted and holding its own
 * reference on the memcg, so that however the case ends (an assertion in
 * its loop included), no scanner runs on a freed memcg or frees what the
 * case still reads; the case stops them and waits for them (bounded) in a
 * deferred action.
 */
struct thp_ds_scanner {
	struct mem_cgroup *memcg;
	int nid;
	bool stop;
	atomic_long_t scans;
	atomic_t running;		/* scanner threads, and one for their starter */
	refcount_t ref;
	struct completion done;		/* every scanner has ended */
};

static void thp_ds_scanner_put(struct thp_ds_scanner *sc)
{
	if (refcount_dec_and_test(&sc->ref)) {
		if (sc->memcg)
			css_put(&sc->memcg->css);
		kfree(sc);
	}
}

static int thp_ds_scanner_fn(void *data)
{
	struct thp_ds_scanner *sc = data;
	unsigned long deadline = jiffies + msecs_to_jiffies(THP_DS_RACE_MS + THP_DS_WAIT_MS);

	while (!READ_ONCE(sc->stop) && time_before(jiffies, deadline)) {
		thp_ds_shrink(sc->memcg, sc->nid);
		atomic_long_inc(&sc->scans);
		cond_resched();
	}
	if (atomic_dec_and_test(&sc->running))
		complete_all(&sc->done);
	thp_ds_scanner_put(sc);
	return 0;
}

/*
 * Start a scanner on every online CPU but the caller's; returns how many
 * started.  The starter's own count in @sc->running keeps @sc->done from
 * completing before the last has started.
 */
static int thp_ds_start_scanners(struct thp_ds_scanner *sc)
{
	struct task_struct *task;
	int cpu, started = 0;

	atomic_set(&sc->running, 1);
	for_each_online_cpu(cpu) {
		if (cpu == raw_smp_processor_id())
			continue;
		refcount_inc(&sc->ref);
		atomic_inc(&sc->running);
		task = thp_ds_start_on(cpu, thp_ds_scanner_fn, sc, "thp_ds_scanner");
		if (IS_ERR(task)) {
			atomic_dec(&sc->running);
			refcount_dec(&sc->ref);
			continue;
		}
		started++;
	}
	if (atomic_dec_and_test(&sc->running))
		complete_all(&sc->done);
	return started;
}

/* Deferred action: stop the scanners and wait for them (bounded), then let go of them. */
static void thp_ds_scanner_stop(void *data)
{
	struct thp_ds_scanner *sc = data;

	WRITE_ONCE(sc->stop, true);
	wait_for_completion_timeout(&sc->done, msecs_to_jiffies(THP_DS_WAIT_MS));
	thp_ds_scanner_put(sc);
}

/*
 * The kswapd crash, as a race: reclaim frees batches of queued THPs through
 * move_folios_to_lru() on this CPU while the deferred split shrinker scans
 * the same memcg queue on each of the others.  If the free unlinks a folio under
 * another lock than the memcg queue's, the scan's list operations and the
 * free's collide; with CONFIG_DEBUG_LIST the kernel reports the corruption
 * (a warning, which the case's warning check catches), and the checker
 * finds the queue's links or counter broken.  A patched kernel stays
 * silent.  The THPs are queued and freed in batches, as reclaim frees
 * them, so that the shrinker finds several on the queue at once.
 *
 * Timing: runs for THP_DS_RACE_MS; a bug that the race does not hit in
 * that time still shows in the counters, which every batch moves.
 */
void thp_ds_test_race_reclaim_scan(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	unsigned long frees = 0, scans, deadline;
	struct thp_ds_node_base *node = NULL;
	struct thp_ds_scanner *sc;
	struct thp_ds_queue mq;
	int i, scanners;
	bool stopped;

	thp_ds_need_two_cpus(test);
	sc = kzalloc_obj(*sc, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, sc);
	sc->memcg = thp_ds_shrink_target(ctx);
	if (sc->memcg)
		css_get(&sc->memcg->css);
	sc->nid = numa_node_id();
	refcount_set(&sc->ref, 1);
	init_completion(&sc->done);
	thp_ds_enter_or_skip(test);

	/*
	 * Pinned for the whole race (by affinity, since the loop may sleep
	 * and assert): this case's thread ends with the case.
	 */
	set_cpus_allowed_ptr(current, cpumask_of(raw_smp_processor_id()));
	scanners = thp_ds_start_scanners(sc);
	if (!scanners) {
		thp_ds_scanner_put(sc);
		thp_ds_skip(test, "cannot start a scanner thread (no verdict)");
	}
	KUNIT_ASSERT_EQ(test, 0, kunit_add_action_or_reset(test, thp_ds_scanner_stop, sc));

	deadline = jiffies + msecs_to_jiffies(THP_DS_RACE_MS);
	while (time_before(jiffies, deadline)) {
		unsigned long addr[THP_DS_RACE_BATCH_MAX];
		struct folio *folio[THP_DS_RACE_BATCH_MAX];
		LIST_HEAD(list);

		for (i = 0; i < THP_DS_RACE_BATCH; i++) {
			folio[i] = thp_ds_fault(test, HPAGE_PMD_ORDER, &addr[i]);
			thp_ds_unmap_page(test, addr[i]);
		}
		if (!node) {
			node = thp_ds_node(test, folio_nid(folio[0]));
			thp_ds_folio_queue(test, folio[0], &mq);
		}
		for (i = 0; i < THP_DS_RACE_BATCH; i++) {
			vm_munmap(addr[i], HPAGE_PMD_SIZE);
			if (!thp_ds_isolate(test, folio[i], &list))
				break;
		}
		thp_ds_reclaim_free(&list);
		frees += i;
		if (i < THP_DS_RACE_BATCH)
			break;	/* the rest are released by their deferred actions */
		cond_resched();
	}
	WRITE_ONCE(sc->stop, true);
	stopped = wait_for_completion_timeout(&sc->done, msecs_to_jiffies(THP_DS_WAIT_MS));
	scans = atomic_long_read(&sc->scans);
	kunit_release_action(test, thp_ds_scanner_stop, sc);
	if (!stopped)
		thp_ds_skip(test, "the scanner did not stop within %d ms (no verdict)",
			    THP_DS_WAIT_MS);
	kunit_release_action(test, thp_ds_leave, ctx);
	lru_add_drain_all();

	kunit_info(test, "%lu reclaim-path frees against %lu shrinker scans on %d CPUs in %d ms\n",
		   frees, scans, scanners, THP_DS_RACE_MS);
	if (!frees || !scans)
		thp_ds_skip(test, "no race: %lu frees, %lu scans (no verdict)", frees, scans);
	thp_ds_check_own_queue(test, &mq);
	thp_ds_check_node(test, node);
	THP_DS_EXPECT_OWN_LEN(test, &mq, 0, "after the race");
	THP_DS_EXPECT_NODE_LEN(test, node, "after the race");
}

/*
 * The race gets a suite of its own, and an option of its own
 * (CONFIG_THP_DEFERRED_SPLIT_KUNIT_RACE, default n): it runs for
 * THP_DS_RACE_MS, and on a kernel with the bug it can crash the kernel the
 * way kswapd crashed (deferred_split_scan() following a freed folio's list),
 * and then no later case would report.  Its file is linked after the
 * others, so the suite runs after the deterministic ones and their
 * results stand whatever happens here.
 */
static struct kunit_case thp_ds_race_cases[] = {
	KUNIT_CASE_SLOW(thp_ds_test_race_reclaim_scan),
	{}
};

static struct kunit_suite thp_ds_race_suite = {
	.name = "thp_deferred_split_race",
#if THP_DS_SUITE_INIT
	.suite_init = thp_ds_suite_init,
	.suite_exit = thp_ds_suite_exit,
#endif
	.init = thp_ds_test_init,
	.exit = thp_ds_test_exit,
	.test_cases = thp_ds_race_cases,
};

kunit_test_suites(&thp_ds_race_suite);
