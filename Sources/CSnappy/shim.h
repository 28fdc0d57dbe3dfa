#ifndef LOGPIPE_CSNAPPY_SHIM_H
#define LOGPIPE_CSNAPPY_SHIM_H
// libsnappy's C interface (Debian's libsnappy-dev): block format, as the Loki push API sends it.
#include <snappy-c.h>
#endif
