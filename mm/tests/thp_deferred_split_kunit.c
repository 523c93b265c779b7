// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for the memcg-aware THP deferred split queue.
 *
 * Invariant guarded by every case: a large folio is removed from its
 * deferred split queue, under that queue's lock, before anything clears or
 * changes its memcg.  When the order is broken, the free path looks the
 * queue up from a memcg that is no longer the folio's, locks the wrong
 * queue (the node's), decrements the wrong length, and leaves the folio
 * linked on the memcg queue after it is freed; a later
 * deferred_split_scan() then walks into freed memory.  The bug was fixed
 * (and came back) several times:
 *
 *   commit 7ae88534cdd9 ("mm: move mem_cgroup_uncharge out of __page_cache_release()")
 *   commit 9bcef5973e31 ("mm: memcg: fix split queue list crash when large folio migration")
 *   commit 47932e7048df ("mm: remove folio from deferred split list before uncharging it")
 *   commit be9581ea8c05 ("mm: fix crashes from deferred split racing folio migration")
 *   commit f8f931bba0f9 ("mm/thp: fix deferred split unqueue naming and locking")
 *
 * Every case gets a memory cgroup of its own and its THPs from real
 * anonymous write faults in a test mm, so the folios are what the kernel
 * itself queues (anonymous, rmappable, charged by the fault path) and the
 * kernel queues them itself (at the fault, or when rmap sees a partial
 * unmap).  The cases then free, reclaim, shrink, migrate and offline them
 * through the kernel's own paths and check which queue each folio is on,
 * the queues' length counters, the lists' links and who takes which lock.
 *
 * The suite only observes: it never writes a queue, a counter or a list.
 * A queue a case leaves inconsistent (on a kernel with the bug) stays so;
 * later cases check the node queues relative to the state they found, and
 * skip, saying why, when a queue's links are broken.  It changes no THP
 * setting: a THP size the boot did not enable skips.  What a case creates
 * or changes (its cgroups, the cgroup its thread runs in) is put back by
 * KUnit deferred actions, also when the case fails half-way.
 * thp_deferred_split_kunit.h is the tests' view of the queue: its locks,
 * lists and counters.
 *
 * This file holds the suite's fixture, the helpers that give a case its
 * THPs, and the suite; the cases are in the files named after what they
 * test, the cgroups the cases run in are made by the helpers in
 * thp_deferred_split_cgroup.c, and thp_deferred_split.h is what the files
 * share.
 */

#include <kunit/test.h>
#include <linux/cgroup.h>
#include <linux/delay.h>
#include <linux/mm.h>
#include <linux/huge_mm.h>
#include <linux/memcontrol.h>
#include <linux/mman.h>
#include <linux/page_counter.h>
#include <linux/sched/mm.h>
#include <linux/swap.h>
#include <trace/events/printk.h>

#include "thp_deferred_split.h"

struct thp_ds_state thp_ds;

static void thp_ds_vno_verdict(struct kunit *test, const char *fmt, va_list *args)
{
	struct va_format vaf = { .fmt = fmt, .va = args };

	if (thp_ds_failed(test))
		kunit_info(test, "no verdict: %pV\n", &vaf);
	else
		kunit_mark_skipped(test, "%pV", &vaf);
}

void thp_ds_no_verdict(struct kunit *test, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	thp_ds_vno_verdict(test, fmt, &args);
	va_end(args);
}

void thp_ds_skip(struct kunit *test, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	thp_ds_vno_verdict(test, fmt, &args);
	va_end(args);
	kunit_try_catch_throw(&test->try_catch);
}

/* thp_ds_orders[] (the header's): the orders to run the queue cases for. */
static void thp_ds_order_desc(const unsigned int *order, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "order %u", *order);
}

KUNIT_ARRAY_PARAM(thp_ds_order, thp_ds_orders, thp_ds_order_desc);

unsigned int thp_ds_param_order(struct kunit *test)
{
	const void *param = thp_ds_param_value(test);

	return param ? *(const unsigned int *)param : HPAGE_PMD_ORDER;
}

/* The id of the memcg @folio is charged to (0: none), for messages. */
u64 thp_ds_folio_memcg_id(struct folio *folio)
{
	struct mem_cgroup *memcg;
	u64 id;

	rcu_read_lock();
	memcg = folio_memcg(folio);
	id = memcg ? (u64)mem_cgroup_id(memcg) : 0;
	rcu_read_unlock();
	return id;
}

