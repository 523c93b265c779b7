/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the files of the THP deferred split KUnit tests share: the suite's
 * fixture and per-case state, the queue checker's results and
 * expectations, and the helpers the cases use.  The queue itself is seen
 * through thp_deferred_split_kunit.h.
 */
#ifndef _MM_TESTS_THP_DEFERRED_SPLIT_H
#define _MM_TESTS_THP_DEFERRED_SPLIT_H

#include <kunit/test.h>
#include <linux/mm.h>
#include <linux/huge_mm.h>
#include <linux/memcontrol.h>

#include "../internal.h"
#include "thp_deferred_split_kunit.h"
#include "thp_deferred_split_cgroup.h"

/**
 * enum thp_ds_fault - what thp_ds_walk() found wrong with a list
 * @THP_DS_OK: links consistent, entries minus counter as expected
 * @THP_DS_BAD_POINTER: a link is NULL or LIST_POISON
 * @THP_DS_UNREADABLE: a link points to memory that cannot be read
 * @THP_DS_BROKEN_LINK: @cur->next->prev (or ->prev->next) is not @cur
 * @THP_DS_TOO_LONG: no way back to the head within the walk bound
 * @THP_DS_DIRECTIONS_DIFFER: forward and backward walks count differently
 * @THP_DS_COUNT_MISMATCH: entries on the list differ from the length counter
 */
enum thp_ds_fault {
	THP_DS_OK,
	THP_DS_BAD_POINTER,
	THP_DS_UNREADABLE,
	THP_DS_BROKEN_LINK,
	THP_DS_TOO_LONG,
	THP_DS_DIRECTIONS_DIFFER,
	THP_DS_COUNT_MISMATCH,
};

/* Result of one walk; filled under the queue lock, reported after it. */
struct thp_ds_walk {
	enum thp_ds_fault fault;
	const struct list_head *head;
	long index;			/* entry where the walk stopped */
	const struct list_head *entry;
	const void *expected;
	const void *found;
	bool backward;
	long forward_count;
	long backward_count;
	long counter;
	long offset;			/* the entries minus counter the caller expected */
	bool contains;			/* @wanted is linked on the list */
};

/* thp_deferred_split_check.c: the queue checker */
bool thp_ds_walk(const struct list_head *head, long counter, long offset,
		 const struct list_head *wanted, struct thp_ds_walk *w);
bool thp_ds_links_intact(const struct thp_ds_walk *w);
bool thp_ds_walk_describe(const struct thp_ds_walk *w, const char *name, char *buf, size_t len);
void thp_ds_walk_queue(const struct thp_ds_queue *q, long offset,
		       const struct list_head *wanted, struct thp_ds_walk *w);
bool thp_ds_check_queue(struct kunit *test, const struct thp_ds_queue *q, long offset,
			const struct list_head *wanted, bool *linked);

/* thp_deferred_split_kunit.c: the fixture, and THPs from real faults */

/*
 * Suite fixture: the kernel's own cgroup hierarchy with the memory
 * controller (cgroup2, or for the cgroup-v1 suite a v1 hierarchy of its
 * own) and the suite's top cgroup in it (@cg), and the count of the
 * kernel's warnings, which a console probe keeps (@warnings).  Without
 * the memory controller (@no_memcg: cgroup_disable=memory, as kdump
 * kernels boot) THPs are queued on their node's queue: the cases that
 * need a memcg skip, the others run on the node queue.  The same holds
 * (@node_queues) where the tree keeps no split queue per memcg (7.x with
 * cgroup.memory=nokmem), though the memcgs are there.  The memory
 * controller is moved to a cgroup-v1 hierarchy only while it has never
 * had cgroup2 memcgs in this boot (@v1_refused, @dfl_used), and only where
 * the kernel has a cgroup-v1 memory controller (@v1_absent); otherwise the
 * cgroup-v1 cases skip.
 */
struct thp_ds_state {
	bool no_memcg;			/* booted with cgroup_disable=memory */
	bool v1_refused;		/* the memory controller is not moved to v1 */
	bool v1_absent;			/* the kernel has no v1 memory controller */
	bool dfl_used;			/* cgroup2 memcgs were made in this boot */
	bool node_queues;		/* THPs are queued per node only */
	struct thp_ds_cgroups cg;
	bool probing;			/* thp_ds_probe_console() is registered */
	atomic_t warnings;
	atomic_t cases;
};

/* The case has failed a check already. */
#ifndef thp_ds_failed
#define thp_ds_failed(test) ((test)->status == KUNIT_FAILURE)
#endif

/*
 * The case can give no verdict on what it set out to check.  Unlike KUnit's
 * kunit_mark_skipped() and kunit_skip(), which mark a case skipped whatever
 * it found before, these keep a case that has failed already failed, and
 * only log what it could not check.  thp_ds_no_verdict() goes on with the
 * case's other checks (one that fails later still fails it); thp_ds_skip()
 * ends the case, as kunit_skip() does.
 */
__printf(2, 3) void thp_ds_no_verdict(struct kunit *test, const char *fmt, ...);
__printf(2, 3) void __noreturn thp_ds_skip(struct kunit *test, const char *fmt, ...);

