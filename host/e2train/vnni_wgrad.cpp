// Exact PSG weight-gradient sums of a conv on AVX-512 VNNI (vpdpbusd): the hot loop of the software PSG path.
//
// For activation codes q (8-bit, channels-last float32 holding integers) split as q = 16 m + r (m = msb4(q),
// quant.py) and 16-bit gradient codes g (quantized here from the float gradient exactly as quant.py does), it
// returns for every kernel tap t = (i, j), gradient channel n and input channel c the two exact sums
//     sum_{b, oy, ox} g[b, oy, ox, n] * m[b, oy*s + i - pad, ox*s + j - pad, c]   (the PSG predictor)
//     sum_{b, oy, ox} g[b, oy, ox, n] * r[b, oy*s + i - pad, ox*s + j - pad, c]   (the residual)
// as parts of one int64 array S[t][a][col] (Python combines them: e2train/vnni_wgrad.py).
//
// Why this shape: vpdpbusd adds four u8 x s8 products into each int32 lane, so the reduction runs over groups of
// four consecutive values.  Those four are four *samples* at the same pixel: a kernel tap then moves a whole
// group by whole pixels, so one packed copy of the input serves every tap (no im2col, no per-tap copy).
//   A (u8, the gradient side), per pixel and sample group: rows [0, N) = high byte + 128, [N, 2N) = low byte,
//     row 2N = 1 (its products are the window sums that undo the +128), padded with zero rows;
//   X (s8, the activation side), per pixel and sample group: columns [0, C) = m, [C, 2C) = r, zero padded.
// |m|, |r| <= 15, so a lane gains at most 4 * 255 * 15 per instruction: int32 accumulators are flushed to int64
// after at most kChunkPixels pixels (all sample groups of a chunk together), far below overflow.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

constexpr int kVersion = 1;
constexpr int kLanes = 16;        // int32 lanes of a zmm register: output columns per vector
constexpr int kGroup = 4;         // samples per vpdpbusd reduction group
constexpr long kChunkPixels = 8192;  // 8192 * 4 * 255 * 15 < 2**31: int32 partial sums cannot overflow
constexpr size_t kChunkBytes = 384 << 10;  // packed data revisited by every tap and block: kept in the L2 cache

struct Conv {
  int batch, height, width, cin;   // input (B, H, W, C), channels-last
  int out_h, out_w, cout;          // gradient (B, Ho, Wo, N), channels-last
  int kh, kw, stride, pad;
  int x_signed;
};

struct Plan {
  int groups;       // sample groups of four (the last one padded with zero samples)
  int hp, wp;       // padded input grid
  int cols, cols_p; // 2C, padded to whole vectors
  int rows, rows_p; // 2N + 1, padded to whole register blocks
  int ra, rb;       // register block: ra rows of A x rb vectors of X
};

inline int round_up(int v, int m) { return (v + m - 1) / m * m; }

Plan make_plan(const Conv& cv) {
  Plan p{};
  p.groups = (cv.batch + kGroup - 1) / kGroup;
  p.hp = cv.height + 2 * cv.pad;
  p.wp = cv.width + 2 * cv.pad;
  p.cols = 2 * cv.cin;
  p.cols_p = round_up(p.cols, kLanes);
  const int vectors = p.cols_p / kLanes;
  p.rb = vectors % 4 == 0 ? 4 : vectors % 3 == 0 ? 3 : vectors % 2 == 0 ? 2 : 1;
  // 24 accumulators leave registers for the X vectors and the broadcast; one row fewer where that wastes
  // fewer padding rows (2N + 1 = 33 rows: 3 blocks of 11, not 36 rows in blocks of 12)
  const int most = 24 / p.rb;
  p.rows = 2 * cv.cout + 1;
  p.ra = round_up(p.rows, most - 1) < round_up(p.rows, most) ? most - 1 : most;
  p.rows_p = round_up(p.rows, p.ra);
  return p;
}

// Bytes of one sample group's packed gradient (A) and activations (X).
inline size_t group_bytes_a(const Conv& cv, const Plan& p) {
  return static_cast<size_t>(cv.out_h) * cv.out_w * p.rows_p * kGroup;
}
inline size_t group_bytes_x(const Plan& p) { return static_cast<size_t>(p.hp) * p.wp * p.cols_p * kGroup; }