/*
 * The kernel's warnings, seen as mm/kfence and mm/kasan tests see their
 * reports: through the console tracepoint.  A WARN (list debugging and
 * page_counter underflow report through one), a KASAN or KFENCE report
 * and a BUG each print a line with one of these; the suite's own messages
 * have neither.
 */
static void thp_ds_probe_console(void *ignore, const char *buf, size_t len)
{
	if (strnstr(buf, "WARNING: ", len) || strnstr(buf, "BUG: ", len))
		atomic_inc(&thp_ds.warnings);
}

static int thp_ds_warn_count(void)
{
	return atomic_read(&thp_ds.warnings);
}

/*
 * Wait (bounded) until nothing is charged to @memcg.  Offline drains the
 * per-CPU charge stocks, on other CPUs by queued work, so usage reaches
 * its exact value a little after offline.
 */
unsigned long thp_ds_wait_uncharged(struct mem_cgroup *memcg, int ms)
{
	unsigned long usage;
	int waited;

	for (waited = 0; ; waited += 20) {
		usage = page_counter_read(&memcg->memory);
		if (!usage || waited >= ms)
			return usage;
		msleep(20);
	}
}

/*
 * Move the case's thread into cgroup @path, so that its test mm's faults
 * charge that memcg (the fault charges the mm owner's memcg).  Kernel
 * memory the thread allocates meanwhile (page tables, VMAs) is kept out of
 * it with the root as active memcg, so the memcg's usage is its THPs only.
 */
static int thp_ds_enter(struct thp_ds_ctx *ctx, const char *path, struct mem_cgroup *memcg)
{
	int err = thp_ds_cgroup_home(&thp_ds.cg, ctx->home, sizeof(ctx->home));

	if (err)
		return err;
	ctx->thread = current;
	ctx->pid = task_tgid_nr(current);
	ctx->saved_active = set_active_memcg(root_mem_cgroup);
	err = thp_ds_cgroup_attach(&thp_ds.cg, path, ctx->pid);
	if (err) {
		set_active_memcg(ctx->saved_active);
		return err;
	}
	ctx->entered = true;
	ctx->charge_to = memcg;
	return 0;
}

/*
 * Send the case's thread back where it was.  Also a deferred action, which
 * KUnit runs after the case's thread has ended (a failed assertion or a
 * skip ends it): that thread's exit took it out of the cgroup, and there is
 * nothing to move.  Nor is anything to be written from there: where KUnit
 * cleans up in the thread that runs the suites (v6.1), that is init before
 * it execs, whose file releases wait for its return to user space, and the
 * file would keep the hierarchy mounted.
 */
void thp_ds_leave(void *data)
{
	struct thp_ds_ctx *ctx = data;
	int err;

	if (!ctx->entered)
		return;
	ctx->entered = false;
	if (current != ctx->thread)
		return;
	err = thp_ds_cgroup_attach(&thp_ds.cg, ctx->home, ctx->pid);
	if (err)
		kunit_err(ctx->test, "could not move the case thread back to %s: %d\n",
			  ctx->home, err);
	set_active_memcg(ctx->saved_active);
}

/* Run the case's thread in cgroup @path of @memcg, until thp_ds_leave(). */
void thp_ds_enter_cgroup(struct kunit *test, const char *path, struct mem_cgroup *memcg)
{
	struct thp_ds_ctx *ctx = test->priv;
	int err = thp_ds_enter(ctx, path, memcg);

	if (err)
		thp_ds_skip(test, "cannot move the case thread into cgroup %s: %d", path, err);
	KUNIT_ASSERT_EQ(test, 0, kunit_add_action_or_reset(test, thp_ds_leave, ctx));
}

/* Run the case's thread in the case's own cgroup, until thp_ds_leave(). */
void thp_ds_enter_or_skip(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;

	if (thp_ds.no_memcg)
		return;		/* the THPs are charged to nothing */
	thp_ds_enter_cgroup(test, ctx->path, ctx->memcg);
}

void thp_ds_extra_release(void *data)
{
	struct thp_ds_extra *x = data;

	if (!x->removed)
		thp_ds_cgroup_remove(&thp_ds.cg, x->leaf);
	css_put(&x->memcg->css);
}

/* rmdir the second memcg now and wait (bounded) for it to go offline. */
int thp_ds_extra_offline(struct thp_ds_extra *x)
{
	int err = thp_ds_cgroup_remove(&thp_ds.cg, x->leaf);

	if (err)
		return err;
	x->removed = true;
	return thp_ds_wait_offline(x->memcg) ? 0 : -ETIMEDOUT;
}

