/*
 * stamp_exec: the `bootstrap` the benchmark gives the RIE, in front of the
 * real one.  It marks the moment the function process starts, then becomes
 * the function (exec keeps the pid, so the pid it records is the function's
 * through every later exec: sh -> loader -> summarizer, sh -> python).
 *
 *   BENCH_TARGET       the real bootstrap (required)
 *   BENCH_STAMP_FILE   where to write "<CLOCK_MONOTONIC ns> <pid>\n" (optional)
 *   BENCH_RUNTIME_API  if set, replaces AWS_LAMBDA_RUNTIME_API, so the function
 *                      talks to the benchmark's recording proxy instead of the
 *                      RIE (the RIE sets AWS_LAMBDA_RUNTIME_API itself, so only
 *                      a wrapper can redirect it)
 *
 * Why C and not a shell wrapper: `date +%s%N` in sh forks a process and
 * costs about a millisecond, the resolution we want.  Here the clock is read
 * immediately before execv(); everything else (file open, environment,
 * chdir) is done first, so only one write(2) separates the stamp from the exec.
 * CLOCK_MONOTONIC is the clock Python's time.monotonic_ns() reads, so the
 * benchmark's proxy can subtract the two directly.
 *
 * The BENCH_* variables are removed before exec: the function sees the
 * environment it would see without the wrapper.  The working directory
 * becomes the target's directory, as the RIE (and Lambda) would have set it.
 *
 * Build: cc -O2 -o stamp_exec stamp_exec.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(void) {
    const char *target = getenv("BENCH_TARGET");
    if (!target || !*target) {
        fputs("stamp_exec: BENCH_TARGET is not set\n", stderr);
        return 127;
    }
    char *target_copy = strdup(target);
    char *stamp_path = getenv("BENCH_STAMP_FILE") ? strdup(getenv("BENCH_STAMP_FILE")) : NULL;
    const char *api = getenv("BENCH_RUNTIME_API");
    if (api && *api) setenv("AWS_LAMBDA_RUNTIME_API", api, 1);
    unsetenv("BENCH_TARGET");
    unsetenv("BENCH_STAMP_FILE");
    unsetenv("BENCH_RUNTIME_API");

    char *dir_copy = strdup(target_copy);
    if (chdir(dirname(dir_copy)) != 0) {
        fprintf(stderr, "stamp_exec: chdir for %s: %s\n", target_copy, strerror(errno));
        return 127;
    }

    int fd = -1;
    if (stamp_path && *stamp_path) {
        fd = open(stamp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            fprintf(stderr, "stamp_exec: open %s: %s\n", stamp_path, strerror(errno));
            return 127;
        }
    }

    char *argv[] = {target_copy, NULL};
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (fd >= 0) {
        char line[64];
        int n = snprintf(line, sizeof line, "%lld %d\n",
                         (long long)now.tv_sec * 1000000000LL + now.tv_nsec, (int)getpid());
        if (write(fd, line, (size_t)n) != n) return 127;
        /* O_CLOEXEC closes it in the exec. */
    }
    execv(target_copy, argv);
    fprintf(stderr, "stamp_exec: exec %s: %s\n", target_copy, strerror(errno));
    return 127;
}
