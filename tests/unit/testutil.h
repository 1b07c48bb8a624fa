/*
 * Helpers shared by the unit tests: a counting allocator that fails on the
 * N-th call (for OOM sweeps), paths to fixtures and to ../shared/data, and
 * temporary directories.
 */
#ifndef VIGIL_TESTUTIL_H
#define VIGIL_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/*
 * Installs an allocator whose (fail_at)-th call from now fails (1-based); 0
 * never fails. Counts every call so tests can assert "no allocation".
 */
void tu_alloc_fail_at(long fail_at);
/* Restores the plain allocator. */
void tu_alloc_reset(void);
/* Allocation calls seen since the last tu_alloc_fail_at. */
long tu_alloc_calls(void);
/* Bytes currently allocated through the counting allocator (leak check). */
long tu_alloc_live(void);

/* Root of the shared datasets: $VIGIL_DATA or ../shared/data. */
const char *tu_data_dir(void);
/* Joins the data dir and rel into out; returns 1 if the file exists, else 0. */
int tu_data_path(char *out, size_t n, const char *rel);
/* Path of a fixture under tests/data. */
const char *tu_fixture(const char *rel);
/* Makes a fresh temporary directory; returns its path (static storage per call slot). */
const char *tu_tmpdir(void);
/* Writes text to dir/name and returns the full path (static buffer, 8 slots). */
const char *tu_write_file(const char *dir, const char *name, const char *text, size_t n);

/* A free TCP port on 127.0.0.1 (bound then released; small race accepted in tests). */
int tu_free_port(void);
/* Starts argv[0] with argv (PATH lookup), output to logfile; returns the pid or -1. */
int tu_spawn(char *const argv[], const char *logfile);
/* SIGTERM, then SIGKILL after 3 s; reaps the child. */
void tu_stop(int pid);
/* Polls url with GET until it answers 2xx or timeout_ms passes; 1 when up. */
int tu_wait_http(const char *url, long timeout_ms);
/* 1 if a program is on PATH. */
int tu_have_program(const char *name);
/*
 * Starts nats-server with JetStream on a free 127.0.0.1 port (store in a
 * fresh temporary directory) and waits until it accepts a client (10 s).
 * Writes its URL to url and returns the pid (stop it with tu_stop), or -1
 * when nats-server or libnats is absent or the server did not come up.
 */
int tu_nats_start(char *url, size_t n);

/* Skips the current test when tu_nats_start gave no server (pid <= 0). */
#define TU_REQUIRE_NATS(pid)                                                                       \
    do {                                                                                           \
        if ((pid) <= 0) {                                                                          \
            print_message("skip: nats-server or libnats not available\n");                         \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* Skips the current test with a message when a dataset is absent. */
#define TU_REQUIRE_DATA(path_buf, rel)                                                             \
    do {                                                                                           \
        if (!tu_data_path(path_buf, sizeof path_buf, rel)) {                                       \
            print_message("skip: %s not found (set VIGIL_DATA)\n", rel);                           \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

#endif