inline int msb4(int q, bool is_signed) {
  const int lo = is_signed ? -8 : 0, hi = is_signed ? 7 : 15;
  return std::min(std::max((q + 8) >> 4, lo), hi);  // arithmetic shift: round to nearest, ties upward
}

// Four samples' int32 lanes as one vector of dwords: byte t of dword c is sample t's value of column c.
inline __m512i interleave_samples(const __m512i v[kGroup]) {
  const __m512i byte = _mm512_set1_epi32(255);
  __m512i out = _mm512_and_si512(v[0], byte);
  for (int t = 1; t < kGroup; ++t) out = _mm512_or_si512(out, _mm512_slli_epi32(_mm512_and_si512(v[t], byte), 8 * t));
  return out;
}

// One pixel of four samples (nullptr: a padding sample) into m and r columns, 16 channels per step; returns
// false if a code lies outside the 8-bit range of its kind (then m and r would leave the bound above).
bool pack_activation_pixel(const float* const src[kGroup], int cin, bool is_signed, int8_t* dst) {
  const int q_lo = is_signed ? -128 : 0, q_hi = is_signed ? 127 : 255;
  if (cin % kLanes != 0) {  // narrow layers (the 3-channel stem): one value at a time
    bool in_range = true;
    for (int t = 0; t < kGroup; ++t)
      for (int c = 0; c < cin; ++c) {
        const float v = src[t] ? src[t][c] : 0.0f;
        in_range = in_range && v >= q_lo && v <= q_hi;
        const int q = in_range ? static_cast<int>(v) : 0;
        const int m = msb4(q, is_signed);
        dst[c * kGroup + t] = static_cast<int8_t>(m);
        dst[(cin + c) * kGroup + t] = static_cast<int8_t>(q - 16 * m);
      }
    return in_range;
  }
  const __m512 v_lo = _mm512_set1_ps(static_cast<float>(q_lo)), v_hi = _mm512_set1_ps(static_cast<float>(q_hi));
  __mmask16 outside = 0;
  const __m512i eight = _mm512_set1_epi32(8);
  const __m512i lo = _mm512_set1_epi32(is_signed ? -8 : 0), hi = _mm512_set1_epi32(is_signed ? 7 : 15);
  for (int c = 0; c < cin; c += kLanes) {
    __m512i m[kGroup], r[kGroup];
    for (int t = 0; t < kGroup; ++t) {
      const __m512 v = src[t] ? _mm512_loadu_ps(src[t] + c) : _mm512_setzero_ps();
      outside |= _mm512_cmp_ps_mask(v, v_lo, _CMP_NGE_UQ) | _mm512_cmp_ps_mask(v, v_hi, _CMP_NLE_UQ);  // NaN too
      const __m512i q = _mm512_cvttps_epi32(v);
      m[t] = _mm512_min_epi32(_mm512_max_epi32(_mm512_srai_epi32(_mm512_add_epi32(q, eight), 4), lo), hi);
      r[t] = _mm512_sub_epi32(q, _mm512_slli_epi32(m[t], 4));
    }
    _mm512_storeu_si512(dst + c * kGroup, interleave_samples(m));
    _mm512_storeu_si512(dst + (cin + c) * kGroup, interleave_samples(r));
  }
  return outside == 0;
}

// X[g][y][x][col][4]: the activation side; zero border, zero padding columns and samples.  False: a code
// out of range.
bool pack_activations(const float* x, const Conv& cv, const Plan& p, int8_t* out, int g0, int g1) {
  const bool is_signed = cv.x_signed != 0;
  const size_t pixel = static_cast<size_t>(p.cols_p) * kGroup;
  const size_t used = static_cast<size_t>(p.cols) * kGroup;
  bool in_range = true;
  for (int g = g0; g < g1; ++g) {
    int8_t* grid = out + static_cast<size_t>(g) * p.hp * p.wp * pixel;
    for (int y = 0; y < p.hp; ++y) {
      int8_t* row = grid + static_cast<size_t>(y) * p.wp * pixel;
      const int iy = y - cv.pad;
      if (iy < 0 || iy >= cv.height) {
        std::memset(row, 0, p.wp * pixel);
        continue;
      }
      std::memset(row, 0, cv.pad * pixel);
      std::memset(row + (cv.pad + cv.width) * pixel, 0, (p.wp - cv.pad - cv.width) * pixel);
      for (int ix = 0; ix < cv.width; ++ix) {
        const float* src[kGroup];
        for (int t = 0; t < kGroup; ++t) {
          const int b = g * kGroup + t;
          src[t] = b < cv.batch ? x + ((static_cast<size_t>(b) * cv.height + iy) * cv.width + ix) * cv.cin : nullptr;
        }
        int8_t* dst = row + (cv.pad + ix) * pixel;
        in_range = pack_activation_pixel(src, cv.cin, is_signed, dst) && in_range;
        std::memset(dst + used, 0, pixel - used);
      }
    }
  }
  return in_range;
}

