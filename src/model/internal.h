/*
 * Private to src/model: the ops tables each model file defines, listed in
 * registry.c.
 */
#ifndef VIGIL_MODEL_INTERNAL_H
#define VIGIL_MODEL_INTERNAL_H

#include "vigil/model.h"

#endif /* VIGIL_MODEL_INTERNAL_H */
