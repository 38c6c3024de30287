#include "comm.h"

#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#include "util.h"

void comm_init(Comm *c, int *argc, char ***argv) {
    if (MPI_Init(argc, argv) != MPI_SUCCESS) die("MPI_Init failed");
    MPI_Comm_rank(MPI_COMM_WORLD, &c->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &c->size);
}

void comm_finalize(void) { MPI_Finalize(); }

void comm_abort(int code) {
    fflush(stdout);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
    exit(code); /* not reached */
}

void comm_send(const void *buf, size_t len, int dest, int tag) {
    CHECK(len < (size_t)INT_MAX);
    MPI_Send(buf, (int)len, MPI_BYTE, dest, tag, MPI_COMM_WORLD);
}

size_t comm_recv_any(void **buf, size_t *cap, int tag, int *src) {
    MPI_Message msg;
    MPI_Status st;
    MPI_Mprobe(MPI_ANY_SOURCE, tag, MPI_COMM_WORLD, &msg, &st);
    int count = 0;
    MPI_Get_count(&st, MPI_BYTE, &count);
    if ((size_t)count > *cap || *buf == NULL) {
        xfree(*buf);
        *cap = (size_t)count > 4096 ? (size_t)count : 4096;
        *buf = xmalloc(*cap);
    }
    MPI_Mrecv(*buf, count, MPI_BYTE, &msg, &st);
    *src = st.MPI_SOURCE;
    return (size_t)count;
}

void comm_bcast_bytes(void *buf, size_t len) {
    CHECK(len < (size_t)INT_MAX);
    MPI_Bcast(buf, (int)len, MPI_BYTE, 0, MPI_COMM_WORLD);
}

void comm_bcast_floats(float *buf, size_t n, size_t chunk_elems) {
    CHECK(chunk_elems > 0 && chunk_elems * sizeof(float) < (size_t)INT_MAX);
    for (size_t off = 0; off < n; off += chunk_elems) {
        size_t cnt = n - off < chunk_elems ? n - off : chunk_elems;
        MPI_Bcast(buf + off, (int)cnt, MPI_FLOAT, 0, MPI_COMM_WORLD);
    }
}

void comm_gather_u64(uint64_t value, uint64_t *out) {
    MPI_Gather(&value, 1, MPI_UINT64_T, out, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
}

void comm_gather_doubles(const double *vals, int n, double *out) {
    MPI_Gather(vals, n, MPI_DOUBLE, out, n, MPI_DOUBLE, 0, MPI_COMM_WORLD);
}

void comm_gather_bytes(const void *in, size_t len, void *out) {
    CHECK(len < (size_t)INT_MAX);
    MPI_Gather(in, (int)len, MPI_BYTE, out, (int)len, MPI_BYTE, 0, MPI_COMM_WORLD);
}

void comm_barrier(void) { MPI_Barrier(MPI_COMM_WORLD); }
