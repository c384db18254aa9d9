/* engine/engine.h — what libferry's own layers use of the engine registry (engine/engine.c). */
#ifndef FERRY_ENGINE_ENGINE_H
#define FERRY_ENGINE_ENGINE_H

#include <stdbool.h>

#include "engine/completion.h"

/*
 * Submit one job whose progress and end a host hook follows. *finishing
 * tells whether ferry_completion_finish ran or will run for the record
 * (accepted, or failed inside submit): when false, the hook's finish and
 * after will never be called.
 */
int ferry__engine_submit_hosted(ferry_engine *e, const ferry_copy_desc *d, struct ferry__host *host, bool *finishing);

/* The engine's registered name ("sw", "dsa", a plugin's). */
const char *ferry__engine_name(const ferry_engine *e);

#endif
