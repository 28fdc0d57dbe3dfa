#ifndef LOGPIPE_CZLIB_SHIM_H
#define LOGPIPE_CZLIB_SHIM_H
#include <zlib.h>

/// inflateInit2 is a macro; this is a function Swift can call. 16 + MAX_WBITS: gzip framing only.
static inline int logpipe_inflate_init_gzip(z_stream *stream) {
    return inflateInit2(stream, 16 + MAX_WBITS);
}
/// deflateInit2 for gzip framing (used by tests and tools that produce gzip bodies).
static inline int logpipe_deflate_init_gzip(z_stream *stream, int level) {
    return deflateInit2(stream, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
}
#endif