extern struct thp_ds_state thp_ds;

/* A node's split queue as a case found it. */
struct thp_ds_node_base {
	struct thp_ds_queue q;
	bool present;			/* the node has memory */
	long len;			/* its length counter */
	long offset;			/* entries minus counter: 0 unless already broken */
};

/* Per-case state. */
struct thp_ds_ctx {
	struct kunit *test;
	char path[48];			/* the case's cgroup, relative to the cgroup2 root */
	char leaf[16];			/* its name in the suite's top cgroup */
	struct dentry *dir;
	struct mem_cgroup *memcg;
	u64 memcg_id;			/* its id while online, for messages */
	struct thp_ds_node_base *nodes;	/* nr_node_ids entries */
	int warns;			/* thp_ds.warnings when the case began */
	/* while the case's thread runs in a cgroup: where to send it back */
	char home[128];
	struct task_struct *thread;	/* the case's thread (actions run in another) */
	pid_t pid;
	struct mem_cgroup *charge_to;	/* the memcg of the cgroup it runs in */
	struct mem_cgroup *saved_active;
	bool entered;
	bool queue_in_use;		/* a lock holder did not finish: keep the memcg */
	/* the case's own queue as the case found it (thp_ds_folio_queue()) */
	long own_len;
	long own_offset;
};

#define THP_DS_CTX(test)	((struct thp_ds_ctx *)(test)->priv)

/**
 * THP_DS_EXPECT_QUEUED() - expect @folio to be (or not be) on queue @q
 * @test: the test
 * @q: struct thp_ds_queue *, checked as a whole by thp_ds_check_queue()
 * @offset: entries minus counter of @q when the case began
 * @f: struct folio *
 * @queued: whether it should be linked on @q
 *
 * Fails with the queue's name and the folio's state, so that a failure
 * reads as a diagnosis rather than "expected true, got false".
 */
#define THP_DS_EXPECT_QUEUED(test, q, offset, f, queued) do {			\
	struct kunit *__test = (test);						\
	const struct thp_ds_queue *__q = (q);					\
	struct folio *__folio = (f);						\
	bool __linked = false;							\
										\
	thp_ds_check_queue(__test, __q, (offset), thp_ds_deferred_list(__folio),	\
			   &__linked);						\
	KUNIT_EXPECT_TRUE_MSG(__test, __linked == (queued),			\
		"folio pfn %#lx (order %u, memcg %llu) is %s %s",		\
		folio_pfn(__folio), folio_order(__folio),			\
		thp_ds_folio_memcg_id(__folio),					\
		__linked ? "linked on" : "not linked on", __q->name);		\
} while (0)

/**
 * THP_DS_EXPECT_LEN() - expect a queue's length counter to be @len
 * @test: the test
 * @q: struct thp_ds_queue *
 * @len: expected value
 * @why: what should have changed it, for the failure message
 */
#define THP_DS_EXPECT_LEN(test, q, len, why) do {				\
	const struct thp_ds_queue *__q = (q);					\
	long __len = (len), __found = thp_ds_queue_len(__q);			\
										\
	KUNIT_EXPECT_EQ_MSG(test, __found, __len,				\
		"%s: length counter is %ld, expected %ld %s",			\
		__q->name, __found, __len, why);				\
} while (0)

/*
 * A case's own queue, the one its THPs belong on, is its memcg's, which the
 * case began with empty.  Without a memcg it is the node's, checked
 * relative to how the case found it; the checks that a THP stays off the
 * node queue are then the same checks, and are not made.
 */
#define THP_DS_EXPECT_OWN_LEN(test, q, len, why) do {				\
	struct kunit *__t = (test);						\
										\
	THP_DS_EXPECT_LEN(__t, q, THP_DS_CTX(__t)->own_len + (len), why);	\
} while (0)

#define THP_DS_EXPECT_OWN_QUEUED(test, q, f, queued) do {			\
	struct kunit *__t = (test);						\
										\
	THP_DS_EXPECT_QUEUED(__t, q, THP_DS_CTX(__t)->own_offset, f, queued);	\
} while (0)

#define THP_DS_EXPECT_NODE_LEN(test, node, why) do {				\
	const struct thp_ds_node_base *__n = (node);				\
										\
	if (!thp_ds.node_queues)					\
		THP_DS_EXPECT_LEN(test, &__n->q, __n->len, why);		\
} while (0)

#define THP_DS_EXPECT_NOT_ON_NODE(test, node, f) do {				\
	const struct thp_ds_node_base *__n = (node);				\
										\
	if (!thp_ds.node_queues)					\
		THP_DS_EXPECT_QUEUED(test, &__n->q, __n->offset, f, false);	\
} while (0)