/* A case about memcgs themselves has nothing to test without them. */
void thp_ds_need_memcg(struct kunit *test)
{
	if (thp_ds.no_memcg)
		thp_ds_skip(test, "the memory controller is disabled (cgroup_disable=memory)");
}

/* ... nor one about a memcg's own split queue where there is none. */
void thp_ds_need_memcg_queues(struct kunit *test)
{
	thp_ds_need_memcg(test);
	if (thp_ds.node_queues)
		thp_ds_skip(test,
			    "no split queue per memcg: the deferred split list_lru is not memcg aware (cgroup.memory=nokmem)");
}

/*
 * The memcg whose shrinkers reach the case's own queue: its memcg, or
 * where THPs are queued per node only, the root's (global reclaim).
 */
struct mem_cgroup *thp_ds_shrink_target(struct thp_ds_ctx *ctx)
{
	if (thp_ds.no_memcg)
		return NULL;
	return thp_ds.node_queues ? root_mem_cgroup : ctx->memcg;
}

struct thp_ds_extra *thp_ds_extra_memcg(struct kunit *test, const char *suffix)
{
	struct thp_ds_ctx *ctx = test->priv;
	struct thp_ds_extra *x = kunit_kzalloc(test, sizeof(*x), GFP_KERNEL);
	struct mem_cgroup *memcg;
	struct dentry *dir;

	thp_ds_need_memcg(test);
	KUNIT_ASSERT_NOT_NULL(test, x);
	snprintf(x->leaf, sizeof(x->leaf), "%s-%s", ctx->leaf, suffix);
	snprintf(x->path, sizeof(x->path), "%s/%s", thp_ds.cg.top_name, x->leaf);
	memcg = thp_ds_cgroup_create(&thp_ds.cg, x->leaf, &dir);
	if (IS_ERR(memcg))
		thp_ds_skip(test, "cannot create a second memcg %s: %ld", x->path, PTR_ERR(memcg));
	dput(dir);
	x->memcg = memcg;
	KUNIT_ASSERT_EQ(test, 0, kunit_add_action_or_reset(test, thp_ds_extra_release, x));
	return x;
}

/*
 * The suite changes no THP setting: a fault in the case's MADV_HUGEPAGE
 * area allocates an order-@order folio only where the boot (or the
 * administrator) enabled that size, and an order that is not enabled
 * skips, saying how to enable it.
 */
static void thp_ds_need_order(struct kunit *test, unsigned int order)
{
	if (thp_ds_order_enabled(order))
		return;
	if (order == HPAGE_PMD_ORDER)
		thp_ds_skip(test,
			    "PMD-order THP is not enabled (boot with transparent_hugepage=madvise; a thp_anon= must name the PMD size too)");
	thp_ds_skip(test, "order-%u anonymous THP is not enabled (boot with thp_anon=%luK:madvise)",
		    order, (PAGE_SIZE << order) / SZ_1K);
}

void thp_ds_folio_put(void *folio)
{
	folio_put(folio);
}

/**
 * thp_ds_fault() - fault an order-@order THP into the case's test mm
 * @test: the test; its thread must be in the memcg the THP is to charge
 * @order: folio order
 * @addrp: where the THP is mapped (a VMA of exactly its size)
 *
 * The VMA is exactly one folio long and aligned to it, so the fault can
 * allocate neither a larger folio nor a PMD THP in an mTHP case.  Returns
 * the folio with a reference of the case's (released by a deferred action
 * unless the case hands it to the path it tests); a fault that yields any
 * other order skips the case with the reason.
 *
 * What every case then relies on is asserted here: the THP is anonymous
 * and rmappable (what the kernel queues) and charged to the memcg of the
 * cgroup the thread runs in (without a memcg of its own, the memcg queue
 * and the node queue can be one list, and the case would prove nothing),
 * or without the memory controller to none.
 */
struct folio *thp_ds_fault(struct kunit *test, unsigned int order, unsigned long *addrp)
{
	unsigned long size = PAGE_SIZE << order, start, addr;
	struct mem_cgroup *memcg;
	struct folio *folio;
	struct page *page;

