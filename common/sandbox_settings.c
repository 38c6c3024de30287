/* sandbox_settings.c: the [sandbox] section, the limits of every program
 * the sandbox runs (sandbox.h). */
#include "sandbox.h"

#define T SandboxSettings
static const CfgKey keys[] = {
    CFG_F(T, "cpu_seconds", limits.cpu_seconds, "2", 0, 3600, 0,
          "CPU-time limit of each sandboxed process, s (RLIMIT_CPU)"),
    CFG_F(T, "wall_seconds", limits.wall_seconds, "5", 0, 3600, 0,
          "wall-time limit of a sandboxed run, s; then all its processes are killed"),
    CFG_I(T, "memory_mb", limits.memory_mb, "512", 16, 1 << 20, 0,
          "address-space limit of each sandboxed process, MiB (RLIMIT_AS)"),
    CFG_I(T, "file_kb", limits.file_kb, "1024", 1, 1 << 30, 0,
          "largest file a sandboxed program may write, KiB (RLIMIT_FSIZE)"),
    CFG_I(T, "output_kb", limits.output_kb, "64", 1, 1 << 20, 0,
          "stdout kept from a sandboxed run, KiB; printing more kills it"),
    CFG_I(T, "max_procs", limits.max_procs, "32", 1, 4096, 0,
          "processes and threads of a sandboxed run (RLIMIT_NPROC of its own uid)"),
    CFG_I(T, "max_files", limits.max_files, "64", 8, 4096, 0,
          "open files of each sandboxed process (RLIMIT_NOFILE)"),
    CFG_I(T, "dir_mb", limits.dir_mb, "16", 1, 1 << 16, 0,
          "size of a sandboxed run's private tmpfs working directory, MiB"),
    CFG_I(T, "jobs", limits.jobs, "1", 1, 64, 0, "sandboxed programs an actor runs at once"),
};
#undef T

const CfgSection sandbox_section = CFG_SECTION("sandbox", SandboxSettings, keys, NULL, NULL);

void sandbox_limits_default(SandboxLimits *l) {
    *l = (SandboxLimits){
        .cpu_seconds = 2,
        .wall_seconds = 5,
        .memory_mb = 512,
        .file_kb = 1024,
        .output_kb = 64,
        .max_procs = 32,
        .max_files = 64,
        .dir_mb = 16,
        .jobs = 1,
    };
}
