// C-simulation test bench of gemm: results, counters and argument checks against tb::ref_gemm.
// Exit status 0 when every check passes, 1 otherwise (Vitis HLS csim/cosim read it the same way).
#include <stdio.h>

#include <vector>

#include "tb_common.h"

namespace {

enum Pattern { RANDOM, ALL_MIN, ALL_MAX, MIN_MAX_ALTERNATING, ZEROS, SMALL };

const char* pattern_name(Pattern p) {
    static const char* names[] = {"random", "all_min", "all_max", "alternating", "zeros", "small"};
    return names[p];
}

// Values of one operand: `lo`..`hi` is the dtype's full range.
std::vector<int32_t> values(size_t count, int32_t lo, int32_t hi, Pattern pattern, tb::Rng& rng) {
    std::vector<int32_t> v(count);
    for (size_t i = 0; i < count; ++i) {
        switch (pattern) {
            case RANDOM: v[i] = int32_t(rng.range(lo, hi)); break;
            case ALL_MIN: v[i] = lo; break;
            case ALL_MAX: v[i] = hi; break;
            case MIN_MAX_ALTERNATING: v[i] = (i % 2) ? hi : lo; break;
            case ZEROS: v[i] = 0; break;
            case SMALL: v[i] = int32_t(rng.range(lo < 0 ? -3 : 0, 3)); break;
        }
    }
    return v;
}

void b_range(uint32_t mode, int32_t& lo, int32_t& hi) {
    if (mode == E2T_GEMM_MODE_I8I8) lo = -128, hi = 127;
    else if (mode == E2T_GEMM_MODE_I8U8) lo = 0, hi = 255;
    else lo = -32768, hi = 32767;
}

// Stores B in the operand's dtype and returns its address.
uint64_t put_b(tb::Arena& mem, const std::vector<int32_t>& b, uint32_t mode) {
    if (mode == E2T_GEMM_MODE_I8I16) return mem.put(std::vector<int16_t>(b.begin(), b.end()));
    if (mode == E2T_GEMM_MODE_I8U8) return mem.put(std::vector<uint8_t>(b.begin(), b.end()));
    return mem.put(std::vector<int8_t>(b.begin(), b.end()));
}

struct Counters {
    uint32_t status, overflows, recomputed;
    uint64_t macs, bytes_read, bytes_written;
};

Counters call(tb::Arena& mem, uint64_t a, uint64_t b, uint64_t c, uint32_t m, uint32_t n, uint32_t k,
              uint32_t mode) {
    Counters r{};
    gemm(mem.words.data(), reinterpret_cast<int32_t*>(mem.words.data()), a, b, c, m, n, k, mode, &r.status,
         &r.macs, &r.bytes_read, &r.bytes_written, &r.overflows, &r.recomputed);
    return r;
}

uint64_t ceil_div(uint64_t a, uint64_t b) {
    return (a + b - 1) / b;
}

void run_case(tb::Failures& f, tb::Rng& rng, uint32_t mode, uint32_t m, uint32_t n, uint32_t k, Pattern pa,
              Pattern pb) {
    char ctx[160];
    snprintf(ctx, sizeof ctx, "gemm mode=%u M=%u N=%u K=%u A=%s B=%s", mode, m, n, k, pattern_name(pa),
             pattern_name(pb));
    int32_t lo, hi;
    b_range(mode, lo, hi);
    const std::vector<int32_t> a32 = values(size_t(m) * k, -128, 127, pa, rng);
    const std::vector<int32_t> b32 = values(size_t(k) * n, lo, hi, pb, rng);
    const std::vector<int8_t> a(a32.begin(), a32.end());

    tb::Arena mem;
    const uint64_t a_addr = mem.put(a), b_addr = put_b(mem, b32, mode), c_addr = mem.alloc(size_t(m) * n * 4);
    if (a_addr == UINT64_MAX || b_addr == UINT64_MAX || c_addr == UINT64_MAX) {
        f.check(false, "case fits the arena", ctx);
        return;
    }
    const Counters r = call(mem, a_addr, b_addr, c_addr, m, n, k, mode);

    std::vector<int32_t> want;
    uint32_t want_ovf;
    tb::ref_gemm(a, b32, m, n, k, want, want_ovf);
    f.check(mem.get<int32_t>(c_addr, size_t(m) * n) == want, "C equals the reference", ctx);
    f.check(r.overflows == want_ovf, "OVERFLOWS", ctx);
    f.check(r.status == (want_ovf ? E2T_STATUS_OVERFLOW : 0u), "STATUS", ctx);
    f.check(r.macs == uint64_t(m) * n * k, "MACS == M*N*K", ctx);
    f.check(r.bytes_written == uint64_t(m) * n * 4, "BYTES_WRITTEN == 4*M*N", ctx);
    f.check(r.recomputed == 0, "RECOMPUTED == 0", ctx);
    // Every tile reads its operand rows once per K chunk; a segment costs its bytes rounded out to
    // whole 64-bit beats (at most 15 bytes more).
    const uint64_t esize = mode == E2T_GEMM_MODE_I8I16 ? 2 : 1;
    const uint64_t data = ceil_div(n, E2T_GEMM_TN) * m * k + ceil_div(m, E2T_GEMM_TM) * k * n * esize;
    const uint64_t segments = ceil_div(n, E2T_GEMM_TN) * ceil_div(k, E2T_GEMM_TK) * m + ceil_div(m, E2T_GEMM_TM) * k * ceil_div(n, E2T_GEMM_TN);
    f.check(r.bytes_read % 8 == 0 && r.bytes_read >= data && r.bytes_read <= data + 15 * segments,
            "BYTES_READ within the tiling bounds", ctx);
}

void overflow_cases(tb::Failures& f) {
    // int8 x int16 with K = 600: 600 * 128 * 32768 > 2^31 in both directions.
    const uint32_t m = 3, n = 4, k = 600;
    std::vector<int8_t> a(size_t(m) * k);
    std::vector<int32_t> b(size_t(k) * n);
    for (uint32_t t = 0; t < k; ++t) {
        a[t] = -128;                 // row 0: (-128) * (-32768) * 600 -> above INT32_MAX
        a[size_t(k) + t] = 127;      // row 1: 127 * (-32768) * 600 -> below INT32_MIN
        a[size_t(2 * k) + t] = 1;    // row 2: small, no overflow
        for (uint32_t j = 0; j < n; ++j) b[size_t(t) * n + j] = j == 3 ? 0 : -32768;  // column 3: zero
    }
    tb::Arena mem;
    const uint64_t a_addr = mem.put(a), b_addr = put_b(mem, b, E2T_GEMM_MODE_I8I16), c_addr = mem.alloc(m * n * 4);
    const Counters r = call(mem, a_addr, b_addr, c_addr, m, n, k, E2T_GEMM_MODE_I8I16);
    const std::vector<int32_t> c = mem.get<int32_t>(c_addr, m * n);
    const char* ctx = "gemm overflow i8i16 K=600";
    f.check(c[0] == INT32_MAX && c[1] == INT32_MAX && c[2] == INT32_MAX && c[3] == 0, "row 0 saturates high", ctx);
    f.check(c[4] == INT32_MIN && c[5] == INT32_MIN && c[6] == INT32_MIN && c[7] == 0, "row 1 saturates low", ctx);
    f.check(c[8] == -32768 * 600 && c[11] == 0, "row 2 exact", ctx);
    f.check(r.overflows == 6, "OVERFLOWS == 6", ctx);
    f.check(r.status == E2T_STATUS_OVERFLOW, "STATUS == OVERFLOW", ctx);
}

void bad_argument_cases(tb::Failures& f) {
    struct Bad {
        const char* name;
        uint32_t m, n, k, mode, misalign, want;
    };
    const Bad cases[] = {
        {"M == 0", 0, 4, 4, 0, 0, E2T_STATUS_BAD_DIMS},
        {"N == 0", 4, 0, 4, 0, 0, E2T_STATUS_BAD_DIMS},
        {"K == 0", 4, 4, 0, 0, 0, E2T_STATUS_BAD_DIMS},
        {"M > MAX_DIM", E2T_MAX_DIM + 1, 4, 4, 0, 0, E2T_STATUS_BAD_DIMS},
        {"K > MAX_DIM", 4, 4, 0xFFFFFFFFu, 0, 0, E2T_STATUS_BAD_DIMS},
        {"A misaligned", 4, 4, 4, 0, 1, E2T_STATUS_MISALIGNED},
        {"B misaligned", 4, 4, 4, 0, 2, E2T_STATUS_MISALIGNED},
        {"C misaligned", 4, 4, 4, 0, 3, E2T_STATUS_MISALIGNED},
        {"mode 3", 4, 4, 4, 3, 0, E2T_STATUS_BAD_MODE},
        {"all at once", 0, 4, 4, 7, 1, E2T_STATUS_BAD_DIMS | E2T_STATUS_MISALIGNED | E2T_STATUS_BAD_MODE},
    };
    for (const Bad& bad : cases) {
        tb::Arena mem;
        const uint64_t a = mem.alloc(64, 1), b = mem.alloc(64, 1), c = mem.alloc(64, 0xA5);
        const uint64_t a_addr = a + (bad.misalign == 1 ? 4 : 0), b_addr = b + (bad.misalign == 2 ? 1 : 0),
                       c_addr = c + (bad.misalign == 3 ? 4 : 0);
        const Counters r = call(mem, a_addr, b_addr, c_addr, bad.m, bad.n, bad.k, bad.mode);
        f.check(r.status == bad.want, "STATUS bits", bad.name);
        f.check(r.macs == 0 && r.bytes_read == 0 && r.bytes_written == 0 && r.overflows == 0,
                "counters stay 0", bad.name);
        bool untouched = true;
        for (uint8_t v : mem.get<uint8_t>(c, 64)) untouched = untouched && v == 0xA5;
        f.check(untouched, "C not written", bad.name);
    }
}

}  // namespace