	thp_ds_need_order(test, order);
	start = kunit_vm_mmap(test, NULL, 0, 2 * size, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, 0);
	if (IS_ERR_VALUE(start) || !start)
		thp_ds_skip(test, "cannot map anonymous memory in a test mm");
	addr = ALIGN(start, size);
	if (addr > start)
		vm_munmap(start, addr - start);
	if (addr + size < start + 2 * size)
		vm_munmap(addr + size, start + 2 * size - (addr + size));
	KUNIT_ASSERT_EQ(test, 0, do_madvise(current->mm, addr, size, MADV_HUGEPAGE));
	if (get_user_pages_fast(addr, 1, FOLL_WRITE, &page) != 1)
		thp_ds_skip(test, "cannot fault in the test mapping");
	folio = page_folio(page);
	KUNIT_ASSERT_EQ(test, 0, kunit_add_action_or_reset(test, thp_ds_folio_put, folio));
	if (folio_order(folio) != order)
		thp_ds_skip(test,
			    "the fault mapped an order-%u folio, not order %u (memory short?)",
			    folio_order(folio), order);
	KUNIT_ASSERT_TRUE(test, folio_test_anon(folio));
	KUNIT_ASSERT_TRUE(test, thp_ds_folio_queueable(folio));
	rcu_read_lock();
	memcg = folio_memcg(folio);
	rcu_read_unlock();
	KUNIT_ASSERT_PTR_EQ_MSG(test, memcg, ((struct thp_ds_ctx *)test->priv)->charge_to,
				"the order-%u THP is not charged to the memcg of the faulting task",
				order);
	if (!thp_ds.no_memcg)
		KUNIT_ASSERT_FALSE(test, mem_cgroup_is_root(memcg));
	*addrp = addr;
	return folio;
}

/* Drop the case's own reference now (its deferred action with it). */
void thp_ds_put(struct kunit *test, struct folio *folio)
{
	kunit_release_action(test, thp_ds_folio_put, folio);
}

/*
 * Unmap one page of the THP: rmap then sees it partially mapped and queues
 * it for deferred split itself (deferred_split_folio(folio, true)).
 */
void thp_ds_unmap_page(struct kunit *test, unsigned long addr)
{
	KUNIT_ASSERT_EQ(test, 0, do_madvise(current->mm, addr + PAGE_SIZE, PAGE_SIZE,
					    MADV_DONTNEED));
}

/* Unmap all of it: the queued folio lives on by the case's reference only. */
void thp_ds_unmap_all(struct kunit *test, unsigned long addr, struct folio *folio)
{
	KUNIT_ASSERT_EQ(test, 0, do_madvise(current->mm, addr, folio_size(folio),
					    MADV_DONTNEED));
}

/*
 * Put @folio on the LRU and isolate it again, as reclaim does before
 * shrink_folio_list()/shrink_active_list(), and drop the case's reference:
 * the folio is then held by the isolation only, on @list.
 */
bool thp_ds_isolate(struct kunit *test, struct folio *folio, struct list_head *list)
{
	lru_add_drain();
	if (!thp_ds_isolate_lru(folio))
		return false;
	thp_ds_put(test, folio);
	list_add(thp_ds_folio_lru(folio), list);
	return true;
}

/* ---- the case's queues -------------------------------------------------- */

struct thp_ds_node_base *thp_ds_node(struct kunit *test, int nid)
{
	struct thp_ds_ctx *ctx = test->priv;

	KUNIT_ASSERT_TRUE_MSG(test, nid >= 0 && nid < nr_node_ids && ctx->nodes[nid].present,
			      "folio on node %d, which had no memory when the case began", nid);
	return &ctx->nodes[nid];
}

/*
 * The split queue @folio belongs on: its memcg's, for its node, or without
 * a memcg (or a queue per memcg) its node's.  The kernel allocates a
 * memcg's queue when it charges a THP (7.x allocates list_lru sublists on
 * demand); a queue that is not there fails the case.
 */
void thp_ds_folio_queue(struct kunit *test, struct folio *folio, struct thp_ds_queue *q)
{
	struct thp_ds_ctx *ctx = test->priv;
	struct mem_cgroup *memcg = ctx->memcg;
	struct thp_ds_node_base *node;

	if (thp_ds.node_queues) {
		node = thp_ds_node(test, folio_nid(folio));
		*q = node->q;
		ctx->own_len = node->len;
		ctx->own_offset = node->offset;
		return;
	}

	KUNIT_ASSERT_TRUE_MSG(test, thp_ds_memcg_queue(memcg, folio_nid(folio), q),
			      "memcg %llu has no split queue for node %d after charging a THP to it: the charge or fault path did not allocate it",
			      (u64)mem_cgroup_id(memcg), folio_nid(folio));
}

