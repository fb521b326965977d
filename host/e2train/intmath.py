"""Exact integer convolution and matrix products on torch tensors holding integer codes.

Three strategies, each exact:
- float32 BLAS/oneDNN when the worst-case partial sum is below 2**24 (every partial sum of
  integers is then an exactly representable float32, whatever the summation order); 16-bit
  gradient codes are split into two bytes so that each half stays inside that bound;
- int8 x int8 -> int32 products (``torch._int_mm``, VNNI/AMX on x86) on 8-bit limbs of wider
  codes, recombined in int64, for the weight gradient whose sums reach 2**40;
- float64 where neither applies (exact below 2**53).
Codes arrive as float tensors with integer values (the quantizers' output) or integer tensors.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F

from e2train.layout import flat_view, memory_format_of

FP32_EXACT = 2**24
FP64_EXACT = 2**53
_LOW_BYTE = 0 if sys.byteorder == "little" else 1  # which byte of an int16, viewed as two int8, is the low one
_INT_MM_CHUNK = 1 << 16  # 128 * 128 * 2**16 = 2**30: int32 partial sums cannot overflow
PATCH_BLOCK_BYTES = 1 << 23  # patch matrices of about 8 MiB: large enough for the int8 kernel, reused by malloc


def _max_abs(t: torch.Tensor) -> int:
    lo, hi = _min_max(t)
    return max(-lo, hi)


def _min_max(t: torch.Tensor) -> tuple[int, int]:
    if not t.numel():
        return 0, 0
    lo, hi = torch.aminmax(flat_view(t))  # one pass, no |t| temporary, no copy of a channels-last t
    return int(lo), int(hi)


def _exact_dtype(bound: int) -> torch.dtype:
    if bound < FP32_EXACT:
        return torch.float32
    if bound < FP64_EXACT:
        return torch.float64
    raise OverflowError(f"integer products of magnitude up to {bound} cannot be computed exactly in floats")


def conv2d_dtype(x: torch.Tensor, w: torch.Tensor) -> torch.dtype:
    """The float type ``conv2d`` returns: float32 when every partial sum stays below 2**24."""
    # x: (B, Cin, H, W), w: (Cout, Cin, kh, kw).  Every partial sum of output channel c is bounded
    # by max|x| * sum|w_c|: far tighter than K * 255 * 127, so float32 is usually exact.
    return _exact_dtype(_max_abs(x) * _output_weight_sum(w))


def input_grad_dtype(sums: torch.Tensor) -> torch.dtype:
    """The float type an input gradient's integer sums are returned in, on every backend: float32 when
    every sum is below 2**24 in magnitude (the later scaling then runs in float32), float64 otherwise."""
    return torch.float32 if _max_abs(sums) < FP32_EXACT else torch.float64


def _output_weight_sum(w: torch.Tensor) -> int:
    """max over output channels of sum |w|: with max |x|, the bound of every forward partial sum."""
    return int(w.abs().flatten(1).sum(1).max()) if w.numel() else 0


def _input_weight_sum(w: torch.Tensor) -> int:
    """max over input channels of sum |w|: with max |g|, the bound of every input-gradient partial sum."""
    return int(w.abs().sum(dim=(0, 2, 3)).max()) if w.numel() else 0


def conv2d(x: torch.Tensor, w: torch.Tensor, stride: int, padding: int, x_signed: bool | None = None) -> torch.Tensor:
    """Exact conv of integer codes; returns integer values in float32 or float64 (``conv2d_dtype``).

    8-bit codes on a CPU go through oneDNN's int8 convolution (VNNI/AMX: about four times a float32
    conv) where it is exact on this machine; its int32 accumulators become float32 exactly below
    2**24, the same bound as the float32 path, so both give the same numbers (the int8 route's result
    is channels-last).  ``x_signed`` says the codes are activation codes ([-127, 127] or [0, 255]):
    when that range alone keeps the bound, the pass over x that measures it is skipped.
    """
    weight_sum = _output_weight_sum(w)
    if x_signed is not None and (127 if x_signed else 255) * weight_sum < FP32_EXACT:
        dtype, zero_point = torch.float32, (128 if x_signed else 0)  # the measured bound can only be lower
    else:
        lo, hi = _min_max(x)
        dtype, zero_point = _exact_dtype(max(-lo, hi) * weight_sum), _uint8_zero_point(lo, hi)
    if dtype == torch.float32 and x.device.type == "cpu" and x.numel() and w.numel():
        weights_fit = int(w.min()) >= -128 and int(w.max()) <= 127 and 255 * w[0].numel() * 128 < 2**31
        if zero_point is not None and weights_fit and onednn_int8_conv_is_exact():
            return _conv2d_onednn_int8(x, zero_point, w, stride, padding)
    with _full_float32(x.device):
        return F.conv2d(x.to(dtype), w.to(dtype), stride=stride, padding=padding)


@contextlib.contextmanager
def _full_float32(device: torch.device) -> Iterator[None]:
    """cuDNN may run float32 convolutions in TF32 (10-bit mantissa), which rounds 16-bit codes: the
    exact float paths need full float32 there.  The other cuDNN settings are kept as they are."""
    if device.type != "cuda":
        yield
        return
    cudnn = torch.backends.cudnn
    with cudnn.flags(enabled=cudnn.enabled, benchmark=cudnn.benchmark, deterministic=cudnn.deterministic,
                     allow_tf32=False):
        yield


@functools.cache
def onednn_int8_conv_is_exact() -> bool:
    """Whether oneDNN's int8 convolution is present and exact here (a fact of this machine, probed once).

    Without VNNI, x86 int8 kernels multiply through 16-bit pair sums that saturate (255 * 127 * 2
    does not fit), and some builds halve the weights to avoid it: either breaks exactness, so the
    probe convolves exactly those worst cases and compares with float64.
    """
    if not (torch.backends.mkldnn.is_available() and hasattr(torch.ops.onednn, "qconv2d_pointwise")):
        return False
    weights = torch.tensor([127.0, -128.0, 127.0, 1.0]).view(4, 1, 1, 1).expand(4, 4, 3, 3).contiguous()
    try:
        for codes, zero_point in ((torch.full((1, 4, 5, 5), 255.0), 0), (torch.full((1, 4, 5, 5), -128.0), 128)):
            got = _conv2d_onednn_int8(codes, zero_point, weights, 1, 1)
            if not torch.equal(got.double(), F.conv2d(codes.double(), weights.double(), padding=1)):
                return False
    except RuntimeError:  # an engine that lacks the int8 kernel
        return False
    return True


def _uint8_zero_point(lo: int, hi: int) -> int | None:
    """0 for codes in [0, 255], 128 for codes in [-128, 127] (stored shifted), None otherwise."""
    if lo >= 0 and hi <= 255:
        return 0
    if lo >= -128 and hi <= 127:
        return 128
    return None


def _conv2d_onednn_int8(x: torch.Tensor, zero_point: int, w: torch.Tensor, stride: int, padding: int,
                        shifted: bool = False) -> torch.Tensor:
    """oneDNN int8 conv of codes x (already uint8 codes + zero_point when ``shifted``) with int8 weights."""
    cout = w.shape[0]
    unit_scales = torch.ones(cout, dtype=torch.float32)
    zero_points = torch.zeros(cout, dtype=torch.int64)
    if shifted:
        x_u8 = x.contiguous(memory_format=torch.channels_last)
    else:
        x_u8 = (x + zero_point if zero_point else x).to(torch.uint8, memory_format=torch.channels_last)
    conv = ([stride] * 2, [padding] * 2, [1, 1], 1)  # stride, padding, dilation, groups
    packed = torch.ops.onednn.qconv_prepack(w.to(torch.int8), unit_scales, 1.0, zero_point, *conv, list(x.shape))
    return torch.ops.onednn.qconv2d_pointwise(x_u8, 1.0, zero_point, packed, unit_scales, zero_points, None, *conv,
                                              1.0, 0, torch.float32, "none", [], "")  # channels-last


def conv2d_input_float(input_shape: Sequence[int], w: torch.Tensor, g: torch.Tensor, stride: int,
                       padding: int) -> torch.Tensor:
    """The transposed conv (input gradient) in g's memory layout, computed in g's float type.

    ``torch.nn.grad.conv2d_input`` describes the input by a broadcast placeholder, whose layout is
    standard: oneDNN then reorders a channels-last gradient to and from it (4x the time of the conv
    for 16-channel layers on CPU).  An unwritten tensor of g's layout as the placeholder avoids that.
    """
    placeholder = torch.empty(input_shape, dtype=g.dtype, device=g.device,
                              memory_format=memory_format_of(g))  # never written or read
    return torch.ops.aten.convolution_backward(g, placeholder, w, None, [stride] * 2, [padding] * 2, [1, 1], False,
                                               [0, 0], 1, (True, False, False))[0]


def conv2d_input_grad(g: torch.Tensor, w: torch.Tensor, input_shape: torch.Size, stride: int,
                      padding: int) -> torch.Tensor:
    """Exact transposed conv (input gradient) of integer gradient codes and weight codes.

    16-bit codes times a channel's weights overflow float32's exact range, so the codes are split
    into a signed high byte and an unsigned low byte: each half runs through an exact kernel (oneDNN's
    int8 convolution, or float32) when its own bound allows, and the halves are recombined (exact:
    results stay below 2**53).  Returned in ``input_grad_dtype`` of the sums.
    """
    # g: (B, Cout, Ho, Wo); input channel c sums products with the weights w[:, c]
    weight_sum = _input_weight_sum(w)
    peak = _max_abs(g)
    if peak * weight_sum < FP32_EXACT or 255 * weight_sum >= FP32_EXACT or peak >= 2**15:  # no byte split
        dtype = _exact_dtype(peak * weight_sum)
        with _full_float32(g.device):
            sums = conv2d_input_float(input_shape, w.to(dtype), g.to(dtype), stride, padding)
        return sums if dtype == torch.float32 else sums.to(input_grad_dtype(sums))
    g16 = g.to(torch.int16)
    high, low = torch.bitwise_right_shift(g16, 8), torch.bitwise_and(g16, 255)  # g = 256 high + low
    int8_weights = int(w.min()) >= -128 and int(w.max()) <= 127
    if g.device.type == "cpu" and padding < w.shape[2] and int8_weights and onednn_int8_conv_is_exact():
        parts = [_input_grad_onednn_int8(part, zero_point, w, input_shape, stride, padding)
                 for part, zero_point in ((high, 128), (low, 0))]
    else:
        w32 = w.to(torch.float32)
        with _full_float32(g.device):
            parts = [conv2d_input_float(input_shape, w32, part.to(torch.float32), stride, padding)
                     for part in (high, low)]
    high_sums, low_sums = parts
    layout = memory_format_of(g)
    if 256 * _max_abs(high_sums) + _max_abs(low_sums) < FP32_EXACT:
        # the usual case (the a-priori bound is loose): both halves and ``256 high + low`` are integers
        # float32 holds exactly, and float64 passes over the tensor would cost more than the convs
        out = torch.empty(input_shape, dtype=torch.float32, device=g.device, memory_format=layout)
        return torch.add(low_sums, high_sums, alpha=256, out=out)
    out = torch.empty(input_shape, dtype=torch.float64, device=g.device, memory_format=layout)
    sums = torch.mul(high_sums, 256, out=out).add_(low_sums)  # the sum in float64
    return sums.to(input_grad_dtype(sums))


def _input_grad_onednn_int8(part: torch.Tensor, zero_point: int, w: torch.Tensor, input_shape: torch.Size,
                            stride: int, padding: int) -> torch.Tensor:
    """The transposed conv of one byte of the gradient codes as a plain int8 conv: the codes spread
    ``stride`` apart with zeros between, a border of ``k - 1 - padding`` zeros (plus what the forward
    conv's rounding dropped, bottom and right), and the weights flipped with in/out channels swapped.
    At unit stride with a square kernel nothing needs spreading: the conv pads the codes itself."""
    batch, cout, ho, wo = part.shape
    kh, kw = w.shape[2:]
    height, width = input_shape[2:]
    top, left = kh - 1 - padding, kw - 1 - padding
    flipped = w.flip(2, 3).transpose(0, 1).contiguous()  # (Cin, Cout, kh, kw)
    if stride == 1 and kh == kw:
        return _conv2d_onednn_int8(part, zero_point, flipped, 1, top)
    spread = torch.full((batch, height + kh - 1, width + kw - 1, cout), zero_point, dtype=torch.uint8,
                        device=part.device).permute(0, 3, 1, 2)  # channels-last zeros (the zero point is zero)
    spread[:, :, top:top + (ho - 1) * stride + 1:stride, left:left + (wo - 1) * stride + 1:stride] = part + zero_point
    return _conv2d_onednn_int8(spread, zero_point, flipped, 1, 0, shifted=True)


def im2col(x: torch.Tensor, kernel: tuple[int, int], stride: int, padding: int,
           pad_value: int = 0) -> torch.Tensor:
    """(B, C, H, W) -> (B*Ho*Wo, C*kh*kw), columns in the order of a flattened conv weight."""
    kh, kw = kernel
    x = F.pad(x, (padding, padding, padding, padding), value=pad_value)
    patches = x.unfold(2, kh, stride).unfold(3, kw, stride)  # (B, C, Ho, Wo, kh, kw)
    b, c, ho, wo = patches.shape[:4]
    return patches.permute(0, 2, 3, 1, 4, 5).reshape(b * ho * wo, c * kh * kw)


def int8_limbs(t: torch.Tensor) -> list[tuple[int, torch.Tensor, int]]:
    """Split integers into int8 limbs: ``t == sum((limb + offset) * 256**shift)``.

    16-bit values take exactly two limbs: the arithmetic high byte, and the low byte (0..255)
    stored as int8 with an offset of 128.  Wider values fall back to a general loop.
    """
    if _fits_int16(t):
        t16 = t.to(torch.int16)
        return [(1, torch.bitwise_right_shift(t16, 8).to(torch.int8), 0),
                (0, torch.bitwise_and(t16, 255).sub_(128).to(torch.int8), 128)]
    rest = t.to(torch.int64)
    limbs: list[tuple[int, torch.Tensor, int]] = []
    shift = 0
    while True:
        lo = ((rest + 128) & 255) - 128
        limbs.append((shift, lo.to(torch.int8), 0))
        rest = (rest - lo) >> 8
        shift += 1
        if not bool(rest.any()):
            return limbs


def to_int8_offset(t: torch.Tensor) -> tuple[torch.Tensor, int]:
    """8-bit codes as (int8 tensor, offset) with ``t == int8 + offset``: unsigned codes shift by 128."""
    if t.numel() and (int(t.min()) < -128 or int(t.max()) > 255):
        raise ValueError("codes outside [-128, 255] are not 8-bit")
    offset = 128 if t.numel() and int(t.max()) > 127 else 0
    return (t - offset).to(torch.int8), offset


def _int8_product(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """int8 (M, K) x int8 (K, N) -> int64, for a K short enough that int32 partial sums cannot overflow."""
    try:
        return torch._int_mm(a, b).to(torch.int64)
    except RuntimeError:  # shapes or devices the int8 kernel does not support
        return (a.double() @ b.double()).to(torch.int64)


def _int8_mm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """int8 (M, K) x int8 (K, N) -> exact int64, chunked over K so int32 partials never overflow."""
    out = torch.zeros(a.shape[0], b.shape[1], dtype=torch.int64, device=a.device)
    for start in range(0, a.shape[1], _INT_MM_CHUNK):
        stop = start + _INT_MM_CHUNK
        out += _int8_product(a[:, start:stop].contiguous(), b[start:stop].contiguous())
    return out


def matmul_int8(a: torch.Tensor, b8: torch.Tensor, b_offset: int = 0) -> torch.Tensor:
    """Exact ``a @ (b8 + b_offset)`` as int64: a holds integers up to int16 (or wider), b8 is int8.

    With ``a == sum((l + lo) * 256**s)`` over limbs, each limb contributes
    ``l @ b8 + b_offset * rowsum(l) + lo * colsum(b8) + lo * b_offset * K``: the large 8-bit
    operand is never widened.  All limbs, and a row of ones that yields colsum(b8), are stacked
    into one int8 matrix so the (usually tall) b8 is read once by a single int8 product.
    """
    m, k = a.shape
    out = torch.zeros(m, b8.shape[1], dtype=torch.int64, device=a.device)
    if k == 0:
        return out
    limbs = int8_limbs(a)
    needs_col_sums = any(offset for *_, offset in limbs)
    stacked = [limb for _, limb, _ in limbs]
    if needs_col_sums:
        stacked.append(torch.ones(1, k, dtype=torch.int8, device=a.device))
    products = _int8_mm(torch.cat(stacked), b8)
    col_sums = products[-1:] if needs_col_sums else None
    for i, (shift, limb, offset) in enumerate(limbs):
        part = products[i * m:(i + 1) * m]
        if b_offset:
            part = part + b_offset * limb.sum(dim=1, dtype=torch.int64, keepdim=True)
        if offset:
            part = part + offset * (col_sums + b_offset * k)
        out += part << (8 * shift)
    return out


def conv2d_weight_int8(x_groups: Sequence[torch.Tensor], g: torch.Tensor, kernel: tuple[int, int], stride: int,
                       padding: int, x_max_abs: int = 128) -> torch.Tensor:
    """Exact weight gradient ``sum_P g * x`` as int64 (Cout, Cin, kh, kw), x given as channel groups.

    x_groups: tensors (B, Ci, H, W) of integers with magnitude at most ``x_max_abs`` <= 128, stacked
    along channels (Cin = sum Ci) into one int8 buffer; g: (B, Cout, Ho, Wo) integer codes.  Unit
    stride with 16-bit g takes the shifted-window route (no patch matrix); other cases cut patches.
    """
    if stride == 1 and g.numel() and _fits_int16(g):
        return _weight_grad_shifted(x_groups, g.to(torch.int16), kernel, padding, x_max_abs)
    return _weight_grad_patches(x_groups, g, kernel, stride, padding)


def _fits_int16(t: torch.Tensor) -> bool:
    if t.dtype in (torch.int8, torch.uint8, torch.int16):
        return True  # the type says it, no pass over the values
    lo, hi = _min_max(t)
    return lo >= -(2**15) and hi < 2**15


def _weight_grad_shifted(x_groups: Sequence[torch.Tensor], g16: torch.Tensor, kernel: tuple[int, int],
                         padding: int, x_max_abs: int) -> torch.Tensor:
    """Unit-stride weight gradient as kh int8 products over shifted windows of one flat buffer.

    The padded input, channels-last, is one (rows, Cin) matrix X on a grid of rows Wr wide, and row r
    of the buffer R holds X[r], X[r+1], ..., X[r+kw-1] side by side: (rows, kw*Cin).  The output
    gradient is laid on the same grid (zero where no output exists) as its two bytes per channel, in
    memory order, and a ones column: G = [.., low - 128, high, .., 1], (rows, 2 Cout + 1).  An output at
    grid row r sees input row r + i*Wr + j at kernel tap (i, j), inside its own padded image, so kernel
    row i is ``G^T @ R[i*Wr:]``: a patch buffer kw (not kh*kw) times the input's size, and products wide
    enough for the int8 kernel to run near its best rate.  ``g == 256 high + (low - 128) + 128``;
    the ones column supplies the window sums the offset multiplies.
    """
    batch, _, height, width = x_groups[0].shape
    cin = sum(group.shape[1] for group in x_groups)
    cout = g16.shape[1]
    kh, kw = kernel
    ho, wo = height + 2 * padding - kh + 1, width + 2 * padding - kw + 1
    # Neighbours share their zero border where the outputs fit: a row's right pad is the next row's left
    # pad, an image's bottom pad the next image's top pad (fewer grid rows: 81 instead of 100 for 8x8).
    hr = height + padding if ho <= height + padding else height + 2 * padding
    wr = width + padding if wo <= width + padding else width + 2 * padding
    rows = batch * hr * wr
    x_flat = torch.zeros(rows + (kh - 1) * wr + kw - 1, cin, dtype=torch.int8, device=g16.device)
    x_grid = x_flat[:rows].view(batch, hr, wr, cin)
    first = 0
    for group in x_groups:
        x_grid[:, padding:padding + height, padding:padding + width, first:first + group.shape[1]].copy_(
            group.permute(0, 2, 3, 1))
        first += group.shape[1]
    # Row r of the taps is the contiguous run x_flat[r:r + kw]: overlapping windows, copied in one pass.
    row_taps = x_flat.as_strided((rows + (kh - 1) * wr, kw * cin), (cin, 1)).contiguous()
    g_flat = torch.empty(rows, 2 * cout + 1, dtype=torch.int8, device=g16.device)
    g_all = g_flat.view(batch, hr, wr, 2 * cout + 1)
    g_all[:, ho:].zero_()  # grid rows and columns without an output: zero (only these, not the whole buffer)
    g_all[:, :ho, wo:].zero_()
    g_grid = g_all[:, :ho, :wo]
    # The int16 codes' bytes in memory order, with bit 7 flipped first (one contiguous int16 pass when g is
    # channels-last, not a strided pass over every other byte): the high byte as a signed int8 is g >> 8,
    # the low one with its top bit flipped is (g & 255) - 128.
    g_bytes = torch.bitwise_xor(g16.permute(0, 2, 3, 1), 128).reshape(-1).view(torch.int8)
    g_grid[..., :2 * cout].copy_(g_bytes.view(batch, ho, wo, 2 * cout))
    g_grid[..., 2 * cout].fill_(1)
    chunk = (2**31 - 1) // (128 * max(1, x_max_abs))  # rows whose int32 partial sums cannot overflow
    taps = torch.zeros(kh, 2 * cout + 1, kw * cin, dtype=torch.int64, device=g16.device)
    for i in range(kh):
        for start in range(0, rows, chunk):
            stop = min(rows, start + chunk)
            taps[i] += _int8_product(g_flat[start:stop].t(), row_taps[start + i * wr:stop + i * wr])
    low, high = taps[:, _LOW_BYTE:2 * cout:2], taps[:, 1 - _LOW_BYTE:2 * cout:2]
    sums = (high << 8).add_(low).add_(taps[:, 2 * cout:], alpha=128)  # (kh, Cout, kw * Cin), columns (j, c)
    return sums.view(kh, cout, kw, cin).permute(1, 3, 0, 2)


def _weight_grad_patches(x_groups: Sequence[torch.Tensor], g: torch.Tensor, kernel: tuple[int, int], stride: int,
                         padding: int) -> torch.Tensor:
    """Any stride, any integer g: per block of samples, one int8 product of the gradient's byte limbs
    (Cout x P) with the patches of x (P x K), summed exactly in int64.

    Patches are cut channels-last with the channels padded to 8 bytes, so the copy moves whole
    64-bit words; blocks keep each patch matrix near PATCH_BLOCK_BYTES, below the size at which
    every allocation becomes fresh, page-faulting memory.
    """
    batch, _, height, width = x_groups[0].shape
    cin = sum(group.shape[1] for group in x_groups)
    words = -(-cin // 8)  # channels padded to whole int64 words
    kh, kw = kernel
    padded = torch.zeros(batch, height + 2 * padding, width + 2 * padding, 8 * words, dtype=torch.int8,
                         device=g.device)  # (B, Hp, Wp, Cin8): channels-last, zero border and pad channels
    first = 0
    for group in x_groups:
        inner = padded[:, padding:padding + height, padding:padding + width, first:first + group.shape[1]]
        inner.copy_(group.permute(0, 2, 3, 1))
        first += group.shape[1]
    cout, ho, wo = g.shape[1], g.shape[2], g.shape[3]
    k = kh * kw * 8 * words
    block = max(1, PATCH_BLOCK_BYTES // max(1, ho * wo * k))
    sums = torch.zeros(cout, k, dtype=torch.int64, device=g.device)
    if _fits_int16(g):
        g = g.to(torch.int16)  # converted once, not per block: the blocks' byte limbs start from it
    for start in range(0, batch, block):
        patches = padded[start:start + block].view(torch.int64).unfold(1, kh, stride).unfold(2, kw, stride)
        cols = patches.permute(0, 1, 2, 4, 5, 3).reshape(-1, kh * kw * words).view(torch.int8)  # (P, K), (i, j, c)
        g_rows = g[start:start + block].transpose(0, 1).reshape(cout, -1)  # (Cout, P)
        sums += matmul_int8(g_rows, cols)
    return sums.view(cout, kh, kw, 8 * words)[..., :cin].permute(0, 3, 1, 2)


def matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Exact product of integer matrices (int16 range, or wider via more limbs), as int64."""
    out = torch.zeros(a.shape[0], b.shape[1], dtype=torch.int64, device=a.device)
    for shift, limb, offset in int8_limbs(b):
        out += matmul_int8(a, limb, offset) << (8 * shift)
    return out
