/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What thp_deferred_split_kunit.c needs to know about this tree (7.2
 * family): the deferred split queue is the list_lru deferred_split_lru.
 * Each (memcg, node) has a struct list_lru_one with its own spinlock, list
 * and item count; the root memcg (kmemcg_id -1) and folios without a memcg
 * share the node's global list.  The per-memcg lists are allocated on
 * demand (folio_memcg_alloc_deferred()), and a dying memcg's lists are
 * reparented to its parent's.
 */
#ifndef _MM_TESTS_THP_DEFERRED_SPLIT_KUNIT_H
#define _MM_TESTS_THP_DEFERRED_SPLIT_KUNIT_H

#include <linux/dcache.h>
#include <linux/list_lru.h>
#include <linux/memcontrol.h>
#include <linux/mnt_idmapping.h>
#include <linux/namei.h>
#include <linux/sched/mm.h>

/* One deferred split queue: its lock, its list and its length counter. */
struct thp_ds_queue {
	char name[48];
	spinlock_t *lock;		/* protects @head and the length counter */
	struct list_head *head;
	struct list_lru_one *lru;
	int nid;
};

static inline void thp_ds_queue_init(struct thp_ds_queue *q, struct list_lru_one *lru,
				     int nid)
{
	q->lru = lru;
	q->nid = nid;
	q->lock = &lru->lock;
	q->head = &lru->list;
}

/*
 * The list a folio charged to @memcg on node @nid is put on.  The kernel
 * allocates a memcg's lists when it charges a large folio to it
 * (folio_memcg_alloc_deferred() on the fault path); false while it has not.
 */
static inline bool thp_ds_memcg_queue(struct mem_cgroup *memcg, int nid,
				      struct thp_ds_queue *q)
{
	struct list_lru_memcg *mlru = xa_load(&deferred_split_lru.xa, memcg_kmem_id(memcg));

	if (!mlru)
		return false;
	thp_ds_queue_init(q, &mlru->node[nid], nid);
	snprintf(q->name, sizeof(q->name), "memcg %llu split list_lru (node %d)",
		 (u64)mem_cgroup_id(memcg), nid);
	return true;
}

/* The list of folios with no memcg (or the root memcg) on node @nid. */
static inline void thp_ds_node_queue(int nid, struct thp_ds_queue *q)
{
	thp_ds_queue_init(q, &deferred_split_lru.node[nid].lru, nid);
	snprintf(q->name, sizeof(q->name), "node %d split list_lru", nid);
}

static inline long thp_ds_queue_len(const struct thp_ds_queue *q)
{
	return READ_ONCE(q->lru->nr_items);
}

/* 6.19+: memcg offline moves the split queue to the parent. */
static inline bool thp_ds_reparents_split_queue(void)
{
	return true;
}

/*
 * Reclaim's putback: move_folios_to_lru() takes the lruvec locks itself and
 * frees the folios whose last reference it drops.  Returns the pages it
 * put back on the LRU instead (0: everything was freed).
 */
static inline unsigned int thp_ds_putback_and_free(struct list_head *list)
{
	return move_folios_to_lru(list);
}

/* The deferred split shrinker (and the memcg's other shrinkers), as reclaim runs them. */
static inline void thp_ds_shrink(struct mem_cgroup *memcg, int nid)
{
	shrink_slab(GFP_KERNEL, nid, memcg, 0);
}

/* mkdir @name under @parent; returns the new, positive dentry. */
static inline struct dentry *thp_ds_mkdir(struct dentry *parent, const char *name)
{
	struct dentry *dentry = start_creating_noperm(parent, &QSTR(name));

	if (IS_ERR(dentry))
		return dentry;
	dentry = vfs_mkdir(&nop_mnt_idmap, d_inode(parent), dentry, 0755, NULL);
	if (IS_ERR(dentry))
		return dentry;
	end_creating(dentry);
	/* kernfs leaves the dentry passed to mkdir negative: look it up again */
	return lookup_noperm_positive_unlocked(&QSTR(name), parent);
}

static inline int thp_ds_rmdir(struct dentry *parent, const char *name)
{
	struct dentry *dentry = start_removing_noperm(parent, &QSTR(name));
	int err;

	if (IS_ERR(dentry))
		return PTR_ERR(dentry);
	err = vfs_rmdir(&nop_mnt_idmap, d_inode(parent), dentry, NULL);
	end_removing(dentry);
	return err;
}

#endif /* _MM_TESTS_THP_DEFERRED_SPLIT_KUNIT_H */