/*
 * The start every queue case shares: in the case's cgroup, fault an
 * order-@order THP and unmap one page of it, so that rmap queues it.
 * Gives the THP (with the case's reference) and where it is mapped, its
 * node's queue as the case found it, and the queue it belongs on.
 */
struct folio *thp_ds_queued_thp(struct kunit *test, unsigned int order,
				unsigned long *addrp, struct thp_ds_node_base **nodep,
				struct thp_ds_queue *mq)
{
	struct folio *folio;

	thp_ds_enter_or_skip(test);
	folio = thp_ds_fault(test, order, addrp);
	*nodep = thp_ds_node(test, folio_nid(folio));
	thp_ds_unmap_page(test, *addrp);
	thp_ds_folio_queue(test, folio, mq);
	return folio;
}

/*
 * The other start: in the case's cgroup, fault a PMD THP and leave it
 * mapped whole.  Where the tree's fault queues a THP (as possibly
 * underused), it must be queued; a THP that is not has no verdict (the
 * administrator may have turned that off).
 */
struct folio *thp_ds_whole_thp(struct kunit *test, unsigned long *addrp,
			       struct thp_ds_node_base **nodep, struct thp_ds_queue *mq)
{
	struct folio *folio;

	thp_ds_enter_or_skip(test);
	folio = thp_ds_fault(test, HPAGE_PMD_ORDER, addrp);
	*nodep = thp_ds_node(test, folio_nid(folio));
	thp_ds_folio_queue(test, folio, mq);
#if THP_DS_FAULT_QUEUES
	if (list_empty(thp_ds_deferred_list(folio)))
		thp_ds_skip(test,
			    "the PMD fault did not queue the THP (transparent_hugepage/shrink_underused off?)");
#endif
	return folio;
}

/* Expect every node queue's counter and links as the case found them. */
static void thp_ds_expect_nodes_unchanged(struct kunit *test, const char *why)
{
	struct thp_ds_ctx *ctx = test->priv;
	int nid;

	for (nid = 0; nid < nr_node_ids; nid++) {
		struct thp_ds_node_base *b = &ctx->nodes[nid];

		if (!b->present)
			continue;
		THP_DS_EXPECT_LEN(test, &b->q, b->len, why);
		thp_ds_check_queue(test, &b->q, b->offset, NULL, NULL);
	}
}

static void thp_ds_teardown(void)
{
	if (!thp_ds.no_memcg && !thp_ds.v1_refused && !thp_ds.v1_absent)
		thp_ds_cgroups_teardown(&thp_ds.cg);
	thp_ds.v1_refused = false;
	thp_ds.v1_absent = false;
	if (thp_ds.probing) {
		unregister_trace_console(thp_ds_probe_console, NULL);
		tracepoint_synchronize_unregister();
		thp_ds.probing = false;
	}
}

/*
 * Set the suite up: the console probe, and the cgroups the suite works in
 * (thp_ds_cgroups_setup()): cgroup2, or (@v1) a cgroup-v1 memory
 * hierarchy.
 */
static int thp_ds_setup(bool v1)
{
	int err;

	if (!has_transparent_hugepage()) {
		pr_err("thp_deferred_split: the machine has no transparent huge pages\n");
		return -EOPNOTSUPP;
	}

	thp_ds.no_memcg = mem_cgroup_disabled();
	thp_ds.node_queues = thp_ds.no_memcg || !thp_ds_memcg_queues();
	if (thp_ds.node_queues && !thp_ds.no_memcg)
		pr_info("thp_deferred_split: no split queue per memcg (cgroup.memory=nokmem?): THPs are queued per node, and the cases run on the node queue\n");
	err = register_trace_console(thp_ds_probe_console, NULL);
	if (err)
		goto fail;
	thp_ds.probing = true;
	if (thp_ds.no_memcg)
		return 0;
	/*
	 * Kernel memory charged under cgroup2 memcgs, still cached per CPU
	 * when the controller moves to v1, is uncharged from a v1 counter it
	 * never went to (a page_counter underflow warning, from
	 * drain_obj_stock()).  The controller is moved only when it never
	 * had cgroup2 memcgs: the cgroup-v1 suite runs first in a boot, or in
	 * a boot of its own, or its cases skip.
	 */
	if (v1 && (thp_ds.dfl_used || thp_ds_memcgs_in_use())) {
		thp_ds.v1_refused = true;
		return 0;
	}
	err = thp_ds_cgroups_setup(&thp_ds.cg, v1);
	if (v1 && err == -ENODEV) {
		thp_ds.v1_absent = true;	/* its cases skip, saying so */
		return 0;
	}
	if (err)
		goto fail;
	thp_ds.dfl_used |= !v1;
	return 0;

fail:
	pr_err("thp_deferred_split: cannot set up the suite's cgroups: %d\n", err);
	thp_ds_teardown();
	return err;
}

