/* comm.h: the only module that calls MPI. Thin typed wrappers so the actor
 * and learner logic reads as plain C and can be driven in one process by
 * tests. Rank 0 is the learner; ranks 1..size-1 are actors. */
#ifndef PROTO_COMM_H
#define PROTO_COMM_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int rank, size;
} Comm;

/* MPI_Init; dies if MPI cannot start. */
void comm_init(Comm *c, int *argc, char ***argv);
void comm_finalize(void);
/* Aborts every rank with status code (after printing the reason). */
void comm_abort(int code) __attribute__((noreturn));

/* Sends len bytes (< 2^31) to dest with tag; blocking. */
void comm_send(const void *buf, size_t len, int dest, int tag);

/* Waits for the next message with tag from any rank, growing *buf (malloc'd,
 * capacity *cap) to fit it: a matched probe then receive, so the size is
 * known before the receive and no other thread can steal the message.
 * Returns the byte count; *src is the sender. */
size_t comm_recv_any(void **buf, size_t *cap, int tag, int *src);

/* Broadcasts len bytes from rank 0. */
void comm_bcast_bytes(void *buf, size_t len);
/* Broadcasts n floats from rank 0 in chunks of at most chunk_elems floats
 * (each chunk below 2^31 bytes, MPI's int count limit). */
void comm_bcast_floats(float *buf, size_t n, size_t chunk_elems);

/* Gathers one u64 from every rank at rank 0 into out (size entries, rank
 * order); out is ignored on other ranks. */
void comm_gather_u64(uint64_t value, uint64_t *out);
/* Gathers n doubles from every rank at rank 0 into out (size * n). */
void comm_gather_doubles(const double *vals, int n, double *out);

/* Gathers len bytes from every rank at rank 0 into out (size * len). */
void comm_gather_bytes(const void *in, size_t len, void *out);

void comm_barrier(void);

#endif
