/* stop_signals.h: SIGTERM, SIGINT and SIGUSR1 as "finish the unit of work
 * in progress, then stop" (what `grpo pipeline` and the SLURM scripts send
 * a stage), for a command that polls between units and restores the
 * caller's handlers on return. */
#ifndef COMMON_STOP_SIGNALS_H
#define COMMON_STOP_SIGNALS_H

#include <signal.h>

enum { N_STOP_SIGNALS = 3 };

/* The handlers a command found, put back by stop_signals_restore. */
typedef struct {
    struct sigaction old[N_STOP_SIGNALS];
} StopSignals;

/* Clears the pending stop and installs the handlers, keeping the old ones
 * in saved. Another signal while one is pending only records the latest:
 * a second signal is harmless. */
void stop_signals_catch(StopSignals *saved);
void stop_signals_restore(const StopSignals *saved);

/* The last stop signal received since stop_signals_catch, or 0. */
int stop_signal_pending(void);

#endif
