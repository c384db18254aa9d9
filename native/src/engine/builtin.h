/* engine/builtin.h — the engines built into libferry (engine/cpu.c, engine/sw.c, engine/dsa.c). */
#ifndef FERRY_ENGINE_BUILTIN_H
#define FERRY_ENGINE_BUILTIN_H

#include "ferry.h"

extern const ferry_engine_ops ferry__engine_cpu;
extern const ferry_engine_ops ferry__engine_sw;
extern const ferry_engine_ops ferry__engine_dsa;

#endif
