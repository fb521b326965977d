// C ABI over the HLS top functions, for the Python `csim` backend (ctypes).  Not synthesized.
//
// The Python side lays the operands out in one host buffer (the "arena"), exactly as a driver
// lays them out in device memory, and passes byte offsets into it as the address registers.
// Both AXI masters of a kernel see that one buffer, as both see DDR on the board.
#include <stdint.h>

#include "e2train_kernels.h"

#define E2T_EXPORT extern "C" __attribute__((visibility("default")))

// Bump when a signature or the struct below changes; the Python side refuses a mismatch.
#define E2T_CAPI_VERSION 2  // 2: psg_wgrad tau is uint64_t

// The counter registers of one run (field order fixed: the Python ctypes.Structure mirrors it).
struct e2t_counters {
    uint32_t status;
    uint32_t overflows;
    uint32_t recomputed;
    uint32_t reserved;
    uint64_t macs;
    uint64_t bytes_read;
    uint64_t bytes_written;
};

E2T_EXPORT int e2t_capi_version(void) {
    return E2T_CAPI_VERSION;
}

// Tile sizes the library was compiled with: gemm TM, TN, TK, psg TN, TK, TP.
E2T_EXPORT void e2t_tile_sizes(uint32_t out[6]) {
    out[0] = E2T_GEMM_TM;
    out[1] = E2T_GEMM_TN;
    out[2] = E2T_GEMM_TK;
    out[3] = E2T_PSG_TN;
    out[4] = E2T_PSG_TK;
    out[5] = E2T_PSG_TP;
}

E2T_EXPORT void e2t_gemm(void* arena, uint64_t a_addr, uint64_t b_addr, uint64_t c_addr, uint32_t m,
                         uint32_t n, uint32_t k, uint32_t mode, e2t_counters* out) {
    gemm(static_cast<const uint64_t*>(arena), static_cast<int32_t*>(arena), a_addr, b_addr, c_addr, m, n, k,
         mode, &out->status, &out->macs, &out->bytes_read, &out->bytes_written, &out->overflows,
         &out->recomputed);
}

E2T_EXPORT void e2t_psg_wgrad(void* arena, uint64_t x_addr, uint64_t g_addr, uint64_t s_addr,
                              uint64_t mask_addr, uint32_t n, uint32_t k, uint32_t p, uint64_t tau,
                              uint32_t mode, e2t_counters* out) {
    psg_wgrad(static_cast<const uint64_t*>(arena), static_cast<uint8_t*>(arena), x_addr, g_addr, s_addr,
              mask_addr, n, k, p, tau, mode, &out->status, &out->macs, &out->bytes_read,
              &out->bytes_written, &out->overflows, &out->recomputed);
}
