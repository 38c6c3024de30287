/* local_completer.h: the Completer (proto/completer.h) of this process:
 * generate() with the [sampler] settings (temperature, top-k, top-p, stop
 * string), one completion per prompt. */
#ifndef ACTORS_LOCAL_COMPLETER_H
#define ACTORS_LOCAL_COMPLETER_H

#include "completer.h"
#include "config.h"

/* cfg must outlive the Completer. */
Completer local_completer(const Config *cfg);

#endif
