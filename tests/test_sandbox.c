/* The sandbox (common/sandbox.h): every escape a model-written program
 * might try, run as a small /usr/bin/python3 program through
 * sandbox_run_many with the default limits (CPU and wall lowered to keep
 * the test fast), must be contained: each test asserts how the run ended
 * and that the host is untouched (no file written, no process left, this
 * process alive). Skipped only when sandbox_available() says no (not
 * root and no user namespaces), with its reason printed. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox.h"

static char tmpdir[64]; /* a host directory the programs must not reach */

#define NEED_SANDBOX()                                                                             \
    do {                                                                                           \
        char why_[400];                                                                            \
        if (!sandbox_available(why_, sizeof why_)) {                                               \
            printf("sandbox not available: %s\n", why_);                                           \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

static SandboxLimits fast_limits(void) {
    SandboxLimits l;
    sandbox_limits_default(&l);
    l.cpu_seconds = 1;
    l.wall_seconds = 5; /* CPU-bound tests end at ~1 s; the slack is for a loaded machine */
    return l;
}

/* Runs python3 -c src under lim; the caller frees r. */
static void run_py(const SandboxLimits *lim, const char *src, SandboxResult *r) {
    const char *argv[] = {"/usr/bin/python3", "-c", src, NULL};
    SandboxJob job = {.argv = argv};
    sandbox_run_many(lim, &job, 1, r);
    if (r->end != SANDBOX_EXITED || r->exit_code != 0)
        printf("# end %d exit %d signal %d setup '%s' stderr tail:\n%s\n", (int)r->end, r->exit_code, r->signal,
               r->setup_error, r->err_tail);
}

/* Processes on the host whose real uid is uid. */
static int procs_of_uid(unsigned uid) {
    DIR *d = opendir("/proc");
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        char path[300];
        snprintf(path, sizeof path, "/proc/%s", e->d_name);
        struct stat st;
        if (stat(path, &st) == 0 && st.st_uid == uid) n++;
    }
    closedir(d);
    return n;
}

static void test_stdout_files_and_stdin(void **state) {
    NEED_SANDBOX();
    SandboxLimits lim = fast_limits();
    static const char prog[] = "import sys\n"
                               "data = open('data.txt').read()\n"
                               "print('data:', data, 'stdin:', sys.stdin.read(), end='')\n";
    static const char data[] = "forty-two";
    const SandboxFile files[] = {{"prog.py", prog, sizeof prog - 1}, {"data.txt", data, sizeof data - 1}};
    const char *argv[] = {"/usr/bin/python3", "prog.py", NULL};
    SandboxJob job = {.argv = argv, .files = files, .n_files = 2, .stdin_data = "seven", .stdin_len = 5};
    SandboxResult r;
    sandbox_run_many(&lim, &job, 1, &r);
    assert_int_equal(r.end, SANDBOX_EXITED);
    assert_int_equal(r.exit_code, 0);
    assert_string_equal(r.out, "data: forty-two stdin: seven");
    assert_int_equal(r.out_len, strlen("data: forty-two stdin: seven"));
    sandbox_result_free(&r);
}

static void test_clean_environment_and_unprivileged_uid(void **state) {
    NEED_SANDBOX();
    SandboxLimits lim = fast_limits();
    SandboxResult r;
    run_py(&lim,
           "import os\n"
           "print(','.join(sorted(os.environ)))\n"
           "print(os.environ['HOME'], os.getcwd(), os.environ['PATH'])\n"
           "print(os.getuid(), os.geteuid(), os.getgid(), os.getgroups())\n"
           "print(open('/proc/self/status').read().split('CapEff:')[1].split()[0])\n"
           "print(sorted(os.listdir('/')))\n",
           &r);
    assert_int_equal(r.end, SANDBOX_EXITED);
    assert_int_equal(r.exit_code, 0);
    assert_true(r.uid != 0);
    char want[512];
    snprintf(want, sizeof want,
             "HOME,LANG,PATH,PYTHONDONTWRITEBYTECODE,PYTHONHASHSEED\n"
             "/sandbox /sandbox /usr/bin:/bin\n"
             "%u %u %u []\n"
             "0000000000000000\n"
             "['bin', 'dev', 'lib', 'lib64', 'proc', 'sandbox', 'sbin', 'usr']\n",
             r.uid, r.uid, r.uid);
    assert_string_equal(r.out, want);
    sandbox_result_free(&r);
}

static void test_infinite_loop_killed_by_cpu(void **state) {
    NEED_SANDBOX();
    SandboxLimits lim = fast_limits();
    SandboxResult r;
    run_py(&lim, "while True: pass\n", &r);
    assert_int_equal(r.end, SANDBOX_KILLED_CPU);
    assert_int_equal(r.signal, SIGXCPU);
    sandbox_result_free(&r);
}

static void test_fork_bomb_contained(void **state) {
    NEED_SANDBOX();
    SandboxLimits lim = fast_limits();
    lim.wall_seconds = 2;
    SandboxResult r;
    run_py(&lim,
           "import os\n"
           "while True:\n"
           "    try: os.fork()\n"
           "    except OSError: pass\n",
           &r);
    assert_true(r.end == SANDBOX_KILLED_CPU || r.end == SANDBOX_KILLED_WALL || r.end == SANDBOX_EXITED);
    assert_true(r.uid != 0);
    assert_int_equal(procs_of_uid(r.uid), 0); /* the whole PID namespace went */
    /* and nothing of it is left for us to reap */
    errno = 0;
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
    sandbox_result_free(&r);
}

static void test_memory_bomb_fails_to_allocate(void **state) {
    NEED_SANDBOX();
    SandboxLimits lim = fast_limits();
    SandboxResult r;
    run_py(&lim, "x = []\nwhile True: x.append(bytearray(64 << 20))\n", &r);
    assert_int_equal(r.end, SANDBOX_EXITED);
    assert_int_not_equal(r.exit_code, 0);
    assert_non_null(strstr(r.err_tail, "MemoryError"));
    sandbox_result_free(&r);
}

static void test_cannot_write_outside_its_directory(void **state) {
    NEED_SANDBOX();
    SandboxLimits lim = fast_limits();
    char host_file[128], tmp_file[64], src[1024];
    snprintf(host_file, sizeof host_file, "%s/escaped", tmpdir);
    snprintf(tmp_file, sizeof tmp_file, "/tmp/test_sandbox_escaped.%d", (int)getpid());
    snprintf(src, sizeof src,
             "import os\n"
             "denied = 0\n"
             "for p in ['%s', '/usr/x', '%s', '/x', '/dev/x', '/proc/x', '/usr/bin/python3']:\n"
             "    try:\n"
             "        open(p, 'a').write('owned')\n"
             "    except OSError:\n"
             "        denied += 1\n"
             "open('mine', 'w').write('fine')\n"
             "print(denied, open('mine').read())\n",
             tmp_file, host_file);
    SandboxResult r;
    run_py(&lim, src, &r);
    assert_int_equal(r.end, SANDBOX_EXITED);
    assert_string_equal(r.out, "7 fine\n");
    assert_int_not_equal(access(host_file, F_OK), 0);
    assert_int_not_equal(access(tmp_file, F_OK), 0);
    assert_int_not_equal(access("/usr/x", F_OK), 0);
    sandbox_result_free(&r);
}

static void test_cannot_read_outside_its_directory(void **state) {
    NEED_SANDBOX();
    SandboxLimits lim = fast_limits();
    char ckpt[128], cwd_ckpt[600], cwd[400], src[2048];
    snprintf(ckpt, sizeof ckpt, "%s/ckpt.bin", tmpdir);
    assert_non_null(getcwd(cwd, sizeof cwd));
    snprintf(cwd_ckpt, sizeof cwd_ckpt, "%s/test_sandbox_ckpt.%d", cwd, (int)getpid());
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(i ? cwd_ckpt : ckpt, "w");
        assert_non_null(f);
        fputs("secret weights", f);
        fclose(f);
    }
    snprintf(src, sizeof src,
             "blocked = 0\n"
             "for p in ['%s', '%s', '/etc/shadow', '/etc/passwd', '/root/.bashrc', '/proc/1/root/etc/shadow']:\n"
             "    try:\n"
             "        open(p).read()\n"
             "    except OSError:\n"
             "        blocked += 1\n"
             "print(blocked)\n",
             ckpt, cwd_ckpt);
    SandboxResult r;
    run_py(&lim, src, &r);
    unlink(cwd_ckpt);
    unlink(ckpt);
    assert_int_equal(r.end, SANDBOX_EXITED);
    assert_string_equal(r.out, "6\n");
    sandbox_result_free(&r);
}