// The 16-bit gradient code of quant.quantize_codes: float32 division, round half to even, saturation.
inline int gradient_code(float v, float scale) {
  const float q = std::nearbyint(v / scale);
  return static_cast<int>(std::min(std::max(q, -32767.0f), 32767.0f));
}

inline __m512i gradient_codes(const float* src, __m512 scale) {
  const __m512 q = _mm512_roundscale_ps(_mm512_div_ps(_mm512_loadu_ps(src), scale),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);  // ties to even
  const __m512 limit = _mm512_set1_ps(32767.0f);
  return _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(q, _mm512_sub_ps(_mm512_setzero_ps(), limit)), limit));
}

// One pixel of four samples (nullptr: a padding sample): high bytes + 128, low bytes, the ones row, zero rows.
void pack_gradient_pixel(const float* const src[kGroup], float scale, int cout, int rows_p, uint8_t* dst) {
  if (cout % kLanes != 0) {
    for (int t = 0; t < kGroup; ++t)
      for (int n = 0; n < cout; ++n) {
        const int code = src[t] ? gradient_code(src[t][n], scale) : 0;
        dst[n * kGroup + t] = static_cast<uint8_t>((code >> 8) + 128);
        dst[(cout + n) * kGroup + t] = static_cast<uint8_t>(code & 255);
      }
  } else {
    const __m512 vscale = _mm512_set1_ps(scale);
    const __m512i offset = _mm512_set1_epi32(128);
    for (int n = 0; n < cout; n += kLanes) {
      __m512i high[kGroup], low[kGroup];
      for (int t = 0; t < kGroup; ++t) {
        const __m512i code = src[t] ? gradient_codes(src[t] + n, vscale) : _mm512_setzero_si512();
        high[t] = _mm512_add_epi32(_mm512_srai_epi32(code, 8), offset);
        low[t] = code;  // interleave_samples keeps the low byte
      }
      _mm512_storeu_si512(dst + n * kGroup, interleave_samples(high));
      _mm512_storeu_si512(dst + (cout + n) * kGroup, interleave_samples(low));
    }
  }
  std::memset(dst + 2 * cout * kGroup, 1, kGroup);
  std::memset(dst + (2 * cout + 1) * kGroup, 0, static_cast<size_t>(rows_p - 2 * cout - 1) * kGroup);
}

// A[g][oy][ox][row][4]: the gradient side.
void pack_gradients(const float* grad, float scale, const Conv& cv, const Plan& p, uint8_t* out, int g0, int g1) {
  const size_t pixel = static_cast<size_t>(p.rows_p) * kGroup;
  const size_t pixels = static_cast<size_t>(cv.out_h) * cv.out_w;
  for (int g = g0; g < g1; ++g) {
    uint8_t* grid = out + static_cast<size_t>(g) * pixels * pixel;
    for (size_t pix = 0; pix < pixels; ++pix) {
      const float* src[kGroup];
      for (int t = 0; t < kGroup; ++t) {
        const int b = g * kGroup + t;
        src[t] = b < cv.batch ? grad + (static_cast<size_t>(b) * pixels + pix) * cv.cout : nullptr;
      }
      pack_gradient_pixel(src, scale, cv.cout, p.rows_p, grid + pix * pixel);
    }
  }
}

