/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What thp_deferred_split_kunit.c needs to know about this tree (6.12
 * family): each memcg, and each node, has a struct deferred_split with its
 * own spinlock, list and length counter; the queue is looked up from
 * folio_memcg() at every enqueue and unqueue.  Nothing reparents a dying
 * memcg's split queue.
 */
#ifndef _MM_TESTS_THP_DEFERRED_SPLIT_KUNIT_H
#define _MM_TESTS_THP_DEFERRED_SPLIT_KUNIT_H

#include <linux/dcache.h>
#include <linux/memcontrol.h>
#include <linux/mmzone.h>
#include <linux/mnt_idmapping.h>
#include <linux/namei.h>
#include <linux/sched/mm.h>

/* 7.x's typed allocation helper, which the suite uses as the newest tree asks. */
#ifndef kzalloc_obj
#define kzalloc_obj(P, gfp) kzalloc(sizeof(P), gfp)
#endif

/* One deferred split queue: its lock, its list and its length counter. */
struct thp_ds_queue {
	char name[48];
	spinlock_t *lock;		/* protects @head and the length counter */
	struct list_head *head;
	struct deferred_split *ds;
};

static inline void thp_ds_queue_init(struct thp_ds_queue *q, struct deferred_split *ds)
{
	q->ds = ds;
	q->lock = &ds->split_queue_lock;
	q->head = &ds->split_queue;
}

/* The queue a folio charged to @memcg on node @nid is put on (one per memcg here). */
static inline bool thp_ds_memcg_queue(struct mem_cgroup *memcg, int nid,
				      struct thp_ds_queue *q)
{
	thp_ds_queue_init(q, &memcg->deferred_split_queue);
	snprintf(q->name, sizeof(q->name), "memcg %u split queue",
		 mem_cgroup_id(memcg));
	return true;
}

/* The queue of folios with no memcg on node @nid. */
static inline void thp_ds_node_queue(int nid, struct thp_ds_queue *q)
{
	thp_ds_queue_init(q, &NODE_DATA(nid)->deferred_split_queue);
	snprintf(q->name, sizeof(q->name), "node %d split queue", nid);
}

/* The counter is unsigned: a stray decrement shows as -1 here. */
static inline long thp_ds_queue_len(const struct thp_ds_queue *q)
{
	return (long)READ_ONCE(q->ds->split_queue_len);
}

static inline bool thp_ds_reparents_split_queue(void)
{
	return false;
}

/*
 * Reclaim's putback: move_folios_to_lru() under the lruvec lock, which
 * frees the folios whose last reference it drops.  Returns the pages it
 * put back on the LRU instead (0: everything was freed).
 */
static inline unsigned int thp_ds_putback_and_free(struct list_head *list)
{
	struct folio *folio = lru_to_folio(list);
	struct lruvec *lruvec = folio_lruvec_lock_irq(folio);
	unsigned int moved = move_folios_to_lru(lruvec, list);

	unlock_page_lruvec_irq(lruvec);
	return moved;
}

/* The deferred split shrinker (and the memcg's other shrinkers), as reclaim runs them. */
static inline void thp_ds_shrink(struct mem_cgroup *memcg, int nid)
{
	shrink_slab(GFP_KERNEL, nid, memcg, 0);
}

/* Lock @parent and look @name up in it; on error @parent is unlocked again. */
static inline struct dentry *thp_ds_lookup_locked(struct dentry *parent, const char *name)
{
	struct dentry *dentry;

	inode_lock_nested(d_inode(parent), I_MUTEX_PARENT);
	dentry = lookup_one_len(name, parent, strlen(name));
	if (IS_ERR(dentry))
		inode_unlock(d_inode(parent));
	return dentry;
}

/* mkdir @name under @parent; returns the new, positive dentry. */
static inline struct dentry *thp_ds_mkdir(struct dentry *parent, const char *name)
{
	struct dentry *dentry = thp_ds_lookup_locked(parent, name);
	int err;

	if (IS_ERR(dentry))
		return dentry;
	err = vfs_mkdir(&nop_mnt_idmap, d_inode(parent), dentry, 0755);
	dput(dentry);
	inode_unlock(d_inode(parent));
	if (err)
		return ERR_PTR(err);
	/* kernfs leaves the dentry passed to mkdir negative: look it up again */
	return lookup_positive_unlocked(name, parent, strlen(name));
}

static inline int thp_ds_rmdir(struct dentry *parent, const char *name)
{
	struct dentry *dentry = thp_ds_lookup_locked(parent, name);
	int err;

	if (IS_ERR(dentry))
		return PTR_ERR(dentry);
	err = d_really_is_positive(dentry) ?
	      vfs_rmdir(&nop_mnt_idmap, d_inode(parent), dentry) : -ENOENT;
	dput(dentry);
	inode_unlock(d_inode(parent));
	return err;
}

#endif /* _MM_TESTS_THP_DEFERRED_SPLIT_KUNIT_H */