static void test_no_network(void **state) {
    NEED_SANDBOX();
    /* a host listener the program must not reach */
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(ls >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(ls, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(ls, 4), 0);
    socklen_t al = sizeof a;
    assert_int_equal(getsockname(ls, (struct sockaddr *)&a, &al), 0);
    char src[1024];
    snprintf(src, sizeof src,
             "import socket\n"
             "fails = 0\n"
             "for fam, kind in [(socket.AF_INET, socket.SOCK_STREAM), (socket.AF_INET, socket.SOCK_DGRAM),\n"
             "                  (socket.AF_INET6, socket.SOCK_STREAM), (socket.AF_NETLINK, socket.SOCK_RAW)]:\n"
             "    try:\n"
             "        s = socket.socket(fam, kind)\n"
             "        s.connect(('127.0.0.1', %d))\n"
             "    except OSError:\n"
             "        fails += 1\n"
             "a, b = socket.socketpair()\n"
             "a.send(b'unix ok')\n"
             "print(fails, b.recv(16).decode())\n",
             ntohs(a.sin_port));
    SandboxLimits lim = fast_limits();
    SandboxResult r;
    run_py(&lim, src, &r);
    assert_int_equal(r.end, SANDBOX_EXITED);
    assert_string_equal(r.out, "4 unix ok\n");
    assert_int_equal(accept(ls, NULL, NULL), -1); /* nobody connected */
    assert_int_equal(errno, EAGAIN);
    close(ls);
    sandbox_result_free(&r);
}

static void test_cannot_signal_the_caller(void **state) {
    NEED_SANDBOX();
    char src[1024];
    snprintf(src, sizeof src,
             "import os, signal\n"
             "out = []\n"
             "for pid in [%d, %d, 1, -1]:\n"
             "    try:\n"
             "        os.kill(pid, signal.SIGKILL)\n"
             "        out.append('sent')\n"
             "    except OSError as e:\n"
             "        out.append(type(e).__name__)\n"
             "print(*out)\n",
             (int)getpid(), (int)getppid());
    SandboxLimits lim = fast_limits();
    SandboxResult r;
    run_py(&lim, src, &r);
    /* kill(-1) reaches only this program's own processes: none but itself,
     * which it may not signal with -1 */
    assert_int_equal(r.end, SANDBOX_EXITED);
    assert_string_equal(r.out, "ProcessLookupError ProcessLookupError PermissionError ProcessLookupError\n");
    sandbox_result_free(&r);
}

static void test_sleep_killed_by_wall_time(void **state) {
    NEED_SANDBOX();
    SandboxLimits lim = fast_limits();
    lim.wall_seconds = 1;
    SandboxResult r;
    run_py(&lim, "import time\ntime.sleep(60)\n", &r);
    assert_int_equal(r.end, SANDBOX_KILLED_WALL);
    assert_true(r.wall_seconds >= 1.0);
    assert_true(r.wall_seconds < 3.0); /* within the wall time and a second of slack (loaded machine: 2) */
    sandbox_result_free(&r);
}

static void test_flood_killed_by_output_cap(void **state) {
    NEED_SANDBOX();
    SandboxLimits lim = fast_limits();
    lim.cpu_seconds = 30; /* the cap, not the CPU limit, must stop them */
    lim.wall_seconds = 30;
    static const char *const streams[] = {"stdout", "stderr"};
    for (int i = 0; i < 2; i++) {
        char src[256];
        snprintf(src, sizeof src, "import sys\nwhile True: sys.%s.write('x' * 65536)\n", streams[i]);
        SandboxResult r;
        run_py(&lim, src, &r);
        assert_int_equal(r.end, SANDBOX_KILLED_OUTPUT);
        assert_int_equal(r.out_len, i == 0 ? (size_t)lim.output_kb << 10 : 0);
        assert_int_equal(strspn(r.out, "x"), r.out_len); /* what was kept is what it printed */
        assert_int_equal(r.out[r.out_len], 0);
        assert_true(r.wall_seconds < 10);
        sandbox_result_free(&r);
    }
}

static void test_huge_file_killed_by_file_size(void **state) {
    NEED_SANDBOX();
    SandboxLimits lim = fast_limits();
    SandboxResult r;
    run_py(&lim, "with open('big', 'w') as f:\n    while True: f.write('x' * 65536)\n", &r);
    assert_int_equal(r.end, SANDBOX_KILLED_FILE_SIZE);
    sandbox_result_free(&r);
}

static void test_seccomp_denies_kernel_calls(void **state) {
    NEED_SANDBOX();
    SandboxLimits lim = fast_limits();
    SandboxResult r;
    run_py(&lim,
           "import ctypes, os\n"
           "libc = ctypes.CDLL(None, use_errno=True)\n"
           "res = []\n"
           "def call(name, *args):\n"
           "    rc = getattr(libc, name)(*args)\n"
           "    res.append('%s=%d/%s' % (name, rc, os.strerror(ctypes.get_errno()) if rc < 0 else ''))\n"
           "call('unshare', 0x10000000)\n" /* CLONE_NEWUSER */
           "call('ptrace', 16, 1, 0, 0)\n"  /* PTRACE_ATTACH to init */
           "call('mount', b'none', b'/sandbox', b'tmpfs', 0, None)\n"
           "call('chroot', b'/sandbox')\n"
           "print(' '.join(res))\n",
           &r);
    assert_int_equal(r.end, SANDBOX_EXITED);
    assert_string_equal(r.out, "unshare=-1/Operation not permitted ptrace=-1/Operation not permitted "
                               "mount=-1/Operation not permitted chroot=-1/Operation not permitted\n");
    sandbox_result_free(&r);
}

static void test_many_jobs_in_order(void **state) {
    NEED_SANDBOX();
    SandboxLimits lim = fast_limits();
    lim.jobs = 3;
    enum { N = 5 };
    char src[N][128];
    const char *argv[N][4];
    SandboxJob jobs[N];
    for (int i = 0; i < N; i++) {
        snprintf(src[i], sizeof src[i], "import os, time\ntime.sleep(0.%d)\nprint('job %d', os.getuid())\n",
                 (N - i) % 3, i);
        argv[i][0] = "/usr/bin/python3", argv[i][1] = "-c", argv[i][2] = src[i], argv[i][3] = NULL;
        jobs[i] = (SandboxJob){.argv = argv[i]};
    }
    SandboxResult r[N];
    sandbox_run_many(&lim, jobs, N, r);
    for (int i = 0; i < N; i++) {
        char want[64];
        snprintf(want, sizeof want, "job %d %u\n", i, r[i].uid);
        assert_int_equal(r[i].end, SANDBOX_EXITED);
        assert_string_equal(r[i].out, want);
        sandbox_result_free(&r[i]);
    }
    /* the three started together ran as three different uids */
    assert_true(r[0].uid != r[1].uid && r[1].uid != r[2].uid && r[0].uid != r[2].uid);
}

static atomic_int stop_churn;

/* malloc/free in a loop: a fork that lands while this thread holds the
 * allocator's lock deadlocks a child that allocates before exec */
static void *churn(void *arg) {
    unsigned x = (unsigned)(size_t)arg;
    while (!atomic_load(&stop_churn)) {
        x = x * 1103515245u + 12345u;
        free(malloc(16 + (x >> 16) % 100000));
    }
    return NULL;
}

static void test_runs_while_other_threads_allocate(void **state) {
    NEED_SANDBOX();
    pthread_t th[2];
    atomic_store(&stop_churn, 0);
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&th[i], NULL, churn, (void *)(size_t)(i + 1)), 0);
    SandboxLimits lim = fast_limits();
    lim.jobs = 2;
    enum { N = 8 };
    char src[N][64];
    const char *argv[N][4];
    SandboxJob jobs[N];
    for (int i = 0; i < N; i++) {
        snprintf(src[i], sizeof src[i], "print(%d * %d)", i, i);
        argv[i][0] = "/usr/bin/python3", argv[i][1] = "-c", argv[i][2] = src[i], argv[i][3] = NULL;
        jobs[i] = (SandboxJob){.argv = argv[i]};
    }
    SandboxResult r[N];
    sandbox_run_many(&lim, jobs, N, r);
    atomic_store(&stop_churn, 1);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++) {
        char want[32];
        snprintf(want, sizeof want, "%d\n", i * i);
        assert_int_equal(r[i].end, SANDBOX_EXITED);
        assert_string_equal(r[i].out, want);
        sandbox_result_free(&r[i]);
    }
}

