/* Renamed api/core.h (issue 38: api/ has files by resource and a core). This forwarder keeps
 * code written against the old name (other branches of this wave) building; include
 * api/core.h. */
#include "api/core.h"
