/* Moved to util/outgate.h (issue 38: devices include it from below). This forwarder keeps
 * code written against the old path building; include util/outgate.h. */
#include "util/outgate.h"
