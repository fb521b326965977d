// psg_wgrad: predictive sign weight gradient (see host/e2train/kernels/reference.py).
//
// For each output tile (TN rows of G x TK rows of X):
//   pass 1  streams P in chunks of TP and accumulates the prediction Pr = G . msb4(X)^T with TK
//           4b x 16b MACs per cycle;
//   decide  marks the entries with |16 * Pr| < tau and lists them;
//   pass 2  (only if the list is not empty) streams P again, reading only the G and X rows that a
//           listed entry needs, and computes the full product F = G . X^T for the listed entries
//           only: confident entries never issue an 8b x 16b MAC, which is the point of the
//           algorithm and what the MACS counter shows (N*K*P + RECOMPUTED*P).
#include "e2train_kernels.h"

#include "axi_words.h"

namespace {

constexpr int TN = E2T_PSG_TN;
constexpr int TK = E2T_PSG_TK;
constexpr int TP = E2T_PSG_TP;
static_assert(TN >= 1 && TK >= 1 && TP >= 1, "psg_wgrad tile sizes must be >= 1");

uint32_t validate(uint64_t x_addr, uint64_t g_addr, uint64_t s_addr, uint64_t mask_addr, uint32_t n,
                  uint32_t k, uint32_t p, uint32_t mode) {
    uint32_t status = 0;
    if (n == 0 || k == 0 || p == 0 || n > E2T_MAX_DIM || k > E2T_MAX_DIM || p > E2T_MAX_P)
        status |= E2T_STATUS_BAD_DIMS;
    if (((x_addr | g_addr | s_addr | mask_addr) & (E2T_ADDRESS_ALIGN - 1)) != 0) status |= E2T_STATUS_MISALIGNED;
    if (mode > E2T_PSG_MODE_UNSIGNED) status |= E2T_STATUS_BAD_MODE;
    return status;
}

// The 4-bit MSB predictor code, as e2train.quant.msb4 defines it: clamp((q + 8) >> 4, lo, hi).
// `>>` on a negative int is an arithmetic shift in g++ and Vitis HLS (and by definition in C++20).
inline int32_t msb4(int32_t q, bool is_signed) {
    const int32_t lo = is_signed ? -8 : 0;
    const int32_t hi = is_signed ? 7 : 15;
    const int32_t s = (q + 8) >> 4;
    return s < lo ? lo : (s > hi ? hi : s);
}

inline int8_t sign_of(int64_t v) {
    return v > 0 ? int8_t(1) : (v < 0 ? int8_t(-1) : int8_t(0));
}

}  // namespace