static void test_setup_failures_are_reported(void **state) {
    NEED_SANDBOX();
    SandboxLimits lim = fast_limits();
    const char *argv[] = {"/usr/bin/no-such-program", NULL};
    const SandboxFile bad[] = {{"../evil", "x", 1}};
    SandboxJob jobs[2] = {{.argv = argv}, {.argv = argv, .files = bad, .n_files = 1}};
    SandboxResult r[2];
    sandbox_run_many(&lim, jobs, 2, r);
    assert_int_equal(r[0].end, SANDBOX_SETUP_FAILED);
    assert_non_null(strstr(r[0].setup_error, "execve"));
    assert_non_null(strstr(r[0].setup_error, "No such file or directory"));
    assert_int_equal(r[1].end, SANDBOX_SETUP_FAILED);
    assert_non_null(strstr(r[1].setup_error, "'../evil'"));
    sandbox_result_free(&r[0]);
    sandbox_result_free(&r[1]);
}

static void test_spawn_verifier_with_read_only_script(void **state) {
    NEED_SANDBOX();
    char script[128];
    snprintf(script, sizeof script, "%s/verifier.py", tmpdir);
    FILE *f = fopen(script, "w");
    assert_non_null(f);
    fprintf(f, "import sys\n"
               "try:\n"
               "    open(__file__, 'a').write('# changed')\n"
               "    w = 'writable'\n"
               "except OSError:\n"
               "    w = 'read-only'\n"
               "for line in sys.stdin:\n"
               "    print(line.strip()[::-1], w, flush=True)\n");
    fclose(f);
    struct stat sb;
    assert_int_equal(stat(script, &sb), 0);
    off_t size = sb.st_size;
    SandboxLimits lim = fast_limits();
    const char *argv[] = {"python3", script, NULL};
    const char *ro[] = {tmpdir, NULL};
    ChildProc c;
    char err[300];
    int rc = sandbox_spawn(&lim, argv, ro, &c, err, sizeof err);
    if (rc) printf("# %s\n", err);
    assert_int_equal(rc, 0);
    assert_int_equal(write(c.in_fd, "gnip\n", 5), 5);
    char buf[64] = {0};
    size_t got = 0;
    while (got < 15) {
        ssize_t n = read(c.out_fd, buf + got, sizeof buf - 1 - got);
        if (n <= 0) break;
        got += (size_t)n;
    }
    if (strcmp(buf, "ping read-only\n")) {
        char e[1024] = {0};
        close(c.in_fd);
        ssize_t n = read(c.err_fd, e, sizeof e - 1);
        printf("# verifier stderr (%zd): %s\n", n, e);
    }
    assert_string_equal(buf, "ping read-only\n");
    close(c.in_fd); /* EOF: the verifier ends */
    int st;
    assert_int_equal(waitpid(c.pid, &st, 0), c.pid);
    close(c.out_fd);
    close(c.err_fd);
    close(c.ctl_fd);
    assert_int_equal(stat(script, &sb), 0);
    assert_int_equal(sb.st_size, size); /* unchanged */
    unlink(script);

    const char *bad[] = {"relative/path", NULL};
    assert_int_equal(sandbox_spawn(&lim, argv, bad, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "'relative/path'"));
}

