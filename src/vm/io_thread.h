/* Moved to util/io_thread.h (issue 38: devices include it from below). This forwarder keeps
 * code written against the old path building; include util/io_thread.h. */
#include "util/io_thread.h"
