// Shared pieces of the C-simulation test benches: a flat memory arena, a seeded generator, and
// straightforward references written independently of the kernels (plain loops, int64).
//
// The same test benches serve `make csim` (g++), Vitis HLS csim_design and cosim_design; with
// -DE2T_TB_QUICK they run a reduced set of cases so that RTL co-simulation finishes in minutes.
#ifndef E2TRAIN_TB_COMMON_H
#define E2TRAIN_TB_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <vector>

#include "e2train_kernels.h"

namespace tb {

// Flat device memory: a bump allocator handing out 64-byte aligned byte addresses.
struct Arena {
    std::vector<uint64_t> words = std::vector<uint64_t>(E2T_TB_ARENA_WORDS, 0);
    uint64_t top = 0;

    uint8_t* bytes() { return reinterpret_cast<uint8_t*>(words.data()); }
    void reset() { top = 0; }
    // Reserves `n` bytes, fills them with `fill` (a sentinel shows entries the kernel never wrote).
    uint64_t alloc(uint64_t n, uint8_t fill = 0xA5) {
        const uint64_t addr = top;
        top = (top + n + 63) & ~uint64_t(63);
        if (top > words.size() * 8) {
            fprintf(stderr, "test bench arena too small (%llu bytes)\n", (unsigned long long)top);
            top = addr;
            return UINT64_MAX;
        }
        memset(bytes() + addr, fill, n);
        return addr;
    }
    template <typename T>
    uint64_t put(const std::vector<T>& v) {
        const uint64_t addr = alloc(v.size() * sizeof(T));
        if (addr != UINT64_MAX && !v.empty()) memcpy(bytes() + addr, v.data(), v.size() * sizeof(T));
        return addr;
    }
    template <typename T>
    std::vector<T> get(uint64_t addr, uint64_t count) {
        std::vector<T> v(count);
        if (count) memcpy(v.data(), bytes() + addr, count * sizeof(T));
        return v;
    }
};

// xorshift64*: reproducible across compilers (std distributions are not).
struct Rng {
    uint64_t s;
    explicit Rng(uint64_t seed) : s(seed ? seed : 1) {}
    uint64_t next() {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        return s * 2685821657736338717ull;
    }
    // Uniform integer in [lo, hi].
    int64_t range(int64_t lo, int64_t hi) { return lo + int64_t(next() % uint64_t(hi - lo + 1)); }
};

struct Failures {
    int count = 0;
    void check(bool ok, const char* what, const char* context) {
        if (!ok) {
            if (count < 50) fprintf(stderr, "FAIL %s [%s]\n", what, context);
            ++count;
        }
    }
};

// ---- references ----

inline void ref_gemm(const std::vector<int8_t>& a, const std::vector<int32_t>& b, uint32_t m, uint32_t n,
                     uint32_t k, std::vector<int32_t>& c, uint32_t& overflows) {
    c.assign(size_t(m) * n, 0);
    overflows = 0;
    for (uint32_t i = 0; i < m; ++i)
        for (uint32_t j = 0; j < n; ++j) {
            int64_t s = 0;
            for (uint32_t t = 0; t < k; ++t) s += int64_t(a[size_t(i) * k + t]) * b[size_t(t) * n + j];
            if (s > INT32_MAX || s < INT32_MIN) ++overflows;
            c[size_t(i) * n + j] = int32_t(s > INT32_MAX ? INT32_MAX : (s < INT32_MIN ? INT32_MIN : s));
        }
}

inline int32_t ref_msb4(int32_t q, bool is_signed) {
    // round(q / 16), ties up, clamped to 4 bits: floor division written without shifts.
    int32_t num = q + 8;
    int32_t s = num >= 0 ? num / 16 : -((-num + 15) / 16);
    const int32_t lo = is_signed ? -8 : 0, hi = is_signed ? 7 : 15;
    return s < lo ? lo : (s > hi ? hi : s);
}

inline int8_t ref_sign(int64_t v) {
    return int8_t((v > 0) - (v < 0));
}

// Signs, mask and count of psg_wgrad; x holds codes widened to int32 (K x P), g (N x P).
inline void ref_psg(const std::vector<int32_t>& x, const std::vector<int16_t>& g, uint32_t n, uint32_t k,
                    uint32_t p, uint64_t tau, bool x_signed, std::vector<int8_t>& signs,
                    std::vector<uint8_t>& mask, uint32_t& recomputed) {
    signs.assign(size_t(n) * k, 0);
    mask.assign(size_t(n) * k, 0);
    recomputed = 0;
    for (uint32_t i = 0; i < n; ++i)
        for (uint32_t j = 0; j < k; ++j) {
            int64_t pr = 0;
            for (uint32_t t = 0; t < p; ++t)
                pr += int64_t(g[size_t(i) * p + t]) * ref_msb4(x[size_t(j) * p + t], x_signed);
            const uint64_t mag = 16 * uint64_t(pr < 0 ? -pr : pr);  // < 2^44
            if (mag < tau) {
                int64_t f = 0;
                for (uint32_t t = 0; t < p; ++t) f += int64_t(g[size_t(i) * p + t]) * x[size_t(j) * p + t];
                signs[size_t(i) * k + j] = ref_sign(f);
                mask[size_t(i) * k + j] = 1;
                ++recomputed;
            } else {
                signs[size_t(i) * k + j] = ref_sign(pr);
            }
        }
}

}  // namespace tb

#endif  // E2TRAIN_TB_COMMON_H
