/*
 * test_resources.c - admission against a capacity: CPUs, memory, GPUs by
 * index, release, jobs that can never fit (with their messages), and many
 * threads admitting against the same counters without ever exceeding them,
 * and the reservation that keeps a big job from being starved by small ones.
 */
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <stdatomic.h>

#include "check.h"
#include "core/resources.h"

static struct res_amount cap = {.cpus = 8, .gpus = 4, .memory_bytes = 16u << 20};
static struct res_counters shared;
static _Atomic int violations;

/* Admitters with ids 1..4: id 1 wants the whole node, the others a
 * part. Each tries until it got in 300 times (yielding after a miss, as a
 * worker sleeps), for at most 30 s (milliseconds are needed, also under
 * ASan on a loaded machine: 30 s is a deadlock): with the reservation in
 * play the counters never exceed the capacity, nothing deadlocks, and
 * every one of them, the whole-node admitter included, keeps getting in. */
#define RADMITS 300
static struct res_counters rshared;
static _Atomic uint32_t radmits[5];

static void *reserver(void *arg)
{
    uint32_t who = (uint32_t)(uintptr_t)arg;
    struct res_amount need = who == 1 ? cap : (struct res_amount){.cpus = 3, .gpus = 1};
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (atomic_load(&radmits[who]) < RADMITS) {
        uint64_t g;
        if (!res_admit(&rshared, &cap, &need, who, &g)) {
            clock_gettime(CLOCK_MONOTONIC, &t);
            if (t.tv_sec - t0.tv_sec > 30)
                break;
            sched_yield();
            continue;
        }
        if (atomic_load(&rshared.cpus_used) > cap.cpus ||
            atomic_load(&rshared.mem_used) > cap.memory_bytes ||
            __builtin_popcountll(g) != (int)need.gpus)
            atomic_fetch_add(&violations, 1);
        atomic_fetch_add(&radmits[who], 1);
        res_release(&rshared, &need, g);
    }
    (void)res_unreserve(&rshared, who); /* its loop ended: its job went away */
    return NULL;
}

