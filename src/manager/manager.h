/* Forwarding header, for the code that still includes it: petrelctl (src/ctl, which links
 * worker_http.c, util.c and defs.c) and worker_http.c. petreld's own files include the headers
 * of the modules they use (mgr.h, definition.h, defs.h, worker.h, ...: docs/development.md,
 * "petreld's layers"). */
#ifndef PETREL_MANAGER_H
#define PETREL_MANAGER_H

#include "manager/defs.h"
#include "manager/uhttp.h"
#include "manager/util.h"

#endif
