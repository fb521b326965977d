/* The power sampler's schedule in C, for sources that are files (Linux hwmon).
 *
 * Why: at 1 kHz the Python loop (sleep to the deadline, read, store) costs about twice what the wake-ups
 * alone cost on a small machine; this loop does exactly what power/sampler.py's run_schedule does, with
 * one pread per attribute and no interpreter in between.  It runs in the forked sampler process and
 * writes rows (t, read_s, late, values...) into the same shared ring the Python loop writes.
 *
 * Schedule (as run_schedule): deadlines origin + k * period on CLOCK_MONOTONIC (Python's time.monotonic),
 * absolute sleeps, a late sample never shifts the next ones, whole missed periods are skipped and counted.
 * A row is published by storing the new row count last (release order): the reader never sees half a row.
 * Reading: a rail is one file (energy uJ or power uW: value * 1e-6) or two (current mA x bus mV: product
 * * 1e-6), each attribute one decimal integer.  A failed read (an error, or no integer) is counted; after
 * max_errors failures in a row the loop returns the errno (EINVAL for no integer) and the failing rail.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define E2T_SAMPLER_VERSION 1
#define ATTR_BYTES 32

int e2t_sampler_version(void) { return E2T_SAMPLER_VERSION; }

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void sleep_until(double deadline) {
    struct timespec t;
    t.tv_sec = (time_t)deadline;
    t.tv_nsec = (long)((deadline - (double)t.tv_sec) * 1e9);
    if (t.tv_nsec >= 1000000000L) { t.tv_sec += 1; t.tv_nsec -= 1000000000L; }
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR) {}
}

/* One attribute: 0 and *value, or an errno. */
static int read_attr(int fd, long long *value) {
    char buf[ATTR_BYTES + 1];
    ssize_t n = pread(fd, buf, ATTR_BYTES, 0);
    if (n < 0) return errno ? errno : EIO;
    buf[n] = '\0';
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (end == buf || errno) return EINVAL;
    while (*end == ' ' || *end == '\n' || *end == '\t' || *end == '\r') end++;
    if (*end) return EINVAL;  /* "12abc" is no integer, as for Python's int() */
    *value = v;
    return 0;
}

/* fds: each rail's files in order; two_files[r]: rail r is current x voltage. Returns 0 when *stop is set,
 * else the errno that ended it after max_errors failed reads in a row (*bad_rail: which rail). */
int e2t_sample_loop(const int *fds, const int *two_files, int n_rails, double origin, double period,
                    double *ring, long long capacity, int width, long long *written, volatile signed char *stop,
                    long long *missed, long long *read_errors, int max_errors, int *bad_rail) {
    long long k = 0;
    int consecutive = 0;
    double t_next = origin;
    for (;;) {
        if (t_next > now_s()) sleep_until(t_next);
        if (*stop) return 0;
        double t0 = now_s();
        double late = t0 - t_next;
        double *row = ring + (__atomic_load_n(written, __ATOMIC_RELAXED) % capacity) * width;
        int err = 0, fd = 0;
        for (int r = 0; r < n_rails && !err; r++) {
            long long a = 0, b = 1;
            err = read_attr(fds[fd++], &a);
            if (!err && two_files[r]) err = read_attr(fds[fd++], &b);
            if (err) *bad_rail = r;
            else row[3 + r] = (double)(a * b) * 1e-6;
        }
        double t1 = now_s();
        if (err) {
            *read_errors += 1;
            if (++consecutive >= max_errors) return err;
        } else {
            consecutive = 0;
            row[0] = 0.5 * (t0 + t1);
            row[1] = t1 - t0;
            row[2] = late;
            __atomic_store_n(written, __atomic_load_n(written, __ATOMIC_RELAXED) + 1, __ATOMIC_RELEASE);
        }
        k += 1;
        t_next = origin + (double)k * period;
        double behind = now_s() - t_next;
        if (behind > period) {  /* more than a whole period late: skip the missed deadlines, do not burst */
            long long skip = (long long)(behind / period);
            *missed += skip;
            k += skip;
            t_next = origin + (double)k * period;
        }
    }
}