static void *hammer(void *arg)
{
    (void)arg;
    struct res_amount need = {.cpus = 3, .gpus = 1, .memory_bytes = 5u << 20};
    for (int i = 0; i < 20000; i++) {
        uint64_t g;
        if (!res_admit(&shared, &cap, &need, 0, &g))
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
    CHECK(res_admit(&c, &cap, &two, 0, &g1));
    CHECK_U64(g1, 0x3);
    CHECK(res_admit(&c, &cap, &two, 0, &g2));
    CHECK_U64(g2, 0xc);
    CHECK(!res_admit(&c, &cap, &two, 0, &g3)); /* GPUs are gone; nothing taken */
    CHECK_EQ(atomic_load(&c.cpus_used), 4);
    CHECK_U64(atomic_load(&c.mem_used), 8u << 20);
    res_release(&c, &two, g1);
    struct res_amount one = {.cpus = 1, .gpus = 1};
    CHECK(res_admit(&c, &cap, &one, 0, &g3));
    CHECK_U64(g3, 0x1);
    char buf[64];
    CHECK_STR(res_gpu_list(g2 | g3, NULL, buf, sizeof buf), "0,2,3");
    CHECK_STR(res_gpu_list(0, NULL, buf, sizeof buf), "");
    /* an allocation's devices (CUDA_VISIBLE_DEVICES): GPU i is entry i */
    const char *vis = "5,GPU-1f2e,,7,9";
    CHECK_EQ(res_gpu_count(vis), 4u);
    CHECK_EQ(res_gpu_count(""), 0u);
    /* a negative index hides itself and what follows, as CUDA reads it:
     * "-1" is the usual way to say no GPU */
    CHECK_EQ(res_gpu_count("-1"), 0u);
    CHECK_EQ(res_gpu_count("0,1,-1,2"), 2u);
    CHECK_STR(res_gpu_list(g2 | g3, vis, buf, sizeof buf), "5,7,9");
    CHECK_STR(res_gpu_list(0x2, vis, buf, sizeof buf), "GPU-1f2e");
    char exact[6]; /* "5,7,9" and its NUL: never longer than vis */
    CHECK_STR(res_gpu_list(g2 | g3, vis, exact, sizeof exact), "5,7,9");
    struct res_amount mem = {.memory_bytes = 13u << 20};
    CHECK(!res_admit(&c, &cap, &mem, 0, &g1)); /* 4 MiB + 13 MiB > 16 MiB */
    CHECK_EQ(atomic_load(&c.cpus_used), 3);
    struct res_amount cpus = {.cpus = 6};
    CHECK(!res_admit(&c, &cap, &cpus, 0, &g1));
    struct res_amount none = {0};
    CHECK(res_admit(&c, &cap, &none, 0, &g1) && g1 == 0);

    /* the reservation: 3 of 8 CPUs and 2 of 4 GPUs in use */
    {
        struct res_counters r = {0};
        uint64_t ga, gb, gc;
        struct res_amount a = {.cpus = 3, .gpus = 2};
        CHECK(res_admit(&r, &cap, &a, 1, &ga));
        struct res_amount big = {.cpus = 8, .gpus = 4};
        CHECK(!res_admit(&r, &cap, &big, 2, &gb)); /* short: admitter 2 reserves */
        CHECK_EQ(atomic_load(&r.resv_owner), 2);
        CHECK_EQ(atomic_load(&r.cpus_used), 3);
        struct res_amount small = {.cpus = 1};
        CHECK(!res_admit(&r, &cap, &small, 3, &gc)); /* 5 CPUs free, all kept for 2 */
        CHECK(!res_admit(&r, &cap, &small, 0, &gc));
        CHECK_EQ(atomic_load(&r.resv_owner), 2); /* the first one keeps it */
        res_release(&r, &a, ga);
        CHECK(res_admit(&r, &cap, &big, 2, &gb)); /* against the whole node */
        CHECK_U64(gb, 0xf);
        CHECK_EQ(atomic_load(&r.resv_owner), 0);     /* ended with the admission */
        CHECK(!res_admit(&r, &cap, &small, 3, &gc)); /* full: now 3 reserves */
        CHECK_EQ(atomic_load(&r.resv_owner), 3);
        res_release(&r, &big, gb);
        CHECK(res_admit(&r, &cap, &small, 3, &gc));
        /* a reservation leaves what is beyond it to the others */
        struct res_amount six = {.cpus = 6};
        struct res_amount four = {.cpus = 4};
        CHECK(res_admit(&r, &cap, &four, 1, &ga));   /* 5 of 8 used */
        CHECK(!res_admit(&r, &cap, &four, 2, &gb));  /* 2 reserves 4 */
        CHECK(!res_admit(&r, &cap, &small, 3, &gc)); /* 3 free, 4 kept */
        CHECK(!res_unreserve(&r, 3));                /* not 3's */
        CHECK(res_unreserve(&r, 2));                 /* 2's job went away */
        CHECK(res_admit(&r, &cap, &small, 3, &gc));  /* nothing kept now */
        CHECK(!res_admit(&r, &cap, &six, 0, &gc));   /* 0 never reserves */
        CHECK_EQ(atomic_load(&r.resv_owner), 0);
        /* GPUs: 2 free of 4, 3 kept for admitter 5 */
        struct res_counters q = {0};
        struct res_amount n2 = {.gpus = 2}, n3 = {.gpus = 3}, n1 = {.gpus = 1};
        CHECK(res_admit(&q, &cap, &n2, 4, &ga));
        CHECK(!res_admit(&q, &cap, &n3, 5, &gb));
        CHECK(!res_admit(&q, &cap, &n1, 6, &gc));
        res_release(&q, &n2, ga);
        CHECK(res_admit(&q, &cap, &n1, 6, &gc)); /* 4 free, 3 kept: 1 left */
        CHECK(!res_admit(&q, &cap, &n1, 6, &gc));
    }

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

    for (uintptr_t i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, reserver, (void *)(i + 1));
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ(atomic_load(&violations), 0);
    CHECK_EQ(atomic_load(&rshared.cpus_used), 0);
    CHECK_U64(atomic_load(&rshared.gpus_used), 0);
    CHECK_EQ(atomic_load(&rshared.resv_owner), 0);
    for (int i = 1; i <= 4; i++)
        CHECK_EQ(atomic_load(&radmits[i]), RADMITS);
    fprintf(stderr, "whole-node admissions %u; partial %u %u %u\n", atomic_load(&radmits[1]),
            atomic_load(&radmits[2]), atomic_load(&radmits[3]), atomic_load(&radmits[4]));
    return check_done();
}