int thp_ds_suite_init(struct kunit_suite *suite)
{
	return thp_ds_setup(false);
}

int thp_ds_v1_suite_init(struct kunit_suite *suite)
{
	return thp_ds_setup(true);
}

void thp_ds_suite_exit(struct kunit_suite *suite)
{
	thp_ds_teardown();
}

/*
 * Last of the case's deferred actions (registered first): once its THPs
 * are freed and its thread is out, remove the case's cgroup, wait for the
 * memcg to go offline (which drains the per-CPU charge stocks) and expect
 * exactly nothing charged to it.  This runs however the case ended, so it
 * also proves that a case failing half-way leaks nothing.
 */
static void thp_ds_case_release(void *data)
{
	struct thp_ds_ctx *ctx = data;
	struct kunit *test = ctx->test;
	struct mem_cgroup *memcg = ctx->memcg;
	unsigned long usage;
	int err;

	dput(ctx->dir);
	if (ctx->queue_in_use) {
		/* a lock holder may still run on its queue: keep the memcg (and so the queue) */
		kunit_err(test, "cgroup %s is left in place: a thread of the case may still hold its queue's lock\n",
			  ctx->path);
		return;
	}
	err = thp_ds_cgroup_remove(&thp_ds.cg, ctx->leaf);
	if (err) {
		/* not a check: the case leaves its cgroup behind */
		KUNIT_FAIL(test, "cannot remove the case's cgroup %s (left behind): %d", ctx->path,
			   err);
	} else if (!thp_ds_wait_offline(memcg)) {
		/* not a check: the case leaves a memcg online behind */
		KUNIT_FAIL(test, "memcg %llu still online %d ms after its cgroup was removed",
			   ctx->memcg_id, THP_DS_WAIT_MS);
	} else {
		usage = thp_ds_wait_uncharged(memcg, THP_DS_WAIT_MS);
		/* shown failing by thp_ds_test_checker_leak */
		KUNIT_EXPECT_EQ_MSG(test, usage, 0UL,
				    "memcg %llu still has %lu pages charged %d ms after the case: a folio was leaked or never uncharged",
				    ctx->memcg_id, usage, THP_DS_WAIT_MS);
	}
	css_put(&memcg->css);
}

/*
 * The first of the case's deferred actions, so the last to run: the kernel
 * must not have warned while the case ran, its exit and its other deferred
 * actions (the frees and cgroup removals) included.  A skipped case proved
 * nothing and is left skipped.
 */
static void thp_ds_case_warnings(void *data)
{
	struct thp_ds_ctx *ctx = data;
	struct kunit *test = ctx->test;
	int warns;

	if (thp_ds_case_skipped(test))
		return;
	warns = thp_ds_warn_count();
	KUNIT_EXPECT_EQ_MSG(test, warns, ctx->warns,
			    "the kernel warned %d times during the case (see the log above)",
			    warns - ctx->warns);
}

/* Record a node queue as the case finds it; false when its links are broken. */
static bool thp_ds_node_snapshot(struct kunit *test, int nid, struct thp_ds_node_base *b)
{
	struct thp_ds_walk w;
	char msg[384];

	thp_ds_node_queue(nid, &b->q);
	b->present = true;
	b->len = thp_ds_queue_len(&b->q);
	thp_ds_walk_queue(&b->q, 0, NULL, &w);
	if (!thp_ds_links_intact(&w)) {
		thp_ds_walk_describe(&w, b->q.name, msg, sizeof(msg));
		thp_ds_skip(test, "broken before the case began, nothing is repaired: %s", msg);
	}
	b->offset = w.forward_count - b->len;
	if (b->offset)
		kunit_info(test,
			   "%s was inconsistent before the case began (%ld entries, length counter %ld): checked relative to that\n",
			   b->q.name, w.forward_count, b->len);
	return true;
}

#if !THP_DS_SUITE_INIT
static void thp_ds_fixture_release(void *unused)
{
	thp_ds_teardown();
}