void psg_wgrad(const uint64_t* mem_rd, uint8_t* mem_wr, uint64_t x_addr, uint64_t g_addr, uint64_t s_addr,
               uint64_t mask_addr, uint32_t n, uint32_t k, uint32_t p, uint64_t tau, uint32_t mode,
               uint32_t* status, uint64_t* macs, uint64_t* bytes_read, uint64_t* bytes_written,
               uint32_t* overflows, uint32_t* recomputed) {
// 64-bit reads; byte writes, because sign and mask rows of K bytes start anywhere in a word.
#pragma HLS INTERFACE mode = m_axi port = mem_rd offset = off bundle = gmem_rd depth = 131072 max_read_burst_length = 32
#pragma HLS INTERFACE mode = m_axi port = mem_wr offset = off bundle = gmem_wr depth = 1048576 max_write_burst_length = 32
// Argument offsets are explicit and equal host/e2train/kernels/regmap.py PSG_WGRAD (tests/hls checks).
#pragma HLS INTERFACE mode = s_axilite port = x_addr offset = 0x10 bundle = control
#pragma HLS INTERFACE mode = s_axilite port = g_addr offset = 0x1C bundle = control
#pragma HLS INTERFACE mode = s_axilite port = s_addr offset = 0x28 bundle = control
#pragma HLS INTERFACE mode = s_axilite port = mask_addr offset = 0x34 bundle = control
#pragma HLS INTERFACE mode = s_axilite port = n offset = 0x40 bundle = control
#pragma HLS INTERFACE mode = s_axilite port = k offset = 0x48 bundle = control
#pragma HLS INTERFACE mode = s_axilite port = p offset = 0x50 bundle = control
// tau is 64-bit: low word 0x58, high word 0x5C, reserved word 0x60 (as for an address).
#pragma HLS INTERFACE mode = s_axilite port = tau offset = 0x58 bundle = control
#pragma HLS INTERFACE mode = s_axilite port = mode offset = 0x64 bundle = control
// Outputs: same counter layout as gemm (see gemm.cpp and hls/README.md).
#pragma HLS INTERFACE mode = s_axilite port = status offset = 0x80 bundle = control
#pragma HLS INTERFACE mode = s_axilite port = macs offset = 0x88 bundle = control
#pragma HLS INTERFACE mode = s_axilite port = bytes_read offset = 0x94 bundle = control
#pragma HLS INTERFACE mode = s_axilite port = bytes_written offset = 0xA0 bundle = control
#pragma HLS INTERFACE mode = s_axilite port = overflows offset = 0xAC bundle = control
#pragma HLS INTERFACE mode = s_axilite port = recomputed offset = 0xB4 bundle = control
#pragma HLS INTERFACE mode = s_axilite port = return bundle = control
#pragma HLS INTERFACE mode = ap_ctrl_hs port = return

    uint64_t n_macs = 0, n_read = 0, n_written = 0;
    uint32_t n_recomputed = 0;
    const uint32_t st = validate(x_addr, g_addr, s_addr, mask_addr, n, k, p, mode);
    if (st == 0) {
        const bool x_signed = mode == E2T_PSG_MODE_SIGNED;

        int16_t g_buf[TN][TP];
        int16_t x_buf[TK][TP];  // int16 holds int8 and uint8 codes
        int64_t pred[TN][TK];
        int8_t sign_buf[TN][TK];
        uint8_t mask_buf[TN][TK];
        uint32_t list[TN * TK];  // unconfident entries of the tile, as nn * TK + kk
        int64_t full[TN * TK];
        bool need_g[TN], need_x[TK];
        uint64_t wbuf[E2T_WBUF_WORDS];
#pragma HLS ARRAY_PARTITION variable = x_buf dim = 1 type = complete
#pragma HLS ARRAY_PARTITION variable = pred dim = 2 type = complete

    tile_n:
        for (uint32_t n0 = 0; n0 < n; n0 += TN) {
            const uint32_t tn = e2t::min_of<uint32_t>(TN, n - n0);
        tile_k:
            for (uint32_t k0 = 0; k0 < k; k0 += TK) {
                const uint32_t tk = e2t::min_of<uint32_t>(TK, k - k0);
            clear:
                for (uint32_t nn = 0; nn < tn; ++nn) {
#pragma HLS PIPELINE II = 1
                    for (int kk = 0; kk < TK; ++kk) pred[nn][kk] = 0;
                }

                // ---- pass 1: the 4-bit prediction for every entry of the tile ----
            predict_chunk:
                for (uint32_t p0 = 0; p0 < p; p0 += TP) {
                    const uint32_t tp = e2t::min_of<uint32_t>(TP, p - p0);
                load_g:
                    for (uint32_t nn = 0; nn < tn; ++nn) {
                        const uint64_t elem = uint64_t(n0 + nn) * p + p0;
                        const uint32_t off = e2t::fetch_words(mem_rd, g_addr + 2 * elem, 2 * tp, wbuf, n_read);
                    unpack_g:
                        for (uint32_t e = 0; e < tp; ++e) {
#pragma HLS PIPELINE II = 1
                            g_buf[nn][e] = int16_t(e2t::unpack(wbuf, off, e, 2u, true));
                        }
                    }
                load_x:
                    for (uint32_t kk = 0; kk < tk; ++kk) {
                        const uint64_t elem = uint64_t(k0 + kk) * p + p0;
                        const uint32_t off = e2t::fetch_words(mem_rd, x_addr + elem, tp, wbuf, n_read);
                    unpack_x:
                        for (uint32_t e = 0; e < tp; ++e) {
#pragma HLS PIPELINE II = 1
                            x_buf[kk][e] = int16_t(e2t::unpack(wbuf, off, e, 1u, x_signed));
                        }
                    }
                predict_rows:
                    for (uint32_t nn = 0; nn < tn; ++nn) {
                        int64_t sum[TK];
#pragma HLS ARRAY_PARTITION variable = sum type = complete
                        for (int kk = 0; kk < TK; ++kk) {
#pragma HLS UNROLL
                            sum[kk] = pred[nn][kk];
                        }
                    predict:
                        for (uint32_t pp = 0; pp < tp; ++pp) {
#pragma HLS PIPELINE II = 1
                            const int32_t gv = g_buf[nn][pp];
                            for (int kk = 0; kk < TK; ++kk) {
#pragma HLS UNROLL
                                // Lanes past the tile edge are disabled (and not counted).
                                if (uint32_t(kk) < tk) sum[kk] += int64_t(gv * msb4(x_buf[kk][pp], x_signed));
                            }
                        }
                        for (int kk = 0; kk < TK; ++kk) {
#pragma HLS UNROLL
                            pred[nn][kk] = sum[kk];
                        }
                    }
                    n_macs += uint64_t(tn) * tk * tp;
                }

                // ---- decide: confident entries keep the predicted sign ----
                uint32_t count = 0;
                for (uint32_t nn = 0; nn < TN; ++nn) need_g[nn] = false;
                for (uint32_t kk = 0; kk < TK; ++kk) need_x[kk] = false;
            decide_rows:
                for (uint32_t nn = 0; nn < tn; ++nn) {
                decide:
                    for (uint32_t kk = 0; kk < tk; ++kk) {
#pragma HLS PIPELINE II = 1
                        const int64_t v = pred[nn][kk];
                        // |16 * Pr| < 2^44 is never negative: compare unsigned, so that a tau
                        // of 2^63 or more (all 64 bits) is not read as a negative number.
                        const uint64_t mag16 = 16 * uint64_t(v < 0 ? -v : v);
                        const bool unsure = mag16 < tau;
                        sign_buf[nn][kk] = sign_of(v);
                        mask_buf[nn][kk] = unsure ? 1 : 0;
                        if (unsure) {
                            list[count] = nn * TK + kk;
                            full[count] = 0;
                            ++count;
                            need_g[nn] = true;
                            need_x[kk] = true;
                        }
                    }
                }
                n_recomputed += count;

                // ---- pass 2: the full product, for the listed entries only ----
                if (count != 0) {
                full_chunk:
                    for (uint32_t p0 = 0; p0 < p; p0 += TP) {
                        const uint32_t tp = e2t::min_of<uint32_t>(TP, p - p0);
                    reload_g:
                        for (uint32_t nn = 0; nn < tn; ++nn) {
                            if (!need_g[nn]) continue;
                            const uint64_t elem = uint64_t(n0 + nn) * p + p0;
                            const uint32_t off =
                                e2t::fetch_words(mem_rd, g_addr + 2 * elem, 2 * tp, wbuf, n_read);
                            for (uint32_t e = 0; e < tp; ++e) {
#pragma HLS PIPELINE II = 1
                                g_buf[nn][e] = int16_t(e2t::unpack(wbuf, off, e, 2u, true));
                            }
                        }
                    reload_x:
                        for (uint32_t kk = 0; kk < tk; ++kk) {
                            if (!need_x[kk]) continue;
                            const uint64_t elem = uint64_t(k0 + kk) * p + p0;
                            const uint32_t off = e2t::fetch_words(mem_rd, x_addr + elem, tp, wbuf, n_read);
                            for (uint32_t e = 0; e < tp; ++e) {
#pragma HLS PIPELINE II = 1
                                x_buf[kk][e] = int16_t(e2t::unpack(wbuf, off, e, 1u, x_signed));
                            }
                        }
                    full_entries:
                        for (uint32_t i = 0; i < count; ++i) {
                            const uint32_t nn = list[i] / TK;
                            const uint32_t kk = list[i] % TK;
                            int64_t s = full[i];
                        full_mac:
                            for (uint32_t pp = 0; pp < tp; ++pp) {
#pragma HLS PIPELINE II = 1
                                s += int64_t(int32_t(g_buf[nn][pp]) * int32_t(x_buf[kk][pp]));
                            }
                            full[i] = s;
                        }
                        n_macs += uint64_t(count) * tp;
                    }
                resolve:
                    for (uint32_t i = 0; i < count; ++i) {
#pragma HLS PIPELINE II = 1
                        sign_buf[list[i] / TK][list[i] % TK] = sign_of(full[i]);
                    }
                }

                // ---- write the tile's signs and mask (two sequential bursts per row) ----
            store_rows:
                for (uint32_t nn = 0; nn < tn; ++nn) {
                    const uint64_t elem = uint64_t(n0 + nn) * k + k0;
                store_signs:
                    for (uint32_t kk = 0; kk < tk; ++kk) {
#pragma HLS PIPELINE II = 1
                        mem_wr[s_addr + elem + kk] = uint8_t(sign_buf[nn][kk]);
                    }
                store_mask:
                    for (uint32_t kk = 0; kk < tk; ++kk) {
#pragma HLS PIPELINE II = 1
                        mem_wr[mask_addr + elem + kk] = mask_buf[nn][kk];
                    }
                    n_written += 2u * uint64_t(tk);
                }
            }
        }
    }
    *status = st;
    *macs = n_macs;
    *bytes_read = n_read;
    *bytes_written = n_written;
    *overflows = 0;  // signs of exact sums: nothing saturates
    *recomputed = n_recomputed;
}