// acc[RA][RB] over the pixels [pix0, pix1) of `groups` consecutive sample groups and one tap, added into sums
// (int64).
template <int RA, int RB>
void block_product(const uint8_t* a_first, const int8_t* x_first, int groups, const Conv& cv, const Plan& p,
                   int tap_i, int tap_j, int row0, int col0, long pix0, long pix1, int64_t* sums) {
  __m512i acc[RA][RB];
  for (int r = 0; r < RA; ++r)
    for (int v = 0; v < RB; ++v) acc[r][v] = _mm512_setzero_si512();
  const size_t a_pixel = static_cast<size_t>(p.rows_p) * kGroup;
  const size_t x_pixel = static_cast<size_t>(p.cols_p) * kGroup;
  const size_t x_step = x_pixel * cv.stride;
  for (int g = 0; g < groups; ++g) {
    const uint8_t* a_grid = a_first + g * group_bytes_a(cv, p);
    const int8_t* x_grid = x_first + g * group_bytes_x(p);
    for (long pix = pix0; pix < pix1;) {  // one output row (or the part of it in the range) at a time
      const int oy = static_cast<int>(pix / cv.out_w);
      const int ox0 = static_cast<int>(pix % cv.out_w);
      const int ox1 = static_cast<int>(std::min<long>(cv.out_w, ox0 + (pix1 - pix)));
      const uint8_t* a = a_grid + (static_cast<size_t>(oy) * cv.out_w + ox0) * a_pixel +
                         static_cast<size_t>(row0) * kGroup;
      const int8_t* xp = x_grid + (static_cast<size_t>(oy * cv.stride + tap_i) * p.wp + ox0 * cv.stride + tap_j) *
                                      x_pixel + static_cast<size_t>(col0) * kGroup;
      for (int ox = ox0; ox < ox1; ++ox, a += a_pixel, xp += x_step) {
        __m512i xv[RB];
        for (int v = 0; v < RB; ++v) xv[v] = _mm512_loadu_si512(xp + v * kLanes * kGroup);
        for (int r = 0; r < RA; ++r) {
          int32_t word;
          std::memcpy(&word, a + r * kGroup, sizeof(word));
          const __m512i av = _mm512_set1_epi32(word);
          for (int v = 0; v < RB; ++v) acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], av, xv[v]);
        }
      }
      pix += ox1 - ox0;
    }
  }
  for (int r = 0; r < RA; ++r) {
    int64_t* row = sums + static_cast<size_t>(row0 + r) * p.cols_p + col0;
    for (int v = 0; v < RB; ++v) {
      int64_t* dst = row + v * kLanes;
      const __m512i lo = _mm512_cvtepi32_epi64(_mm512_castsi512_si256(acc[r][v]));
      const __m512i hi = _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(acc[r][v], 1));
      _mm512_storeu_si512(dst, _mm512_add_epi64(_mm512_loadu_si512(dst), lo));
      _mm512_storeu_si512(dst + 8, _mm512_add_epi64(_mm512_loadu_si512(dst + 8), hi));
    }
  }
}

// Sample groups are taken a few at a time: as many as keep the chunk in the L2 cache and its int32 sums exact.
template <int RA, int RB>
void products(const uint8_t* a_all, const int8_t* x_all, const Conv& cv, const Plan& p, int g0, int g1,
              int64_t* sums) {
  const long pixels = static_cast<long>(cv.out_h) * cv.out_w;
  const size_t tap_size = static_cast<size_t>(p.rows_p) * p.cols_p;
  const size_t group_bytes = group_bytes_a(cv, p) + group_bytes_x(p);
  const int per_chunk = static_cast<int>(std::max<long>(
      1, std::min<long>(kChunkPixels / pixels, static_cast<long>(kChunkBytes / group_bytes))));
  for (int g = g0; g < g1; g += per_chunk) {
    const int groups = std::min(per_chunk, g1 - g);
    for (long pix0 = 0; pix0 < pixels; pix0 += kChunkPixels) {
      const long pix1 = std::min(pixels, pix0 + kChunkPixels);
      for (int i = 0; i < cv.kh; ++i)
        for (int j = 0; j < cv.kw; ++j)
          for (int row0 = 0; row0 < p.rows_p; row0 += RA)
            for (int col0 = 0; col0 < p.cols_p; col0 += RB * kLanes)
              block_product<RA, RB>(a_all + g * group_bytes_a(cv, p), x_all + g * group_bytes_x(p), groups, cv, p, i,
                                    j, row0, col0, pix0, pix1, sums + (i * cv.kw + j) * tap_size);
    }
  }
}

