#include "stop_signals.h"

#include <string.h>

/* The stop signal received so far, or 0: the one piece of process-wide
 * state, because a handler can reach nothing else. (Blocking the signals
 * and polling sigpending would need no handler, but OpenBLAS starts its
 * threads when the library loads, and a process-directed signal would then
 * go to one of them and kill the process.) */
static volatile sig_atomic_t pending_stop;

static void on_stop_signal(int sig) { pending_stop = sig; }

static const int stop_signals[N_STOP_SIGNALS] = {SIGTERM, SIGINT, SIGUSR1};

void stop_signals_catch(StopSignals *saved) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    pending_stop = 0;
    for (int i = 0; i < N_STOP_SIGNALS; i++) sigaction(stop_signals[i], &sa, &saved->old[i]);
}

void stop_signals_restore(const StopSignals *saved) {
    for (int i = 0; i < N_STOP_SIGNALS; i++) sigaction(stop_signals[i], &saved->old[i], NULL);
}

int stop_signal_pending(void) { return (int)pending_stop; }