static int setup(void **state) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_sandbox.XXXXXX");
    /* readable by the sandbox uids: sandbox_spawn binds it for a verifier */
    return mkdtemp(tmpdir) && chmod(tmpdir, 0755) == 0 ? 0 : -1;
}

static int teardown(void **state) { return rmdir(tmpdir); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stdout_files_and_stdin),
        cmocka_unit_test(test_clean_environment_and_unprivileged_uid),
        cmocka_unit_test(test_infinite_loop_killed_by_cpu),
        cmocka_unit_test(test_fork_bomb_contained),
        cmocka_unit_test(test_memory_bomb_fails_to_allocate),
        cmocka_unit_test(test_cannot_write_outside_its_directory),
        cmocka_unit_test(test_cannot_read_outside_its_directory),
        cmocka_unit_test(test_no_network),
        cmocka_unit_test(test_cannot_signal_the_caller),
        cmocka_unit_test(test_sleep_killed_by_wall_time),
        cmocka_unit_test(test_flood_killed_by_output_cap),
        cmocka_unit_test(test_huge_file_killed_by_file_size),
        cmocka_unit_test(test_seccomp_denies_kernel_calls),
        cmocka_unit_test(test_many_jobs_in_order),
        cmocka_unit_test(test_runs_while_other_threads_allocate),
        cmocka_unit_test(test_setup_failures_are_reported),
        cmocka_unit_test(test_spawn_verifier_with_read_only_script),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