/*
 * Where the tree's KUnit has no suite-level init and exit, each case sets
 * the suite's fixture up for itself, and its last deferred action tears
 * it down again.
 */
static int thp_ds_case_fixture(struct kunit *test, bool v1)
{
	int err = thp_ds_setup(v1);

	if (err)
		return err;
	return kunit_add_action_or_reset(test, thp_ds_fixture_release, NULL);
}
#endif

static int thp_ds_case_init(struct kunit *test, bool v1)
{
	struct thp_ds_ctx *ctx;
	struct mem_cgroup *memcg;
	int nid;

	if (v1 && thp_ds.v1_refused)
		thp_ds_skip(test,
			    "the memory controller has (or had) cgroup2 memcgs in this boot: it is not moved to a cgroup-v1 hierarchy under them (run thp_deferred_split_v1 first, or in a boot of its own)");
	if (v1 && thp_ds.v1_absent)
		thp_ds_skip(test,
			    "the kernel has no cgroup-v1 memory controller (CONFIG_MEMCG_V1=n, or booted with cgroup_no_v1=memory)");

	ctx = kunit_kzalloc(test, sizeof(*ctx), GFP_KERNEL);
	if (!ctx)
		return -ENOMEM;
	ctx->test = test;
	ctx->warns = thp_ds_warn_count();
	if (kunit_add_action_or_reset(test, thp_ds_case_warnings, ctx))
		return -ENOMEM;
	if (thp_ds.no_memcg)
		goto nodes;
	snprintf(ctx->leaf, sizeof(ctx->leaf), "case%d", atomic_inc_return(&thp_ds.cases));
	snprintf(ctx->path, sizeof(ctx->path), "%s/%s", thp_ds.cg.top_name, ctx->leaf);
	memcg = thp_ds_cgroup_create(&thp_ds.cg, ctx->leaf, &ctx->dir);
	if (IS_ERR(memcg)) {
		kunit_err(test, "cannot create the case's cgroup %s: %ld\n", ctx->path,
			  PTR_ERR(memcg));
		return PTR_ERR(memcg);
	}
	ctx->memcg = memcg;
	ctx->memcg_id = mem_cgroup_id(memcg);
	if (kunit_add_action_or_reset(test, thp_ds_case_release, ctx))
		return -ENOMEM;

nodes:
	ctx->nodes = kunit_kcalloc(test, nr_node_ids, sizeof(*ctx->nodes), GFP_KERNEL);
	if (!ctx->nodes)
		return -ENOMEM;
	test->priv = ctx;
	for_each_node_state(nid, N_MEMORY)
		thp_ds_node_snapshot(test, nid, &ctx->nodes[nid]);
	if (thp_ds.no_memcg && v1)
		thp_ds_skip(test, "the memory controller is disabled (cgroup_disable=memory)");
	return 0;
}

int thp_ds_test_init(struct kunit *test)
{
#if !THP_DS_SUITE_INIT
	int err = thp_ds_case_fixture(test, false);

	if (err)
		return err;
#endif
	return thp_ds_case_init(test, false);
}

int thp_ds_v1_test_init(struct kunit *test)
{
#if !THP_DS_SUITE_INIT
	int err = thp_ds_case_fixture(test, true);

	if (err)
		return err;
#endif
	return thp_ds_case_init(test, true);
}

/*
 * Every case must leave the node queues as it found them, also when it
 * failed half-way: a case that skews a node queue's counter fails here,
 * instead of making a later case fail for no visible reason.  (A case's
 * own memcg queue is checked by the case, its memcg by
 * thp_ds_case_release() and the kernel's warnings by
 * thp_ds_case_warnings().)  A skipped case proved nothing, and its
 * deferred actions, which run after this, still hold what it took.
 */
void thp_ds_test_exit(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;

	if (!ctx || thp_ds_case_skipped(test))
		return;
	thp_ds_expect_nodes_unchanged(test, "after the case (residue)");
}

/* Check the case's own queue (see THP_DS_EXPECT_OWN_LEN()). */
void thp_ds_check_own_queue(struct kunit *test, const struct thp_ds_queue *q)
{
	thp_ds_check_queue(test, q, THP_DS_CTX(test)->own_offset, NULL, NULL);
}

/* Check a node queue that is not the case's own (with a memcg). */
void thp_ds_check_node(struct kunit *test, const struct thp_ds_node_base *node)
{
	if (!thp_ds.node_queues)
		thp_ds_check_queue(test, &node->q, node->offset, NULL, NULL);
}

