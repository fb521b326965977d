// C-simulation test bench of psg_wgrad: signs, mask, counters and argument checks against
// tb::ref_psg.  Exit status 0 when every check passes, 1 otherwise.
#include <stdio.h>

#include <algorithm>
#include <vector>

#include "tb_common.h"

namespace {

enum Pattern { RANDOM, ALL_MIN, ALL_MAX, MIN_MAX_ALTERNATING, ZEROS, BELOW_MSB };

const char* pattern_name(Pattern p) {
    static const char* names[] = {"random", "all_min", "all_max", "alternating", "zeros", "below_msb"};
    return names[p];
}

std::vector<int32_t> values(size_t count, int32_t lo, int32_t hi, Pattern pattern, tb::Rng& rng) {
    std::vector<int32_t> v(count);
    for (size_t i = 0; i < count; ++i) {
        switch (pattern) {
            case RANDOM: v[i] = int32_t(rng.range(lo, hi)); break;
            case ALL_MIN: v[i] = lo; break;
            case ALL_MAX: v[i] = hi; break;
            case MIN_MAX_ALTERNATING: v[i] = (i % 3) ? hi : lo; break;
            case ZEROS: v[i] = 0; break;
            // msb4 of these is 0, so the prediction is 0 while the full product is not.
            case BELOW_MSB: v[i] = int32_t(rng.range(lo < 0 ? -7 : 0, 7)); break;
        }
    }
    return v;
}

struct Counters {
    uint32_t status, overflows, recomputed;
    uint64_t macs, bytes_read, bytes_written;
};

Counters call(tb::Arena& mem, uint64_t x, uint64_t g, uint64_t s, uint64_t mask, uint32_t n, uint32_t k,
              uint32_t p, uint64_t tau, uint32_t mode) {
    Counters r{};
    psg_wgrad(mem.words.data(), mem.bytes(), x, g, s, mask, n, k, p, tau, mode, &r.status, &r.macs,
              &r.bytes_read, &r.bytes_written, &r.overflows, &r.recomputed);
    return r;
}

uint64_t ceil_div(uint64_t a, uint64_t b) {
    return (a + b - 1) / b;
}

// Runs one call and checks signs, mask and counters against tb::ref_psg.
void check_case(tb::Failures& f, uint32_t mode, uint32_t n, uint32_t k, uint32_t p, const std::vector<int32_t>& x,
                const std::vector<int16_t>& g, uint64_t tau, const char* x_name, const char* g_name) {
    const bool x_signed = mode == E2T_PSG_MODE_SIGNED;
    char ctx[192];
    snprintf(ctx, sizeof ctx, "psg mode=%u N=%u K=%u P=%u X=%s G=%s tau=%llu", mode, n, k, p, x_name, g_name,
             (unsigned long long)tau);

    tb::Arena mem;
    const uint64_t x_addr = x_signed ? mem.put(std::vector<int8_t>(x.begin(), x.end()))
                                     : mem.put(std::vector<uint8_t>(x.begin(), x.end()));
    const uint64_t g_addr = mem.put(g), s_addr = mem.alloc(size_t(n) * k), m_addr = mem.alloc(size_t(n) * k);
    if (x_addr == UINT64_MAX || g_addr == UINT64_MAX || s_addr == UINT64_MAX || m_addr == UINT64_MAX) {
        f.check(false, "case fits the arena", ctx);
        return;
    }
    const Counters r = call(mem, x_addr, g_addr, s_addr, m_addr, n, k, p, tau, mode);

    std::vector<int8_t> want_s;
    std::vector<uint8_t> want_m;
    uint32_t want_rec;
    tb::ref_psg(x, g, n, k, p, tau, x_signed, want_s, want_m, want_rec);
    f.check(mem.get<int8_t>(s_addr, size_t(n) * k) == want_s, "signs equal the reference", ctx);
    f.check(mem.get<uint8_t>(m_addr, size_t(n) * k) == want_m, "mask equals the reference", ctx);
    f.check(r.recomputed == want_rec, "RECOMPUTED", ctx);
    f.check(r.macs == uint64_t(n) * k * p + uint64_t(want_rec) * p, "MACS == N*K*P + RECOMPUTED*P", ctx);
    f.check(r.status == 0 && r.overflows == 0, "STATUS == 0, OVERFLOWS == 0", ctx);
    f.check(r.bytes_written == 2ull * n * k, "BYTES_WRITTEN == 2*N*K", ctx);
    // Pass 1 reads every G and X row chunk once per tile; pass 2 at most as much again.
    const uint64_t data = ceil_div(k, E2T_PSG_TK) * n * p * 2 + ceil_div(n, E2T_PSG_TN) * k * p;
    const uint64_t segments = ceil_div(p, E2T_PSG_TP) * (ceil_div(k, E2T_PSG_TK) * n + ceil_div(n, E2T_PSG_TN) * k);
    const uint64_t bound = (data + 15 * segments) * (want_rec ? 2 : 1);
    f.check(r.bytes_read % 8 == 0 && r.bytes_read >= data && r.bytes_read <= bound,
            "BYTES_READ within the tiling bounds", ctx);
    if (tau == 0) f.check(r.recomputed == 0, "tau = 0 recomputes nothing", ctx);
    if (tau >= (uint64_t(1) << 44)) f.check(r.recomputed == n * k, "tau >= 2^44 recomputes everything", ctx);
}

enum TauChoice { TAU_ZERO, TAU_ONE, TAU_MEDIAN, TAU_2POW32, TAU_2POW63, TAU_MAX };

// A threshold that makes no entry, the zero entries, about half, or all entries unsure.  TAU is a
// 64-bit register: 2^32 is wrong if the kernel keeps only the low word, 2^63 and 2^64 - 1 are wrong
// if it compares signed.
uint64_t pick_tau(TauChoice choice, const std::vector<int32_t>& x, const std::vector<int16_t>& g, uint32_t n,
                  uint32_t k, uint32_t p, bool x_signed) {
    if (choice == TAU_ZERO) return 0;
    if (choice == TAU_ONE) return 1;
    if (choice == TAU_2POW32) return uint64_t(1) << 32;
    if (choice == TAU_2POW63) return uint64_t(1) << 63;
    if (choice == TAU_MAX) return UINT64_MAX;
    std::vector<int64_t> mags;
    for (uint32_t i = 0; i < n; ++i)
        for (uint32_t j = 0; j < k; ++j) {
            int64_t pr = 0;
            for (uint32_t t = 0; t < p; ++t)
                pr += int64_t(g[size_t(i) * p + t]) * tb::ref_msb4(x[size_t(j) * p + t], x_signed);
            mags.push_back(16 * (pr < 0 ? -pr : pr));
        }
    std::nth_element(mags.begin(), mags.begin() + mags.size() / 2, mags.end());
    const int64_t median = mags[mags.size() / 2];
    return uint64_t(median);
}

void run_case(tb::Failures& f, tb::Rng& rng, uint32_t mode, uint32_t n, uint32_t k, uint32_t p, Pattern px,
              Pattern pg, TauChoice tau_choice) {
    const bool x_signed = mode == E2T_PSG_MODE_SIGNED;
    const std::vector<int32_t> x = values(size_t(k) * p, x_signed ? -128 : 0, x_signed ? 127 : 255, px, rng);
    const std::vector<int32_t> g32 = values(size_t(n) * p, -32768, 32767, pg, rng);
    const std::vector<int16_t> g(g32.begin(), g32.end());
    const uint64_t tau = pick_tau(tau_choice, x, g, n, k, p, x_signed);
    check_case(f, mode, n, k, p, x, g, tau, pattern_name(px), pattern_name(pg));
}

// Thresholds above 32 bits where they matter: with P = 4000 and extreme codes |16 * Pr| spreads
// from 0 to beyond 2^33, and tau is set to each entry's magnitude and one more (exactly on the
// comparison's edge), to 2^32 and 2^32 + 1, and to the top of the 64-bit range.
int large_tau_cases(tb::Failures& f) {
    int cases = 0;
    const uint32_t n = 6, k = 4, p = 4000;
    for (uint32_t mode = 0; mode <= E2T_PSG_MODE_UNSIGNED; ++mode) {
        const bool x_signed = mode == E2T_PSG_MODE_SIGNED;
        std::vector<int32_t> x(size_t(k) * p);
        for (uint32_t j = 0; j < k; ++j)  // rows of distinct constant codes: msb4 15, 8, 4, 2 (7, 4, 2, 1 signed)
            for (uint32_t t = 0; t < p; ++t) x[size_t(j) * p + t] = (x_signed ? 127 : 255) >> j;
        std::vector<int16_t> g(size_t(n) * p);
        for (uint32_t i = 0; i < n; ++i)  // row i: a fraction i / (n - 1) of -32768, the rest 32767
            for (uint32_t t = 0; t < p; ++t) g[size_t(i) * p + t] = int16_t(t < p * i / (n - 1) ? -32768 : 32767);
        std::vector<uint64_t> taus = {uint64_t(1) << 32, (uint64_t(1) << 32) + 1, (uint64_t(1) << 63) + 1,
                                      UINT64_MAX};
        for (uint32_t i = 0; i < n; ++i)
            for (uint32_t j = 0; j < k; ++j) {
                int64_t pr = 0;
                for (uint32_t t = 0; t < p; ++t)
                    pr += int64_t(g[size_t(i) * p + t]) * tb::ref_msb4(x[size_t(j) * p + t], x_signed);
                const uint64_t mag = 16 * uint64_t(pr < 0 ? -pr : pr);
                taus.push_back(mag);
                taus.push_back(mag + 1);
            }
        for (uint64_t tau : taus) {
            check_case(f, mode, n, k, p, x, g, tau, "constant_rows", "split_extremes");
            ++cases;
        }
    }
    return cases;
}

void bad_argument_cases(tb::Failures& f) {
    struct Bad {
        const char* name;
        uint32_t n, k, p, mode, misalign, want;
    };
    const Bad cases[] = {
        {"N == 0", 0, 4, 4, 0, 0, E2T_STATUS_BAD_DIMS},
        {"K == 0", 4, 0, 4, 0, 0, E2T_STATUS_BAD_DIMS},
        {"P == 0", 4, 4, 0, 0, 0, E2T_STATUS_BAD_DIMS},
        {"N > MAX_DIM", E2T_MAX_DIM + 1, 4, 4, 0, 0, E2T_STATUS_BAD_DIMS},
        {"K > MAX_DIM", 4, E2T_MAX_DIM + 1, 4, 0, 0, E2T_STATUS_BAD_DIMS},
        {"P > MAX_P", 4, 4, E2T_MAX_P + 1, 0, 0, E2T_STATUS_BAD_DIMS},
        {"X misaligned", 4, 4, 4, 0, 1, E2T_STATUS_MISALIGNED},
        {"G misaligned", 4, 4, 4, 0, 2, E2T_STATUS_MISALIGNED},
        {"S misaligned", 4, 4, 4, 0, 3, E2T_STATUS_MISALIGNED},
        {"MASK misaligned", 4, 4, 4, 0, 4, E2T_STATUS_MISALIGNED},
        {"mode 2", 4, 4, 4, 2, 0, E2T_STATUS_BAD_MODE},
        {"all at once", 4, 4, 0, 9, 4, E2T_STATUS_BAD_DIMS | E2T_STATUS_MISALIGNED | E2T_STATUS_BAD_MODE},
    };
    for (const Bad& bad : cases) {
        tb::Arena mem;
        const uint64_t x = mem.alloc(64, 1), g = mem.alloc(64, 1), s = mem.alloc(64), m = mem.alloc(64);
        const Counters r = call(mem, x + (bad.misalign == 1 ? 1 : 0), g + (bad.misalign == 2 ? 2 : 0),
                                s + (bad.misalign == 3 ? 4 : 0), m + (bad.misalign == 4 ? 7 : 0), bad.n, bad.k,
                                bad.p, 100, bad.mode);
        f.check(r.status == bad.want, "STATUS bits", bad.name);
        f.check(r.macs == 0 && r.bytes_read == 0 && r.bytes_written == 0 && r.recomputed == 0,
                "counters stay 0", bad.name);
        bool untouched = true;
        for (uint8_t v : mem.get<uint8_t>(s, 128)) untouched = untouched && v == 0xA5;
        f.check(untouched, "signs and mask not written", bad.name);
    }
}

}  // namespace

