// Helpers shared by the kernels: reading byte-addressed matrix rows through a 64-bit AXI master.
//
// A row segment of a row-major matrix starts at any byte inside a 64-bit word (rows of K int8
// elements are not word aligned when K % 8 != 0).  Reading is split in two loops so that HLS sees
// a plain sequential access and infers one AXI burst per segment: `fetch_words` copies the words
// that cover the segment into a small local buffer, then `unpack` picks elements out of it.
// Elements never straddle a word: int16 elements sit at even byte offsets because every base
// address is 8-byte aligned (checked by the kernels before any access).
#ifndef E2TRAIN_AXI_WORDS_H
#define E2TRAIN_AXI_WORDS_H

#include <stdint.h>

#include "e2train_kernels.h"

namespace e2t {

template <typename T>
static inline T min_of(T a, T b) {
    return a < b ? a : b;
}

// Words needed to buffer a segment of `bytes` bytes that may start anywhere inside a word.
constexpr int words_for(int bytes) {
    return (bytes + 7) / 8 + 1;
}

constexpr int max_of(int a, int b) {
    return a > b ? a : b;
}

// The longest segment any kernel reads: a gemm A row chunk (TK int8), a gemm B row chunk
// (TN int16), a psg G row chunk (TP int16) or X row chunk (TP int8).
#define E2T_SEGMENT_BYTES_MAX \
    e2t::max_of(e2t::max_of(E2T_GEMM_TK, 2 * E2T_GEMM_TN), 2 * E2T_PSG_TP)
#define E2T_WBUF_WORDS e2t::words_for(E2T_SEGMENT_BYTES_MAX)

// Copies the 64-bit words covering bytes [addr, addr + len) (1 <= len <= E2T_SEGMENT_BYTES_MAX)
// into wbuf, adds the bytes moved over the bus to `bytes_read` and returns the offset of `addr`
// inside the first word.
static uint32_t fetch_words(const uint64_t* mem, uint64_t addr, uint32_t len, uint64_t wbuf[E2T_WBUF_WORDS],
                            uint64_t& bytes_read) {
    const uint64_t first = addr >> 3;
    const uint32_t nw = uint32_t(((addr + len - 1) >> 3) - first + 1);
fetch:
    for (uint32_t w = 0; w < nw; ++w) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 17  // E2T_WBUF_WORDS at the default tiles; reports only
        wbuf[w] = mem[first + w];
    }
    bytes_read += uint64_t(nw) * 8u;
    return uint32_t(addr & 7u);
}

// Element `e` of a segment that starts `off` bytes into wbuf[0]; `esize` is 1 or 2 bytes.
static inline int32_t unpack(const uint64_t* wbuf, uint32_t off, uint32_t e, uint32_t esize, bool is_signed) {
    const uint32_t byte = off + e * esize;
    const uint64_t word = wbuf[byte >> 3];
    const uint32_t shift = (byte & 7u) * 8u;
    if (esize == 2) {
        const uint16_t v = uint16_t(word >> shift);
        return is_signed ? int32_t(int16_t(v)) : int32_t(v);
    }
    const uint8_t v = uint8_t(word >> shift);
    return is_signed ? int32_t(int8_t(v)) : int32_t(v);
}

}  // namespace e2t

#endif  // E2TRAIN_AXI_WORDS_H
