/* sandbox_root.c: the root filesystem of a sandbox, built by its init
 * (sandbox_child.c) in a fresh mount namespace, between fork and exec:
 * async-signal-safe calls only, every string prepared by the parent. */
#include "sandbox_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

enum { MAX_RO = 16, PATH_CAP = 1100 };

/* "/proc/self/fd/<fd>": a mount source that names what fd was opened on,
 * because the staging tmpfs on /tmp hides paths below /tmp. */
static void fd_path(char out[32], int fd) {
    char digits[12];
    int n = 0;
    do digits[n++] = (char)('0' + fd % 10);
    while ((fd /= 10) > 0);
    memcpy(out, "/proc/self/fd/", 14);
    for (int i = 0; i < n; i++) out[14 + i] = digits[n - 1 - i];
    out[14 + n] = 0;
}

/* Binds what fd names onto target and makes the bind read-only (a bind
 * mount takes its flags only from the remount). */
static void bind_ro(int fd, const char *target, unsigned long flags, const char *step) {
    char src[32];
    fd_path(src, fd);
    sandbox_must(mount(src, target, NULL, MS_BIND, NULL), step);
    /* in a user namespace the source's nosuid/nodev/noexec are locked:
     * the remount must repeat them */
    struct statfs sf;
    sandbox_must(statfs(target, &sf), step);
    if (sf.f_flags & ST_NOSUID) flags |= MS_NOSUID;
    if (sf.f_flags & ST_NODEV) flags |= MS_NODEV;
    if (sf.f_flags & ST_NOEXEC) flags |= MS_NOEXEC;
    sandbox_must(mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | flags, NULL), step);
}

/* The mount point of a ro_path inside the staging root: its parents as
 * directories, then a directory or an empty file like the source. */
static void make_mount_point(char *rel, int src_fd) {
    for (char *s = strchr(rel, '/'); s; s = strchr(s + 1, '/')) {
        *s = 0;
        if (mkdir(rel, 0755) < 0 && errno != EEXIST) sandbox_fail("mkdir for a read-only path");
        *s = '/';
    }
    struct stat st;
    sandbox_must(fstat(src_fd, &st), "stat a read-only path");
    if (S_ISDIR(st.st_mode)) {
        if (mkdir(rel, 0755) < 0 && errno != EEXIST) sandbox_fail("mkdir for a read-only path");
    } else {
        int f = open(rel, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        sandbox_must(f, "create the mount point of a read-only file");
        close(f);
    }
}

static void write_files(const SandboxPlan *p) {
    for (int i = 0; i < p->n_files; i++) {
        char path[PATH_CAP];
        size_t dl = strlen("sandbox/"), nl = strlen(p->files[i].name);
        memcpy(path, "sandbox/", dl);
        memcpy(path + dl, p->files[i].name, nl + 1); /* the parent checked nl < 256 */
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        sandbox_must(fd, "create a file in the working directory");
        for (size_t off = 0; off < p->files[i].len;) {
            ssize_t w = write(fd, p->files[i].data + off, p->files[i].len - off);
            if (w < 0 && errno == EINTR) continue;
            sandbox_must(w, "write a file in the working directory (over dir_mb?)");
            off += (size_t)w;
        }
        sandbox_must(fchown(fd, p->uid, p->gid), "chown a file in the working directory");
        close(fd);
    }
}

/* The new root: a tmpfs holding /usr (read-only), the merged-usr symlinks,
 * a minimal /dev, this namespace's /proc, the ro_paths and the working
 * directory; then pivot_root into it, detach the old root, and make the
 * root itself read-only. */
void sandbox_build_root(const SandboxPlan *p) {
    static const char *const dev_src[] = {"/dev/null", "/dev/zero", "/dev/urandom"};
    static const char *const dev_dst[] = {"dev/null", "dev/zero", "dev/urandom"};
    int usr = open("/usr", O_PATH | O_DIRECTORY | O_CLOEXEC);
    sandbox_must(usr, "open /usr");
    int devs[3], ro[MAX_RO], n_ro = 0;
    for (int i = 0; i < 3; i++)
        sandbox_must(devs[i] = open(dev_src[i], O_PATH | O_CLOEXEC), "open a /dev node");
    for (; p->ro_paths && p->ro_paths[n_ro]; n_ro++)
        sandbox_must(ro[n_ro] = open(p->ro_paths[n_ro], O_PATH | O_CLOEXEC),
                     "open a read-only path");

    /* nothing mounted below propagates back to the host */
    sandbox_must(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), "make / private");
    sandbox_must(
        mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,nr_inodes=1024,mode=0755"),
        "mount the staging root tmpfs on /tmp");
    sandbox_must(chdir("/tmp"), "chdir into the staging root");

    sandbox_must(mkdir("usr", 0755), "mkdir /usr");
    bind_ro(usr, "usr", MS_NOSUID | MS_NODEV, "bind /usr read-only");
    sandbox_must(symlink("usr/bin", "bin"), "symlink /bin");
    sandbox_must(symlink("usr/sbin", "sbin"), "symlink /sbin");
    sandbox_must(symlink("usr/lib", "lib"), "symlink /lib");
    sandbox_must(symlink("usr/lib64", "lib64"), "symlink /lib64");

    sandbox_must(mkdir("dev", 0755), "mkdir /dev");
    sandbox_must(
        mount("tmpfs", "dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,nr_inodes=64,mode=0755"),
        "mount tmpfs on /dev");
    for (int i = 0; i < 3; i++) {
        int f = open(dev_dst[i], O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
        sandbox_must(f, "create a /dev mount point");
        close(f);
        bind_ro(devs[i], dev_dst[i], MS_NOSUID | MS_NOEXEC, "bind a /dev node");
    }
    sandbox_must(symlink("/proc/self/fd", "dev/fd"), "symlink /dev/fd");
    sandbox_must(symlink("/proc/self/fd/0", "dev/stdin"), "symlink /dev/stdin");
    sandbox_must(symlink("/proc/self/fd/1", "dev/stdout"), "symlink /dev/stdout");
    sandbox_must(symlink("/proc/self/fd/2", "dev/stderr"), "symlink /dev/stderr");
    sandbox_must(
        mount(NULL, "dev", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC, NULL),
        "remount /dev read-only");

    sandbox_must(mkdir("proc", 0555), "mkdir /proc");
    sandbox_must(mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL),
                 "mount /proc");

    for (int i = 0; i < n_ro; i++) {
        char rel[PATH_CAP];
        memcpy(rel, p->ro_paths[i] + 1, strlen(p->ro_paths[i])); /* without the leading '/' */
        make_mount_point(rel, ro[i]);
        bind_ro(ro[i], rel, MS_NOSUID | MS_NODEV, "bind a read-only path");
    }

    sandbox_must(mkdir("sandbox", 0755), "mkdir " SANDBOX_DIR);
    sandbox_must(mount("tmpfs", "sandbox", "tmpfs", MS_NOSUID | MS_NODEV, p->dir_opts),
         "mount the working directory tmpfs");
    write_files(p);

    /* no descriptor of the host's filesystem survives into the program */
    close(usr);
    for (int i = 0; i < 3; i++) close(devs[i]);
    for (int i = 0; i < n_ro; i++) close(ro[i]);

    sandbox_must(syscall(SYS_pivot_root, ".", "."), "pivot_root");
    sandbox_must(umount2(".", MNT_DETACH), "detach the old root");
    sandbox_must(chdir("/"), "chdir /");
    sandbox_must(
        mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL),
        "remount / read-only");
    sandbox_must(sethostname("sandbox", 7), "sethostname");
}
