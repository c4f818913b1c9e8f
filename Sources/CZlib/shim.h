#ifndef PERIGEE_CZLIB_SHIM_H
#define PERIGEE_CZLIB_SHIM_H

#include <zlib.h>

// deflateInit2 and inflateInit2 are function-like macros that pass the library version and the
// size of z_stream; Swift cannot call macros, so these wrappers do it.
static inline int perigee_deflateInit2(z_streamp strm, int level, int method, int windowBits,
                                       int memLevel, int strategy) {
    return deflateInit2(strm, level, method, windowBits, memLevel, strategy);
}

static inline int perigee_inflateInit2(z_streamp strm, int windowBits) {
    return inflateInit2(strm, windowBits);
}

#endif
