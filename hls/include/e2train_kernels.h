// e2train accelerator kernels: the HLS C++ implementation of the contract written in
// host/e2train/kernels/reference.py (semantics) and host/e2train/kernels/regmap.py (registers).
//
// This header is compiled by two compilers: Vitis HLS (synthesis, C/RTL co-simulation) and plain
// g++ (C simulation: the test benches in hls/tb and the shared library behind the Python `csim`
// backend).  It therefore uses only standard fixed-width integer types; `#pragma HLS` lines are
// ignored by g++ (build with -Wno-unknown-pragmas).
//
// Memory model: "flat" device memory.  Every kernel reads through one 64-bit AXI4 master
// (`mem_rd`, 8 bytes per beat, ADDRESS_ALIGN = 8) and writes through one master whose width is the
// output element (`mem_wr`).  Both use `offset=off`, so an address register holds the absolute
// byte address of a buffer (what PYNQ's `allocate(...).device_address` returns on Zynq-7000, whose
// DDR starts at 0).  Passing addresses as plain 64-bit scalars, instead of HLS pointer arguments,
// is what lets the kernel check alignment in C and refuse a misaligned buffer: HLS gives C code no
// access to the value of a pointer argument's offset register.  The register layout is the same
// (a 64-bit scalar and a pointer offset both take low word, high word, reserved word).
//
// In C simulation `mem_rd` and `mem_wr` point at the same host arena and addresses are byte
// offsets into it.  Output regions must not overlap input regions (as on the board).
//
// Exact accumulation: int64_t accumulators.  The largest magnitude any legal call can reach is
// gemm i8i16: 65535 * 128 * 32768 < 2^38, psg_wgrad 16*Pr: 16 * 32768 * 15 * 2^20 < 2^43 and
// full F: 32768 * 255 * 2^20 < 2^44, so a 48-bit accumulator (one DSP48E1 cascade) would also be
// exact; int64_t is used because it is a standard type and the bound makes either choice exact.
#ifndef E2TRAIN_KERNELS_H
#define E2TRAIN_KERNELS_H

#include <stdint.h>

// ---- contract constants (mirror host/e2train/kernels/regmap.py; a pytest checks they agree) ----
#define E2T_ADDRESS_ALIGN 8u
#define E2T_MAX_DIM 65535u
#define E2T_MAX_P (1u << 20)

#define E2T_STATUS_BAD_DIMS (1u << 0)
#define E2T_STATUS_MISALIGNED (1u << 1)
#define E2T_STATUS_BAD_MODE (1u << 2)
#define E2T_STATUS_OVERFLOW (1u << 3)

#define E2T_GEMM_MODE_I8I8 0u
#define E2T_GEMM_MODE_I8U8 1u
#define E2T_GEMM_MODE_I8I16 2u
#define E2T_PSG_MODE_SIGNED 0u
#define E2T_PSG_MODE_UNSIGNED 1u

// ---- compile-time tile sizes (override with -D...; each must be >= 1) ----
// gemm: an output tile is TM x TN (TN = the unrolled MAC array width), reduced in chunks of TK.
#ifndef E2T_GEMM_TM
#define E2T_GEMM_TM 16
#endif
#ifndef E2T_GEMM_TN
#define E2T_GEMM_TN 16
#endif
#ifndef E2T_GEMM_TK
#define E2T_GEMM_TK 64
#endif
// psg_wgrad: an output tile is TN rows of G x TK rows of X (TK = unrolled predictor array width),
// reduced over P in chunks of TP.
#ifndef E2T_PSG_TN
#define E2T_PSG_TN 16
#endif
#ifndef E2T_PSG_TK
#define E2T_PSG_TK 16
#endif
#ifndef E2T_PSG_TP
#define E2T_PSG_TP 64
#endif

// Size of the flat memory the test benches use; also the m_axi `depth` that C/RTL co-simulation
// needs to size its memory models (it has no effect on the synthesized hardware).
#ifndef E2T_TB_ARENA_WORDS
#define E2T_TB_ARENA_WORDS 131072
#endif

// ---- top-level kernels ----
//
// Outputs (s_axilite, read-only after ap_done): STATUS (error bits; on an error nothing is read or
// written and every counter is 0), MACS, BYTES_READ (64-bit beats actually transferred x 8),
// BYTES_WRITTEN (bytes with their write strobe set), OVERFLOWS (gemm: saturated outputs; always 0
// for psg_wgrad), RECOMPUTED (psg_wgrad: entries whose full product was computed; always 0 for
// gemm).  CYCLES_BUSY and CYCLES_MEM_STALL of the register map cannot be counted in C: the HLS IP
// does not provide them (the RTL implementation does; on the board time a run from the host).
//
// MACS counts multiply-accumulates on in-range operands.  Lanes of the unrolled array that fall
// beyond the edge of a partial tile are disabled and not counted, so MACS equals the reference's
// count: gemm M*N*K; psg_wgrad N*K*P (4b x 16b predictor) + RECOMPUTED*P (8b x 16b full product).

// C (M x N int32, saturated) = A (M x K int8) x B (K x N int8 | uint8 | int16, by `mode`).
void gemm(const uint64_t* mem_rd, int32_t* mem_wr, uint64_t a_addr, uint64_t b_addr, uint64_t c_addr,
          uint32_t m, uint32_t n, uint32_t k, uint32_t mode, uint32_t* status, uint64_t* macs,
          uint64_t* bytes_read, uint64_t* bytes_written, uint32_t* overflows, uint32_t* recomputed);

// Predictive sign weight gradient: X (K x P int8 | uint8 by `mode`), G (N x P int16);
// signs (N x K int8 in {-1,0,1}) and recompute mask (N x K uint8).  Pr = G . msb4(X)^T; where
// |16 * Pr| >= tau the sign of Pr is final, elsewhere F = G . X^T is computed for that entry only.
// `tau` is unsigned 64-bit (regmap TAU, 0x58 low word / 0x5C high word): |16 * Pr| reaches 2^43,
// so a 32-bit threshold could not express every useful value; any tau >= 2^44 recomputes all.
void psg_wgrad(const uint64_t* mem_rd, uint8_t* mem_wr, uint64_t x_addr, uint64_t g_addr, uint64_t s_addr,
               uint64_t mask_addr, uint32_t n, uint32_t k, uint32_t p, uint64_t tau, uint32_t mode,
               uint32_t* status, uint64_t* macs, uint64_t* bytes_read, uint64_t* bytes_written,
               uint32_t* overflows, uint32_t* recomputed);

#endif  // E2TRAIN_KERNELS_H