/*
 * The leak check of thp_ds_case_release() sees a THP that outlives its
 * memcg: a memcg of the case's (beside its own) gets a THP that the case
 * keeps a reference to; after rmdir and offline, its usage must still hold
 * the THP.
 */
static void thp_ds_test_checker_leak(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	struct thp_ds_extra *leak;
	struct folio *folio;
	unsigned long addr;

	leak = thp_ds_extra_memcg(test, "leak");
	thp_ds_enter_cgroup(test, leak->path, leak->memcg);
	folio = thp_ds_fault(test, HPAGE_PMD_ORDER, &addr);
	kunit_release_action(test, thp_ds_leave, ctx);
	vm_munmap(addr, HPAGE_PMD_SIZE);

	KUNIT_ASSERT_EQ(test, thp_ds_extra_offline(leak), 0);
	KUNIT_EXPECT_GE(test, thp_ds_wait_uncharged(leak->memcg, 100),
			(unsigned long)HPAGE_PMD_NR);
	thp_ds_put(test, folio);
	kunit_release_action(test, thp_ds_extra_release, leak);
}

/*
 * The kernel queues a THP on the queue of its own memcg (for its node),
 * never on the node queue: the memcg-aware shrinker only finds it there.
 * The PMD fault queues a THP at once (as possibly underused); rmap queues
 * any THP that loses part of its mapping.  commit 87eaceb3faa5 ("mm: thp:
 * make deferred split shrinker memcg aware").
 */
static void thp_ds_test_enqueue(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	struct thp_ds_node_base *node;
	struct thp_ds_queue mq;
	struct folio *folio;
	unsigned long addr;

	folio = thp_ds_queued_thp(test, thp_ds_param_order(test), &addr, &node, &mq);
	THP_DS_EXPECT_OWN_QUEUED(test, &mq, folio, true);
	THP_DS_EXPECT_NOT_ON_NODE(test, node, folio);
	THP_DS_EXPECT_OWN_LEN(test, &mq, 1, "after rmap queued the partially mapped THP");
	THP_DS_EXPECT_NODE_LEN(test, node, "(the THP is charged to a memcg)");

	vm_munmap(addr, folio_size(folio));
	thp_ds_put(test, folio);
	kunit_release_action(test, thp_ds_leave, ctx);
	THP_DS_EXPECT_OWN_LEN(test, &mq, 0, "after the THP was freed");
}

static struct kunit_case thp_ds_test_cases[] = {
	KUNIT_CASE(thp_ds_test_checker_leak),
	KUNIT_CASE_PARAM(thp_ds_test_enqueue, thp_ds_order_gen_params),
	KUNIT_CASE_PARAM(thp_ds_test_free_put, thp_ds_order_gen_params),
	KUNIT_CASE_PARAM(thp_ds_test_free_zap, thp_ds_order_gen_params),
	KUNIT_CASE_PARAM(thp_ds_test_free_reclaim, thp_ds_order_gen_params),
	KUNIT_CASE(thp_ds_test_free_reclaim_lock),
	KUNIT_CASE(thp_ds_test_enqueue_lock),
	KUNIT_CASE(thp_ds_test_shrinker_lock),
	KUNIT_CASE(thp_ds_test_split_lock),
	KUNIT_CASE(thp_ds_test_free_shrink),
	KUNIT_CASE(thp_ds_test_shrinker_requeue),
	KUNIT_CASE(thp_ds_test_shrinker_split),
	KUNIT_CASE(thp_ds_test_split),
	KUNIT_CASE(thp_ds_test_migrate),
	KUNIT_CASE(thp_ds_test_migrate_lock),
	KUNIT_CASE(thp_ds_test_memcg_offline),
	KUNIT_CASE(thp_ds_test_numa_free),
	{}
};

static struct kunit_suite thp_ds_test_suite = {
	.name = "thp_deferred_split",
#if THP_DS_SUITE_INIT
	.suite_init = thp_ds_suite_init,
	.suite_exit = thp_ds_suite_exit,
#endif
	.init = thp_ds_test_init,
	.exit = thp_ds_test_exit,
	.test_cases = thp_ds_test_cases,
};

kunit_test_suites(&thp_ds_v1_suite, &thp_ds_test_suite);

MODULE_DESCRIPTION("KUnit tests for the memcg-aware THP deferred split queue");
MODULE_LICENSE("GPL");
