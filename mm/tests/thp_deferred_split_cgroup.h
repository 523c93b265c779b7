/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Test-only helpers for KUnit tests that need memory cgroups of their own:
 * the hierarchy the tests work in, cgroups created and removed under it,
 * and a task moved between them.  See thp_deferred_split_cgroup.c.
 */
#ifndef _MM_TESTS_THP_DEFERRED_SPLIT_CGROUP_H
#define _MM_TESTS_THP_DEFERRED_SPLIT_CGROUP_H

#include <linux/memcontrol.h>
#include <linux/types.h>

/* Bound of every wait on another CPU, on RCU work or on a cgroup going away. */
#define THP_DS_WAIT_MS		5000

/**
 * struct thp_ds_cgroups - the cgroup hierarchy a suite works in
 * @mnt: a kernel-internal mount of the hierarchy
 * @v1: a cgroup-v1 hierarchy of the memory controller, not cgroup2
 * @root_memory: the suite enabled the memory controller at the cgroup2
 *	root, and disables it again on teardown
 * @top: the suite's top cgroup, under which every case's cgroup is made
 * @top_memcg: its memcg, referenced
 * @top_name: its name, unique among the runs of this boot
 */
struct thp_ds_cgroups {
	struct vfsmount *mnt;
	bool v1;
	bool root_memory;
	struct dentry *top;
	struct mem_cgroup *top_memcg;
	char top_name[32];
};

int thp_ds_cgroups_setup(struct thp_ds_cgroups *cg, bool v1);
void thp_ds_cgroups_teardown(struct thp_ds_cgroups *cg);
struct mem_cgroup *thp_ds_cgroup_create(struct thp_ds_cgroups *cg, const char *name,
					struct dentry **dirp);
int thp_ds_cgroup_remove(struct thp_ds_cgroups *cg, const char *name);
int thp_ds_cgroup_attach(struct thp_ds_cgroups *cg, const char *path, pid_t pid);
int thp_ds_cgroup_home(struct thp_ds_cgroups *cg, char *buf, size_t len);
int thp_ds_cgroup_write(struct thp_ds_cgroups *cg, const char *path, const char *s);
bool thp_ds_wait_offline(struct mem_cgroup *memcg);
bool thp_ds_memcgs_in_use(void);

#endif /* _MM_TESTS_THP_DEFERRED_SPLIT_CGROUP_H */
