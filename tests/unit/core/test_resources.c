/*
 * test_resources.c - admission against a capacity: CPUs, memory, GPUs by
 * index, release, jobs that can never fit (with their messages), and many
 * threads admitting against the same counters without ever exceeding them.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "check.h"
#include "core/resources.h"

static struct res_amount cap = {.cpus = 8, .gpus = 4, .memory_bytes = 16u << 20};
static struct res_counters shared;
static _Atomic int violations;

static void *hammer(void *arg)
{
    (void)arg;
    struct res_amount need = {.cpus = 3, .gpus = 1, .memory_bytes = 5u << 20};
    for (int i = 0; i < 20000; i++) {
        uint64_t g;
        if (!res_admit(&shared, &cap, &need, &g))
            continue;
        if (atomic_load(&shared.cpus_used) > cap.cpus ||
            atomic_load(&shared.mem_used) > cap.memory_bytes || __builtin_popcountll(g) != 1)
            atomic_fetch_add(&violations, 1);
        res_release(&shared, &need, g);
    }
    return NULL;
}

int main(void)
{
    struct res_counters c = {0};
    uint64_t g1, g2, g3;
    struct res_amount two = {.cpus = 2, .gpus = 2, .memory_bytes = 4u << 20};
    CHECK(res_admit(&c, &cap, &two, &g1));
    CHECK_U64(g1, 0x3);
    CHECK(res_admit(&c, &cap, &two, &g2));
    CHECK_U64(g2, 0xc);
    CHECK(!res_admit(&c, &cap, &two, &g3)); /* GPUs are gone; nothing taken */
    CHECK_EQ(atomic_load(&c.cpus_used), 4);
    CHECK_U64(atomic_load(&c.mem_used), 8u << 20);
    res_release(&c, &two, g1);
    struct res_amount one = {.cpus = 1, .gpus = 1};
    CHECK(res_admit(&c, &cap, &one, &g3));
    CHECK_U64(g3, 0x1);
    char buf[64];
    CHECK_STR(res_gpu_list(g2 | g3, buf, sizeof buf), "0,2,3");
    CHECK_STR(res_gpu_list(0, buf, sizeof buf), "");
    struct res_amount mem = {.memory_bytes = 13u << 20};
    CHECK(!res_admit(&c, &cap, &mem, &g1)); /* 4 MiB + 13 MiB > 16 MiB */
    CHECK_EQ(atomic_load(&c.cpus_used), 3);
    struct res_amount cpus = {.cpus = 6};
    CHECK(!res_admit(&c, &cap, &cpus, &g1));
    struct res_amount none = {0};
    CHECK(res_admit(&c, &cap, &none, &g1) && g1 == 0);

    /* never fits */
    struct vl_err err;
    struct res_amount huge = {.cpus = 9};
    CHECK_EQ(res_check_fit(&cap, &huge, "train_1", "big", &err), VL_ESPEC);
    CHECK_STR(err.msg, "job 'train_1' needs 9 CPUs (resource class 'big'), the node has 8");
    huge = (struct res_amount){.memory_bytes = 32u << 20};
    CHECK_EQ(res_check_fit(&cap, &huge, "m", NULL, &err), VL_ESPEC);
    CHECK_STR(err.msg, "job 'm' needs 32.0 MiB of memory, the node has 16.0 MiB");
    huge = (struct res_amount){.gpus = 5};
    CHECK_EQ(res_check_fit(&cap, &huge, "g", NULL, &err), VL_ESPEC);
    CHECK_STR(err.msg, "job 'g' needs 5 GPUs, the node has 4");
    CHECK_EQ(res_check_fit(&cap, &two, "ok", NULL, &err), 0);

    /* a spec: the first job of a class that cannot fit is named */
    char pool[] = "a\0b\0small\0big\0";
    struct spec_rr rrs[2] = {{.name_off = 4, .num_cpus = 1},
                             {.name_off = 10, .num_cpus = 64, .memory_bytes = 1}};
    uint64_t name_off[2] = {0, 2};
    uint16_t rr[2] = {0, 1};
    struct spec s = {.pool = pool,
                     .pool_len = sizeof pool,
                     .njobs = 2,
                     .name_off = name_off,
                     .rr = rr,
                     .rrs = rrs,
                     .nrr = 2};
    CHECK_EQ(res_check_spec(&s, &cap, &err), VL_ESPEC);
    CHECK_STR(err.msg, "job 'b' needs 64 CPUs (resource class 'big'), the node has 8");
    struct res_amount n;
    res_need_of(&s, 0, &n);
    CHECK_EQ(n.cpus, 1);
    rrs[1].num_cpus = 2;
    CHECK_EQ(res_check_spec(&s, &cap, &err), 0);
    struct res_amount here;
    res_detect(&here);
    CHECK(here.cpus >= 1 && here.memory_bytes > 0);

    /* 4 threads, one set of counters: the capacity is never exceeded */
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, hammer, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ(atomic_load(&violations), 0);
    CHECK_EQ(atomic_load(&shared.cpus_used), 0);
    CHECK_U64(atomic_load(&shared.gpus_used), 0);
    return check_done();
}