int main() {
    tb::Failures f;
    tb::Rng rng(20240612);
    int cases = 0;
    const uint32_t TN = E2T_PSG_TN, TK = E2T_PSG_TK, TP = E2T_PSG_TP;
    const uint32_t shapes[][3] = {
        {1, 1, 1}, {1, 1, 9}, {1, 9, 1}, {9, 1, 1}, {TN, TK, TP}, {TN + 1, TK + 1, TP + 1},
        {TN > 1 ? TN - 1 : 1, TK > 1 ? TK - 1 : 1, TP > 1 ? TP - 1 : 1}, {2 * TN + 3, 2 * TK + 5, 2 * TP + 7},
        {7, 13, 3}, {5, 3, 300},
    };
    const Pattern patterns[][2] = {{RANDOM, RANDOM},   {ALL_MIN, ALL_MIN}, {ALL_MAX, ALL_MIN},
                                   {MIN_MAX_ALTERNATING, RANDOM}, {ZEROS, RANDOM}, {BELOW_MSB, RANDOM},
                                   {RANDOM, ZEROS}};
    const TauChoice taus[] = {TAU_ZERO, TAU_ONE, TAU_MEDIAN, TAU_2POW32, TAU_2POW63, TAU_MAX};
#ifdef E2T_TB_QUICK
    const int n_shapes = 4, n_patterns = 2, n_random = 4;
#else
    const int n_shapes = int(sizeof shapes / sizeof shapes[0]), n_patterns = int(sizeof patterns / sizeof patterns[0]),
              n_random = 40;
#endif
    for (uint32_t mode = 0; mode <= E2T_PSG_MODE_UNSIGNED; ++mode) {
        for (int s = 0; s < n_shapes; ++s)
            for (int p = 0; p < n_patterns; ++p)
                for (TauChoice t : taus) {
                    run_case(f, rng, mode, shapes[s][0], shapes[s][1], shapes[s][2], patterns[p][0],
                             patterns[p][1], t);
                    ++cases;
                }
        for (int r = 0; r < n_random; ++r, ++cases) {
            const uint32_t n = uint32_t(rng.range(1, 40)), k = uint32_t(rng.range(1, 40)),
                           p = uint32_t(rng.range(1, 200));
            run_case(f, rng, mode, n, k, p, r % 4 == 0 ? BELOW_MSB : RANDOM, RANDOM, TAU_MEDIAN);
        }
    }
    cases += large_tau_cases(f);
    bad_argument_cases(f);
    printf("tb_psg_wgrad (TN=%u TK=%u TP=%u): %d cases + bad arguments: %s (%d failed checks)\n", TN, TK, TP, cases,
           f.count ? "FAIL" : "PASS", f.count);
    return f.count ? 1 : 0;
}