unsigned int thp_ds_param_order(struct kunit *test);
u64 thp_ds_folio_memcg_id(struct folio *folio);
unsigned long thp_ds_wait_uncharged(struct mem_cgroup *memcg, int ms);
void thp_ds_leave(void *data);
void thp_ds_enter_cgroup(struct kunit *test, const char *path, struct mem_cgroup *memcg);
void thp_ds_enter_or_skip(struct kunit *test);
void thp_ds_need_memcg(struct kunit *test);
void thp_ds_need_memcg_queues(struct kunit *test);
struct mem_cgroup *thp_ds_shrink_target(struct thp_ds_ctx *ctx);
void thp_ds_folio_put(void *folio);
struct folio *thp_ds_fault(struct kunit *test, unsigned int order, unsigned long *addrp);
void thp_ds_put(struct kunit *test, struct folio *folio);
void thp_ds_unmap_page(struct kunit *test, unsigned long addr);
void thp_ds_unmap_all(struct kunit *test, unsigned long addr, struct folio *folio);
bool thp_ds_isolate(struct kunit *test, struct folio *folio, struct list_head *list);
struct thp_ds_node_base *thp_ds_node(struct kunit *test, int nid);
void thp_ds_folio_queue(struct kunit *test, struct folio *folio, struct thp_ds_queue *q);
struct folio *thp_ds_queued_thp(struct kunit *test, unsigned int order,
				unsigned long *addrp, struct thp_ds_node_base **nodep,
				struct thp_ds_queue *mq);
struct folio *thp_ds_whole_thp(struct kunit *test, unsigned long *addrp,
			       struct thp_ds_node_base **nodep, struct thp_ds_queue *mq);
int thp_ds_suite_init(struct kunit_suite *suite);
int thp_ds_v1_suite_init(struct kunit_suite *suite);
void thp_ds_suite_exit(struct kunit_suite *suite);
int thp_ds_test_init(struct kunit *test);
int thp_ds_v1_test_init(struct kunit *test);
void thp_ds_test_exit(struct kunit *test);

/*
 * A second memcg for a case, beside its own: removed and released by a
 * deferred action however the case ends.  A memcg's own structures are
 * charged to its parent, which is why it is not created under the case's.
 */
struct thp_ds_extra {
	char leaf[32];
	char path[64];
	struct mem_cgroup *memcg;
	bool removed;
};

struct thp_ds_extra *thp_ds_extra_memcg(struct kunit *test, const char *suffix);
void thp_ds_extra_release(void *data);
int thp_ds_extra_offline(struct thp_ds_extra *x);
void thp_ds_check_own_queue(struct kunit *test, const struct thp_ds_queue *q);
void thp_ds_check_node(struct kunit *test, const struct thp_ds_node_base *node);

/* thp_deferred_split_free.c */
bool thp_ds_reclaim_free(struct list_head *list);
void thp_ds_test_free_put(struct kunit *test);
void thp_ds_test_free_zap(struct kunit *test);
void thp_ds_test_free_reclaim(struct kunit *test);

/* thp_deferred_split_lock.c */
struct thp_ds_op {
	void (*fn)(struct thp_ds_op *op);
	const char *what;		/* for messages: "the reclaim-path free" */
	struct list_head list;		/* isolated folios the operation takes */
	struct folio *folio;
	struct mem_cgroup *memcg;
	int nid;
	unsigned long addr;		/* where the folio is mapped in the case's mm */
	bool done_ok;			/* the operation did what the case needs */
};

struct task_struct *thp_ds_start_on(int cpu, int (*fn)(void *), void *data, const char *name);
struct task_struct *thp_ds_start_elsewhere(int (*fn)(void *), void *data, const char *name);
void thp_ds_need_two_cpus(struct kunit *test);
struct thp_ds_op *thp_ds_op_new(struct kunit *test, void (*fn)(struct thp_ds_op *op),
				const char *what);
void thp_ds_under_lock(struct kunit *test, struct thp_ds_op *op,
		       const struct thp_ds_queue *q, const struct thp_ds_queue *node,
		       struct folio *folio);
void thp_ds_test_free_reclaim_lock(struct kunit *test);
void thp_ds_test_enqueue_lock(struct kunit *test);

/* thp_deferred_split_reclaim.c */
void thp_ds_test_free_shrink(struct kunit *test);
void thp_ds_test_shrinker_lock(struct kunit *test);
void thp_ds_test_shrinker_requeue(struct kunit *test);
void thp_ds_test_shrinker_split(struct kunit *test);

/* thp_deferred_split_split.c */
void thp_ds_test_split_lock(struct kunit *test);
void thp_ds_test_split(struct kunit *test);
void thp_ds_test_migrate(struct kunit *test);
void thp_ds_test_migrate_lock(struct kunit *test);

/* thp_deferred_split_offline.c */
void thp_ds_test_memcg_offline(struct kunit *test);

/* thp_deferred_split_numa.c */
void thp_ds_test_numa_free(struct kunit *test);

/* thp_deferred_split_swapout.c */
extern struct kunit_suite thp_ds_v1_suite;
void thp_ds_test_swapout(struct kunit *test);

/* thp_deferred_split_charge_move.c */
void thp_ds_test_charge_move(struct kunit *test);

/* thp_deferred_split_race.c */
void thp_ds_test_race_reclaim_scan(struct kunit *test);

#endif /* _MM_TESTS_THP_DEFERRED_SPLIT_H */