void products_dispatch(const uint8_t* a, const int8_t* x, const Conv& cv, const Plan& p, int g0, int g1, int64_t* s) {
  switch (p.rb * 100 + p.ra) {
    case 406: products<6, 4>(a, x, cv, p, g0, g1, s); break;
    case 405: products<5, 4>(a, x, cv, p, g0, g1, s); break;
    case 308: products<8, 3>(a, x, cv, p, g0, g1, s); break;
    case 307: products<7, 3>(a, x, cv, p, g0, g1, s); break;
    case 212: products<12, 2>(a, x, cv, p, g0, g1, s); break;
    case 211: products<11, 2>(a, x, cv, p, g0, g1, s); break;
    case 124: products<24, 1>(a, x, cv, p, g0, g1, s); break;
    default: products<23, 1>(a, x, cv, p, g0, g1, s); break;
  }
}

template <typename T>
struct Aligned {  // a 64-byte aligned buffer (freed memory stays in the C heap: see compute_device)
  T* ptr;
  explicit Aligned(size_t n) : ptr(static_cast<T*>(std::aligned_alloc(64, std::max<size_t>(64, (n * sizeof(T) + 63) / 64 * 64)))) {}
  ~Aligned() { std::free(ptr); }
  Aligned(const Aligned&) = delete;
  Aligned& operator=(const Aligned&) = delete;
};

}  // namespace

extern "C" {

int e2t_vnni_wgrad_version() { return kVersion; }

// x: (B, H, W, C) float32 codes; grad: (B, Ho, Wo, N) float32 gradient, quantized here with `scale`;
// out: int64 (kh * kw, 2N + 1, 2C).  Returns 0; -1 when a size is out of range, -2 when an activation code is
// not an 8-bit code of its kind ([0, 255] unsigned, [-128, 127] signed; out is then not written).
int e2t_psg_wgrad_sums(const float* x, int batch, int height, int width, int cin, int x_signed, const float* grad,
                       float scale, int out_h, int out_w, int cout, int kh, int kw, int stride, int pad, int threads,
                       int64_t* out) {
  const Conv cv{batch, height, width, cin, out_h, out_w, cout, kh, kw, stride, pad, x_signed};
  if (batch <= 0 || cin <= 0 || cout <= 0 || out_h <= 0 || out_w <= 0 || stride <= 0 || pad < 0 ||
      (out_h - 1) * stride + kh > height + 2 * pad || (out_w - 1) * stride + kw > width + 2 * pad)
    return -1;
  const Plan p = make_plan(cv);
  Aligned<uint8_t> a_all(group_bytes_a(cv, p) * p.groups);
  Aligned<int8_t> x_all(group_bytes_x(p) * p.groups);
  const int taps = kh * kw;
  const size_t sums_size = static_cast<size_t>(taps) * p.rows_p * p.cols_p;
  const int team = std::max(1, std::min(threads, p.groups));
  std::vector<std::vector<int64_t>> partial(team);
  int codes_in_range = 1;
#pragma omp parallel num_threads(team) reduction(&& : codes_in_range)
  {
    const int t = omp_get_thread_num(), size = omp_get_num_threads();
    const int g0 = p.groups * t / size, g1 = p.groups * (t + 1) / size;
    codes_in_range = pack_activations(x, cv, p, x_all.ptr, g0, g1);
    pack_gradients(grad, scale, cv, p, a_all.ptr, g0, g1);
    partial[t].assign(sums_size, 0);
    products_dispatch(a_all.ptr, x_all.ptr, cv, p, g0, g1, partial[t].data());
  }
  if (!codes_in_range) return -2;
  for (int tap = 0; tap < taps; ++tap)
    for (int row = 0; row < p.rows; ++row)
      for (int col = 0; col < p.cols; ++col) {
        int64_t total = 0;
        for (const auto& part : partial)
          if (!part.empty()) total += part[(static_cast<size_t>(tap) * p.rows_p + row) * p.cols_p + col];
        out[(static_cast<size_t>(tap) * p.rows + row) * p.cols + col] = total;
      }
  return 0;
}

}  // extern "C"