int main() {
    tb::Failures f;
    tb::Rng rng(20240611);
    int cases = 0;
    const uint32_t TM = E2T_GEMM_TM, TN = E2T_GEMM_TN, TK = E2T_GEMM_TK;
    // Shapes: ones, exact tiles, tiles plus/minus one, and odd sizes that leave partial tiles and
    // rows starting in the middle of a 64-bit word.
    const uint32_t shapes[][3] = {
        {1, 1, 1}, {1, 1, 9}, {1, 9, 1}, {9, 1, 1}, {TM, TN, TK}, {TM + 1, TN + 1, TK + 1},
        {TM > 1 ? TM - 1 : 1, TN > 1 ? TN - 1 : 1, TK > 1 ? TK - 1 : 1}, {2 * TM + 3, 2 * TN + 5, 2 * TK + 7},
        {7, 13, 3}, {5, 3, 130},
    };
    const Pattern patterns[][2] = {{RANDOM, RANDOM}, {ALL_MIN, ALL_MIN}, {ALL_MAX, ALL_MAX},
                                   {ALL_MIN, ALL_MAX}, {MIN_MAX_ALTERNATING, MIN_MAX_ALTERNATING},
                                   {ZEROS, RANDOM},    {RANDOM, ZEROS}};
#ifdef E2T_TB_QUICK
    const int n_shapes = 4, n_patterns = 2, n_random = 4;
#else
    const int n_shapes = int(sizeof shapes / sizeof shapes[0]), n_patterns = int(sizeof patterns / sizeof patterns[0]),
              n_random = 60;
#endif
    for (uint32_t mode = 0; mode <= E2T_GEMM_MODE_I8I16; ++mode) {
        for (int s = 0; s < n_shapes; ++s)
            for (int p = 0; p < n_patterns; ++p, ++cases)
                run_case(f, rng, mode, shapes[s][0], shapes[s][1], shapes[s][2], patterns[p][0], patterns[p][1]);
        for (int r = 0; r < n_random; ++r, ++cases) {
            const uint32_t m = uint32_t(rng.range(1, 40)), n = uint32_t(rng.range(1, 40)),
                           k = uint32_t(rng.range(1, 150));
            run_case(f, rng, mode, m, n, k, r % 5 == 0 ? SMALL : RANDOM, RANDOM);
        }
    }
    overflow_cases(f);
    bad_argument_cases(f);
    printf("tb_gemm (TM=%u TN=%u TK=%u): %d cases + overflow + bad arguments: %s (%d failed checks)\n", TM, TN, TK,
           cases, f.count ? "FAIL" : "PASS", f.count);
    return f.count ? 1 : 0;
}
