// e2_psg_wgrad: predictive sign weight gradient.
//
//   Pr = G . msb4(X)^T   (N x K, G: N x P int16, X: K x P int8/uint8)
//   where |16 * Pr| >= TAU the sign of Pr is final; elsewhere F = G . X^T is computed for that
//   entry only and sign(F) is output.  Outputs: signs (N x K int8), recompute mask (N x K uint8).
//
// Architecture (why):
//  * An S x S PE array works on one S x S subtile of outputs at a time; PE (i, j) owns entry
//    (row i, column j) of the subtile.  Subtiles are grouped into blocks of U x TB subtiles
//    (R = U*S rows of G, TB*S rows of X).  Every PE keeps the partial sums of its entry in all V =
//    U*TB subtiles of the block in a small memory, so the block's operands can be streamed chunk
//    by chunk of P (PC values) whatever P is: P is batch x output pixels, far beyond on-chip
//    storage at training batch sizes.
//  * Reuse, because the bus (8 bytes per cycle) is the bottleneck otherwise: per chunk, the R G
//    rows of the block are loaded once into the G banks (bank i holds rows u*S+i, S consecutive
//    p-values per word) and serve all TB k-subtiles; the S X rows of one k-subtile are loaded once
//    into the X banks and serve the U subtiles that share them.  A chunk moves 2R + TB*S bytes
//    per p for U*TB*S*S MACs per p, so the array, not the bus, sets the pace.  Two G slots and two
//    X slots: the next rows load while the current ones are used.  When P <= PC the block row's
//    G rows stay on chip for all its blocks.
//  * Prediction pass: one p per cycle, every PE does a 16 x 4-bit MAC (G x msb4(X)) into its
//    48-bit accumulator: P cycles per subtile.  The accumulator belongs to the subtile being
//    worked on; on a change of subtile it is written back to the PE's memory (distributed RAM,
//    read asynchronously) and the new subtile's partial sum read from it, without a bubble;
//    back-to-back runs of one subtile continue in the accumulator.
//  * Decision, after the block's last chunk, subtile by subtile and one row per cycle through S
//    shared comparators: |16 * Pr| >= TAU, the sign of Pr kept per entry, and the partial sums
//    cleared to hold F.
//  * Recompute pass, only for subtiles with an unconfident entry, chunk by chunk again, loading
//    only the G rows and X rows that hold an unconfident entry; it starts on the prediction's
//    last chunk, whose G rows are still on chip, so no G load delays it.  The PEs of a subtile are regrouped
//    as S dot-product lanes per column: in one step column j works on one of its unconfident
//    entries (row r_j); its S PEs multiply S consecutive p-values of G row r_j with the same
//    p-values of X row j (one bank word each), an adder tree sums them and the entry's accumulator
//    adds the sum: S MACs per column per cycle.  The rows of one step are all different, so the
//    columns read different G banks.  Each step takes every entry of the lowest nonempty diagonal
//    of the subtile's unconfident set (row (j+d) mod S of column j) and fills the other columns
//    greedily (lowest remaining row not used): a subtile takes at most S steps (P cycles, the
//    always-full cost), none when all its entries are confident.
//  * The MACS counter counts useful predictor MACs (N*K*P in total) plus recompute MACs
//    (RECOMPUTED * P in total).  CYCLES_MEM_STALL counts cycles waiting for operand rows or for
//    the output path.
// Parameters: S a power of two >= 8 (the subtile is S x S), U and TB powers of two >= 2 (the
// block is U x TB subtiles), PC a power of two >= 2*S.
`default_nettype none

module e2_psg_wgrad #(
    parameter S = 8,
    parameter U = 4,
    parameter TB = 4,
    parameter PC = 1024,
    parameter AW = 64,
    parameter MAXB = 16
) (
    input  wire         ap_clk,
    input  wire         ap_rst_n,
`include "e2_kernel_ports.vh"
);
    /* verilator lint_off UNUSEDPARAM */
`include "e2_regmap_common.vh"
`include "e2_regmap_psg_wgrad.vh"
    /* verilator lint_on UNUSEDPARAM */

    // the parameters the address arithmetic below relies on (see the header); a bad build stops here
    initial begin
        if (S < 8 || ((S & (S - 1)) != 0))
            $fatal(1, "e2_psg_wgrad: S = %0d must be a power of two >= 8", S);
        if (U < 2 || ((U & (U - 1)) != 0) || TB < 2 || ((TB & (TB - 1)) != 0))
            $fatal(1, "e2_psg_wgrad: U = %0d and TB = %0d must be powers of two >= 2", U, TB);
        if (PC < 2 * S || ((PC & (PC - 1)) != 0))
            $fatal(1, "e2_psg_wgrad: PC = %0d must be a power of two >= 2*S = %0d", PC, 2 * S);
    end


    localparam SW = $clog2(S);
    localparam UW = $clog2(U);
    localparam TW = $clog2(TB);
    localparam V = U * TB;                // subtiles per block
    localparam VW = UW + TW;              // subtile index {u, t}
    localparam R = U * S;                 // G rows per block
    localparam RW = $clog2(R);
    localparam XB = TB * S;               // X rows (output columns) per block
    localparam PCW = $clog2(PC);
    localparam WPB = PC / S;              // bank words per chunk
    localparam WPBW = $clog2(WPB);
    localparam GPART = S / 4;             // 64-bit reader words per G bank word (S x 16 bit)
    localparam XPART = S / 8;             // 64-bit reader words per X bank word (S x 8 bit)
    localparam GPW = (GPART > 1) ? $clog2(GPART) : 1;
    localparam XPW = (XPART > 1) ? $clog2(XPART) : 1;
    localparam GDEPTH = 2 * U * WPB;      // two slots of U rows per bank
    localparam GAW = 1 + UW + WPBW;
    localparam XDEPTH = 2 * WPB;          // two slots of one row per bank
    localparam XAW = 1 + WPBW;
    localparam TAGW = 3 + RW;             // {is_x, slot, last_segment, row}
    localparam DWW = WPBW + 3;            // reader word index within a segment (<= PC/4 words)
    localparam LENW = 20;
    localparam OWORDS = (S + 7) / 8;      // 64-bit words per output row segment
    localparam [16:0] S17 = S[16:0];
    localparam [16:0] R17 = R[16:0];
    localparam [16:0] XB17 = XB[16:0];
    localparam [20:0] PC21 = PC[20:0];
    localparam [20:0] S21 = S[20:0];
    localparam [SW:0] S_L = S[SW:0];

    wire clk = ap_clk;
    wire rst = !ap_rst_n;

    // =====================================================================================
    // control block and arguments
    // =====================================================================================
    // the control block itself is in u_shell (see "shell" below); the core drives these
    wire [28*32-1:0] args;
    wire        core_start;
    reg  [31:0] status_r;
    reg  [31:0] recomp_r;

    localparam [2:0] S_IDLE = 3'd0, S_CHECK = 3'd1, S_SETUP = 3'd2, S_RUN = 3'd3, S_DONE = 3'd4;
    reg [2:0] state;

    wire [31:0] arg_x_lo = args[32 * ((REG_X_ADDR - ARG_BASE) >> 2) +: 32];
    wire [31:0] arg_x_hi = args[32 * (((REG_X_ADDR - ARG_BASE) >> 2) + 1) +: 32];
    wire [31:0] arg_g_lo = args[32 * ((REG_G_ADDR - ARG_BASE) >> 2) +: 32];
    wire [31:0] arg_g_hi = args[32 * (((REG_G_ADDR - ARG_BASE) >> 2) + 1) +: 32];
    wire [31:0] arg_s_lo = args[32 * ((REG_S_ADDR - ARG_BASE) >> 2) +: 32];
    wire [31:0] arg_s_hi = args[32 * (((REG_S_ADDR - ARG_BASE) >> 2) + 1) +: 32];
    wire [31:0] arg_m_lo = args[32 * ((REG_MASK_ADDR - ARG_BASE) >> 2) +: 32];
    wire [31:0] arg_m_hi = args[32 * (((REG_MASK_ADDR - ARG_BASE) >> 2) + 1) +: 32];
    wire [31:0] arg_n = args[32 * ((REG_N - ARG_BASE) >> 2) +: 32];
    wire [31:0] arg_k = args[32 * ((REG_K - ARG_BASE) >> 2) +: 32];
    wire [31:0] arg_p = args[32 * ((REG_P - ARG_BASE) >> 2) +: 32];
    wire [31:0] arg_tau_lo = args[32 * ((REG_TAU - ARG_BASE) >> 2) +: 32];
    wire [31:0] arg_tau_hi = args[32 * (((REG_TAU - ARG_BASE) >> 2) + 1) +: 32];
    wire [31:0] arg_mode = args[32 * ((REG_MODE - ARG_BASE) >> 2) +: 32];

    reg [63:0] x_base64, g_base64, s_base64, m_base64;
    reg [31:0] dim_n32, dim_k32, dim_p32, mode32;
    reg [63:0] tau;                  // threshold on |16 * Pr| (which reaches 2**43)
    wire [AW-1:0] x_base = x_base64[AW-1:0];
    wire [AW-1:0] g_base = g_base64[AW-1:0];
    wire [AW-1:0] s_base = s_base64[AW-1:0];
    wire [AW-1:0] m_base = m_base64[AW-1:0];
    wire [16:0] dim_n = {1'b0, dim_n32[15:0]};
    wire [16:0] dim_k = {1'b0, dim_k32[15:0]};
    wire [20:0] dim_p = dim_p32[20:0];

    reg x_signed;
    reg single;          // P fits one chunk: a block row's G rows stay on chip for all its blocks
    reg [AW-1:0] g_rstride, x_rstride, k_stride, g_bstride, x_tstride, x_bstride, o_ustride, o_bstride;

    wire bad_dims = (dim_n32 == 32'd0) || (dim_k32 == 32'd0) || (dim_p32 == 32'd0) ||
                    (dim_n32 > MAX_DIM) || (dim_k32 > MAX_DIM) || (dim_p32 > MAX_P);
    wire misaligned = (x_base64[2:0] != 3'd0) || (g_base64[2:0] != 3'd0) ||
                      (s_base64[2:0] != 3'd0) || (m_base64[2:0] != 3'd0);
    wire bad_mode = (mode32 > MODE_MAX);

    wire run_done;
    wire init = (state == S_SETUP);

    always @(posedge clk) begin
        if (rst) begin
            state <= S_IDLE;
            status_r <= 32'd0;
            x_base64 <= 64'd0; g_base64 <= 64'd0; s_base64 <= 64'd0; m_base64 <= 64'd0;
            dim_n32 <= 32'd0; dim_k32 <= 32'd0; dim_p32 <= 32'd0; tau <= 64'd0; mode32 <= 32'd0;
            x_signed <= 1'b0; single <= 1'b0;
            g_rstride <= {AW{1'b0}}; x_rstride <= {AW{1'b0}}; k_stride <= {AW{1'b0}};
            g_bstride <= {AW{1'b0}}; x_tstride <= {AW{1'b0}}; x_bstride <= {AW{1'b0}};
            o_ustride <= {AW{1'b0}}; o_bstride <= {AW{1'b0}};
        end else begin
            case (state)
                S_IDLE: if (core_start) begin
                    x_base64 <= {arg_x_hi, arg_x_lo};
                    g_base64 <= {arg_g_hi, arg_g_lo};
                    s_base64 <= {arg_s_hi, arg_s_lo};
                    m_base64 <= {arg_m_hi, arg_m_lo};
                    dim_n32 <= arg_n; dim_k32 <= arg_k; dim_p32 <= arg_p; tau <= {arg_tau_hi, arg_tau_lo};
                    mode32 <= arg_mode;
                    status_r <= 32'd0;
                    state <= S_CHECK;
                end
                S_CHECK: begin
                    if (bad_dims || misaligned || bad_mode) begin
                        status_r <= (bad_dims ? STATUS_BAD_DIMS : 32'd0) |
                                    (misaligned ? STATUS_MISALIGNED : 32'd0) |
                                    (bad_mode ? STATUS_BAD_MODE : 32'd0);
                        state <= S_DONE;
                    end else begin
                        x_signed <= (mode32 == MODE_SIGNED);
                        single <= (dim_p <= PC21);
                        g_rstride <= {{(AW-21){1'b0}}, dim_p} << 1;
                        x_rstride <= {{(AW-21){1'b0}}, dim_p};
                        k_stride <= {{(AW-17){1'b0}}, dim_k};
                        g_bstride <= {{(AW-21){1'b0}}, dim_p} << (RW + 1);
                        x_tstride <= {{(AW-21){1'b0}}, dim_p} << SW;
                        x_bstride <= {{(AW-21){1'b0}}, dim_p} << (SW + TW);
                        o_ustride <= {{(AW-17){1'b0}}, dim_k} << SW;
                        o_bstride <= {{(AW-17){1'b0}}, dim_k} << RW;
                        state <= S_SETUP;
                    end
                end
                S_SETUP: state <= S_RUN;
                S_RUN: if (run_done) state <= S_DONE;
                default: state <= S_IDLE;
            endcase
        end
    end

    // =====================================================================================
    // shell: control block, AXI master and the shared counters
    // =====================================================================================
    localparam MACW = 2 * SW + 2;
    wire             rd_cmd_valid, rd_cmd_ready;
    wire [AW-1:0]    rd_cmd_addr;
    wire [LENW-1:0]  rd_cmd_len;
    wire [TAGW-1:0]  rd_cmd_tag;
    wire             rd_out_valid;
    wire [63:0]      rd_out_data;
    wire [TAGW-1:0]  rd_out_tag;
    wire             rd_out_last;
    wire             wq_cmd_in_valid, wq_cmd_in_ready;
    wire [AW+LENW-1:0] wq_cmd_in;
    wire             wq_dat_in_valid, wq_dat_in_ready;
    wire [63:0]      wq_dat_in;
    wire             axi_idle;
    wire             core_stall;            // from compute: running, waiting for memory
    wire [MACW-1:0]  core_macs;             // from compute: useful MACs issued now

    e2_kernel_shell #(.ARG_WMASK(ARG_WMASK), .AW(AW), .LENW(LENW), .TAGW(TAGW), .MAXB(MAXB), .MACW(MACW)) u_shell (
        .clk(clk), .rst(rst),
`include "e2_kernel_port_map.vh"
        .args(args), .core_start(core_start), .core_done(state == S_DONE), .core_idle(state == S_IDLE),
        .core_stall(core_stall), .core_macs(core_macs),
        .status(status_r), .overflows(32'd0), .recomputed(recomp_r),   // signs never saturate
        .rd_cmd_valid(rd_cmd_valid), .rd_cmd_ready(rd_cmd_ready), .rd_cmd_addr(rd_cmd_addr),
        .rd_cmd_len(rd_cmd_len), .rd_cmd_tag(rd_cmd_tag),
        .rd_out_valid(rd_out_valid), .rd_out_data(rd_out_data), .rd_out_tag(rd_out_tag),
        .rd_out_last(rd_out_last),
        .wr_cmd_valid(wq_cmd_in_valid), .wr_cmd_ready(wq_cmd_in_ready), .wr_cmd(wq_cmd_in),
        .wr_dat_valid(wq_dat_in_valid), .wr_dat_ready(wq_dat_in_ready), .wr_dat(wq_dat_in),
        .axi_idle(axi_idle)
    );

    // =====================================================================================
    // helpers on subtile sets (subtile v = {u, t} = u * TB + t)
    // =====================================================================================
    // lowest set bit of `mask` at or above `from`: {none, index}
    function [VW:0] next_set(input [V-1:0] mask, input [VW:0] from);
        integer ni;
        begin
            next_set = {1'b1, {VW{1'b0}}};
            for (ni = V - 1; ni >= 0; ni = ni - 1)
                if (mask[ni] && (ni >= from))
                    next_set = {1'b0, ni[VW-1:0]};
        end
    endfunction
    // the first `count` bits set
    function [V-1:0] low_bits(input [VW:0] count);
        integer li;
        begin
            for (li = 0; li < V; li = li + 1)
                low_bits[li] = (li < count);
        end
    endfunction
    // n-subtiles u whose subtile (u, t) is set
    function [V-1:0] u_of_t(input [V-1:0] vset, input [TW-1:0] t);
        integer ui;
        begin
            u_of_t = {V{1'b0}};
            for (ui = 0; ui < U; ui = ui + 1)
                u_of_t[ui] = vset[ui * TB + {{(32-TW){1'b0}}, t}];
        end
    endfunction
    // rows (G rows of a subtile) and columns (X rows) that hold a set entry of an S x S mask
    function [S-1:0] rows_of(input [S*S-1:0] m);
        integer ri;
        begin
            for (ri = 0; ri < S; ri = ri + 1)
                rows_of[ri] = |m[S * ri +: S];
        end
    endfunction
    function [S-1:0] cols_of(input [S*S-1:0] m);
        integer ci, cr;
        begin
            cols_of = {S{1'b0}};
            for (ci = 0; ci < S; ci = ci + 1)
                for (cr = 0; cr < S; cr = cr + 1)
                    cols_of[ci] = cols_of[ci] | m[S * cr + ci];
        end
    endfunction

    reg  [V-1:0] vany;               // subtiles with an unconfident entry (decision)
    wire [V-1:0] vany_t;             // k-subtiles t with an unconfident entry (any u)
    genvar gvt;
    generate
        for (gvt = 0; gvt < V; gvt = gvt + 1) begin : g_vany_t
            if (gvt < TB) begin : g_t
                wire [U-1:0] col;
                genvar gvu;
                for (gvu = 0; gvu < U; gvu = gvu + 1) begin : g_u
                    assign col[gvu] = vany[gvu * TB + gvt];
                end
                assign vany_t[gvt] = |col;
            end else begin : g_pad
                assign vany_t[gvt] = 1'b0;
            end
        end
    endgenerate

    // =====================================================================================
    // loader: per block and chunk, the G rows of the block (unless on chip), then the X rows of
    // each k-subtile; the recompute pass loads only rows with an unconfident entry
    // =====================================================================================
    localparam [2:0] LD_GSTART = 3'd0, LD_G = 3'd1, LD_XSTART = 3'd2, LD_X = 3'd3, LD_DEC = 3'd4,
                     LD_END = 3'd5;
    reg [2:0]    ld_state;
    reg [16:0]   ld_n0, ld_k0;
    reg [20:0]   ld_p0;
    reg          ld_pass;              // 0: prediction loads, 1: recompute loads
    reg [TW-1:0] ld_t;
    reg [RW:0]   ld_cnt;
    reg          ld_gs, ld_xs;         // next G / X slot (G: P > PC only)
    reg          ld_npar;              // parity of the block row (its G slot when P <= PC)
    reg [AW-1:0] ld_gblk, ld_xblk, ld_ptr;
    reg [1:0]    g_busy, x_busy;       // claimed by the loader, not yet released by compute
    reg          dec_valid;                  // compute's decision for the current block is made
    wire         dec_recompute = |vany;      // ... and some subtile needs the recompute pass
    reg [R-1:0]  dec_gneed;                  // ... and the rows its recompute pass reads
    reg [XB-1:0] dec_xneed;
    wire         dec_ack;
    wire [1:0]   g_release, x_release;       // from compute

    wire [20:0] ld_prem = dim_p - ld_p0;
    wire [20:0] ld_clen = (ld_prem > PC21) ? PC21 : ld_prem;
    wire [16:0] ld_nrem = dim_n - ld_n0;
    wire [16:0] ld_brows = (ld_nrem > R17) ? R17 : ld_nrem;
    wire [16:0] ld_krem = dim_k - ld_k0;
    wire [16:0] ld_bcols = (ld_krem > XB17) ? XB17 : ld_krem;
    wire [16:0] ld_trem = ld_bcols - {{(17-TW-SW){1'b0}}, ld_t, {SW{1'b0}}};
    wire [16:0] ld_xrows = (ld_trem > S17) ? S17 : ld_trem;
    wire [16:0] ld_tcount = (ld_bcols + S17 - 17'd1) >> SW;
    wire ld_last_chunk = (ld_p0 + PC21 >= dim_p);
    wire ld_last_kb = (ld_k0 + XB17 >= dim_k);
    wire ld_last_nb = (ld_n0 + R17 >= dim_n);
    // the recompute pass reads the decision's registers directly: they change only at the next
    // block's decision, after this block's loads have been consumed
    wire [V-1:0] ld_tmask = ld_pass ? vany_t : low_bits(ld_tcount[VW:0]);
    wire [VW:0] ld_tfirst = next_set(ld_tmask, {(VW+1){1'b0}});
    wire [VW:0] ld_tnext = next_set(ld_tmask, {{(VW+1-TW){1'b0}}, ld_t} + 1'b1);
    // G rows load per chunk when P > PC (except the recompute pass's first chunk, the prediction's
    // last, still on chip), else once per block row
    wire ld_load_g = single ? (!ld_pass && (ld_k0 == 17'd0)) : !(ld_pass && ld_last_chunk);
    // the recompute pass takes the chunks in the order last, first, ..., last but one
    wire ld_rec_done = single || (!ld_last_chunk && ({1'b0, ld_p0} + {PC21, 1'b0} >= {1'b0, dim_p}));
    wire ld_gslot = single ? ld_npar : ld_gs;
    wire ld_g_last = ({{(16-RW){1'b0}}, ld_cnt} == ld_brows - 1'b1);
    wire ld_x_last = ({{(16-RW){1'b0}}, ld_cnt} == ld_xrows - 1'b1);
    // Rows the recompute pass skips take one loader cycle and no bus traffic.
    wire [R-1:0] ld_gabove = ~((({{(R-1){1'b0}}, 1'b1} << ld_cnt[RW-1:0]) << 1) - {{(R-1){1'b0}}, 1'b1});
    wire [S-1:0] ld_xabove = ~((({{(S-1){1'b0}}, 1'b1} << ld_cnt[SW-1:0]) << 1) - {{(S-1){1'b0}}, 1'b1});
    wire [S-1:0] ld_xneed_t = dec_xneed[{ld_t, {SW{1'b0}}} +: S];
    wire ld_row_need = !ld_pass || ((ld_state == LD_G) ? dec_gneed[ld_cnt[RW-1:0]] : ld_xneed_t[ld_cnt[SW-1:0]]);
    wire ld_g_end = ld_g_last || (ld_pass && ((dec_gneed & ld_gabove) == {R{1'b0}}));
    wire ld_x_end = ld_x_last || (ld_pass && ((ld_xneed_t & ld_xabove) == {S{1'b0}}));
    wire g_claim = (ld_state == LD_GSTART) && ld_load_g && !g_busy[ld_gslot];
    wire x_claim = (ld_state == LD_XSTART) && !x_busy[ld_xs];
    wire [AW-1:0] ld_xsub = ld_xblk + x_tstride * {{(AW-TW){1'b0}}, ld_t};

    assign rd_cmd_valid = ((ld_state == LD_G) || (ld_state == LD_X)) && ld_row_need;
    assign rd_cmd_addr = ld_ptr;
    assign rd_cmd_len = (ld_state == LD_G) ? {ld_clen[LENW-2:0], 1'b0} : ld_clen[LENW-1:0];
    assign rd_cmd_tag = {(ld_state == LD_X), (ld_state == LD_X) ? ld_xs : ld_gslot,
                         (ld_state == LD_X) ? ld_x_end : ld_g_end, ld_cnt[RW-1:0]};
    wire rd_fire = rd_cmd_valid && rd_cmd_ready;
    wire ld_adv = ((ld_state == LD_G) || (ld_state == LD_X)) && (rd_fire || !ld_row_need);
    assign dec_ack = (ld_state == LD_DEC) && dec_valid;
    wire [AW-1:0] ld_poff_g = {{(AW-22){1'b0}}, ld_p0, 1'b0};
    wire [AW-1:0] ld_poff_x = {{(AW-21){1'b0}}, ld_p0};
    wire ld_xs_done = ld_adv && (ld_state == LD_X) && ld_x_end;     // last X row of a k-subtile
    // the block needs no more loads: after its recompute pass, or when nothing needs recomputing
    wire ld_block_done = (ld_xs_done && ld_tnext[VW] && ld_pass && ld_rec_done) ||
                         (dec_ack && !dec_recompute);

    always @(posedge clk) begin
        if (rst || init) begin
            ld_state <= rst ? LD_END : LD_GSTART;
            ld_n0 <= 17'd0; ld_k0 <= 17'd0; ld_p0 <= 21'd0; ld_pass <= 1'b0;
            ld_t <= {TW{1'b0}}; ld_cnt <= {(RW+1){1'b0}};
            ld_gs <= 1'b0; ld_xs <= 1'b0; ld_npar <= 1'b0;
            ld_gblk <= g_base; ld_xblk <= x_base; ld_ptr <= g_base;
            g_busy <= 2'b00; x_busy <= 2'b00;
        end else begin
            g_busy <= (g_busy & ~g_release) | (g_claim ? (2'b01 << ld_gslot) : 2'b00);
            x_busy <= (x_busy & ~x_release) | (x_claim ? (2'b01 << ld_xs) : 2'b00);
            case (ld_state)
                LD_GSTART: begin
                    if (!ld_load_g) begin
                        ld_t <= ld_tfirst[TW-1:0];
                        ld_state <= LD_XSTART;
                    end else if (g_claim) begin
                        ld_cnt <= {(RW+1){1'b0}};
                        ld_ptr <= ld_gblk + ld_poff_g;
                        ld_state <= LD_G;
                    end
                end
                LD_G: if (ld_adv) begin
                    ld_ptr <= ld_ptr + g_rstride;
                    ld_cnt <= ld_cnt + 1'b1;
                    if (ld_g_end) begin
                        if (!single) ld_gs <= !ld_gs;
                        ld_t <= ld_tfirst[TW-1:0];
                        ld_state <= LD_XSTART;
                    end
                end
                LD_XSTART: if (x_claim) begin
                    ld_cnt <= {(RW+1){1'b0}};
                    ld_ptr <= ld_xsub + ld_poff_x;
                    ld_state <= LD_X;
                end
                LD_X: if (ld_adv) begin
                    ld_ptr <= ld_ptr + x_rstride;
                    ld_cnt <= ld_cnt + 1'b1;
                    if (ld_x_end) begin
                        ld_xs <= !ld_xs;
                        if (!ld_tnext[VW]) begin
                            ld_t <= ld_tnext[TW-1:0];
                            ld_state <= LD_XSTART;
                        end else if (!single && !ld_pass && !ld_last_chunk) begin
                            ld_p0 <= ld_p0 + PC21;
                            ld_state <= LD_GSTART;
                        end else if (!ld_pass) begin
                            ld_state <= LD_DEC;
                        end else if (!ld_rec_done) begin
                            ld_p0 <= ld_last_chunk ? 21'd0 : ld_p0 + PC21;
                            ld_state <= LD_GSTART;
                        end
                    end
                end
                LD_DEC: if (dec_valid && dec_recompute) begin
                    ld_pass <= 1'b1;
                    ld_state <= LD_GSTART;
                end
                default: ;
            endcase
            if (ld_block_done) begin
                ld_p0 <= 21'd0;
                ld_pass <= 1'b0;
                if (!ld_last_kb) begin
                    ld_k0 <= ld_k0 + XB17;
                    ld_xblk <= ld_xblk + x_bstride;
                    ld_state <= LD_GSTART;
                end else if (!ld_last_nb) begin
                    ld_k0 <= 17'd0;
                    ld_n0 <= ld_n0 + R17;
                    ld_npar <= !ld_npar;
                    ld_xblk <= x_base;
                    ld_gblk <= ld_gblk + g_bstride;
                    ld_state <= LD_GSTART;
                end else begin
                    ld_state <= LD_END;
                end
            end
        end
    end

    // =====================================================================================
    // data side: G rows -> G banks (bank = row mod S, row / S selects the U region of a slot),
    // X rows -> X banks (S p-values per bank word)
    // =====================================================================================
    wire            dt_is_x = rd_out_tag[TAGW-1];
    wire            dt_slot = rd_out_tag[TAGW-2];
    wire            dt_lastseg = rd_out_tag[TAGW-3];
    wire [RW-1:0]   dt_row = rd_out_tag[RW-1:0];
    wire [SW-1:0]   dt_bank = dt_row[SW-1:0];
    wire [UW-1:0]   dt_u = dt_row[RW-1:SW];
    reg  [DWW-1:0]  dt_w;
    reg  [1:0]      g_ready, x_ready;
    wire [GAW-1:0]  g_waddr;
    wire [XAW-1:0]  x_waddr;
    wire [GPW-1:0]  g_part;
    wire [XPW-1:0]  x_part;
    generate
        if (GPART > 1) begin : g_gpart
            assign g_waddr = {dt_slot, dt_u, dt_w[GPW +: WPBW]};
            assign g_part = dt_w[GPW-1:0];
        end else begin : g_gpart1
            assign g_waddr = {dt_slot, dt_u, dt_w[WPBW-1:0]};
            assign g_part = 1'b0;
        end
        if (XPART > 1) begin : g_xpart
            assign x_waddr = {dt_slot, dt_w[XPW +: WPBW]};
            assign x_part = dt_w[XPW-1:0];
        end else begin : g_xpart1
            assign x_waddr = {dt_slot, dt_w[WPBW-1:0]};
            assign x_part = 1'b0;
        end
    endgenerate

    wire seg_end = rd_out_valid && rd_out_last && dt_lastseg;
    always @(posedge clk) begin
        if (rst || init) begin
            dt_w <= {DWW{1'b0}};
            g_ready <= 2'b00;
            x_ready <= 2'b00;
        end else begin
            if (rd_out_valid)
                dt_w <= rd_out_last ? {DWW{1'b0}} : dt_w + 1'b1;
            g_ready <= (g_ready & ~g_release) | ((seg_end && !dt_is_x) ? (2'b01 << dt_slot) : 2'b00);
            x_ready <= (x_ready & ~x_release) | ((seg_end && dt_is_x) ? (2'b01 << dt_slot) : 2'b00);
        end
    end

    // banks: part p of a bank word is its own 64-bit memory, so a row that ends inside a bank
    // word can zero the parts above it (padding lanes must multiply as zero)
    wire issue;
    wire [GAW-1:0] g_raddr;
    wire [XAW-1:0] x_raddr;
    wire [S*S*16-1:0] gq;     // bank i: S G values of row u*S+i of the current subtile
    wire [S*S*8-1:0]  xq;     // bank j: S X values of column j of the current subtile
    genvar gb, gp;
    generate
        for (gb = 0; gb < S; gb = gb + 1) begin : g_gbank
            for (gp = 0; gp < GPART; gp = gp + 1) begin : g_part_mem
                // a row's last reader word zero-fills the parts after it (a short final segment)
                wire hit = rd_out_valid && !dt_is_x && (dt_bank == gb) &&
                           ((g_part == gp) || (rd_out_last && ({1'b0, g_part} + 1'b1 <= gp)));
                e2_bank_ram #(.DEPTH(GDEPTH), .AW(GAW)) u_bank (
                    .clk(clk), .we(hit), .waddr(g_waddr), .wdata((g_part == gp) ? rd_out_data : 64'd0),
                    .re(issue), .raddr(g_raddr), .q(gq[S * 16 * gb + 64 * gp +: 64]));
            end
        end
        for (gb = 0; gb < S; gb = gb + 1) begin : g_xbank
            for (gp = 0; gp < XPART; gp = gp + 1) begin : g_part_mem
                wire hit = rd_out_valid && dt_is_x && (dt_bank == gb) &&
                           ((x_part == gp) || (rd_out_last && ({1'b0, x_part} + 1'b1 <= gp)));
                e2_bank_ram #(.DEPTH(XDEPTH), .AW(XAW)) u_bank (
                    .clk(clk), .we(hit), .waddr(x_waddr), .wdata((x_part == gp) ? rd_out_data : 64'd0),
                    .re(issue), .raddr(x_raddr), .q(xq[S * 8 * gb + 64 * gp +: 64]));
            end
        end
    endgenerate

    // =====================================================================================
    // compute sequencer
    // =====================================================================================
    localparam [3:0] C_GWAIT = 4'd0, C_XWAIT = 4'd1, C_PRED = 4'd2, C_PLAN = 4'd3, C_REC = 4'd4,
                     C_TEND = 4'd5, C_PWAIT = 4'd6, C_FLUSH = 4'd7, C_DROW = 4'd8, C_DAGG = 4'd9,
                     C_DEND = 4'd10, C_FSET = 4'd11, C_BEND = 4'd12, C_END = 4'd13;
    reg [3:0]    c_state;
    reg [16:0]   c_n0, c_k0;
    reg [20:0]   c_p0;
    reg          c_pass;
    reg [UW-1:0] c_u;
    reg [TW-1:0] c_t;
    reg [PCW-1:0] c_p;
    reg [WPBW-1:0] c_w;
    reg          c_gs, c_xs, c_npar;
    reg          c_runfirst;         // the next issue starts a run (a subtile's chunk)
    reg [AW-1:0] c_orow;             // n0 * K: output offset of the block row
    reg [S*SW-1:0] st_rows;          // recompute step: G row handled by each column
    reg [S-1:0]  st_on;              // ... and whether the column has an entry in this step
    reg [S*S-1:0] todo;              // unconfident entries of the subtile not yet scheduled
    wire         res_valid;
    reg          acc_live;           // the accumulators hold subtile acc_v (its memory copy is stale)
    reg [VW-1:0] acc_v;
    reg          s1_valid, s1_pred, s1_first, s1_zero;
    reg [SW-1:0] s1_elem;
    reg [VW-1:0] s1_v;
    reg [S*SW-1:0] s1_rows;
    reg [S-1:0]  s1_on;
    reg          s2_valid, s2_pred, s2_first, s2_zero;
    reg [VW-1:0] s2_v;
    reg [S*SW-1:0] s2_rows;
    reg [S-1:0]  s2_on;
    reg          s3_valid, s3_first;
    reg [VW-1:0] s3_v;
    reg [S*SW-1:0] s3_rows;
    reg [S-1:0]  s3_on;

    wire [VW-1:0] c_v = {c_u, c_t};
    wire c_gslot = single ? c_npar : c_gs;
    wire [20:0] c_prem = dim_p - c_p0;
    wire [20:0] c_clen = (c_prem > PC21) ? PC21 : c_prem;
    wire [20:0] c_nw = (c_clen + S21 - 21'd1) >> SW;                 // bank words in this chunk
    wire [16:0] c_nrem = dim_n - c_n0;
    wire [16:0] c_brows = (c_nrem > R17) ? R17 : c_nrem;
    wire [16:0] c_krem = dim_k - c_k0;
    wire [16:0] c_bcols = (c_krem > XB17) ? XB17 : c_krem;
    wire [16:0] c_urem = c_brows - {{(17-UW-SW){1'b0}}, c_u, {SW{1'b0}}};
    wire [16:0] c_rv = (c_urem > S17) ? S17 : c_urem;          // valid rows (n) of the subtile
    wire [16:0] c_trem = c_bcols - {{(17-TW-SW){1'b0}}, c_t, {SW{1'b0}}};
    wire [16:0] c_cv = (c_trem > S17) ? S17 : c_trem;          // valid columns (k)
    wire [16:0] c_ucount = (c_brows + S17 - 17'd1) >> SW;
    wire [16:0] c_tcount = (c_bcols + S17 - 17'd1) >> SW;
    wire c_last_chunk = (c_p0 + PC21 >= dim_p);
    // the recompute pass takes the last chunk first (its G rows are still on chip), then the others
    wire c_rec_done = !c_last_chunk && ({1'b0, c_p0} + {PC21, 1'b0} >= {1'b0, dim_p});
    wire c_last_kb = (c_k0 + XB17 >= dim_k);
    wire c_last_nb = (c_n0 + R17 >= dim_n);
    wire c_last_p = ({{(21-PCW){1'b0}}, c_p} == c_clen - 1'b1);
    wire c_last_w = ({{(21-WPBW){1'b0}}, c_w} == c_nw - 1'b1);
    wire pipe_empty = !s1_valid && !s2_valid && !s3_valid;
    // lanes of the current recompute word (the last word of a chunk may be partial)
    wire [20:0] c_wlanes_rem = c_clen - {{(21-WPBW-SW){1'b0}}, c_w, {SW{1'b0}}};
    wire [SW:0] c_lanes = (c_wlanes_rem > S21) ? S_L : c_wlanes_rem[SW:0];
    wire [S-1:0] c_rowv, c_colv;     // rows / columns of the subtile inside the matrices
    genvar gv;
    generate
        for (gv = 0; gv < S; gv = gv + 1) begin : g_valid
            localparam [SW-1:0] GV = gv[SW-1:0];
            assign c_rowv[gv] = ({{(17-UW-SW){1'b0}}, c_u, GV} < c_brows);
            assign c_colv[gv] = ({{(17-TW-SW){1'b0}}, c_t, GV} < c_bcols);
        end
    endgenerate

    // subtile order: k-subtiles t, and for each the n-subtiles u; the recompute pass visits only
    // subtiles with an unconfident entry
    wire [V-1:0] c_tmask = c_pass ? vany_t : low_bits(c_tcount[VW:0]);
    wire [V-1:0] c_umask = c_pass ? u_of_t(vany, c_t) : low_bits(c_ucount[VW:0]);
    wire [VW:0] c_tfirst = next_set(c_tmask, {(VW+1){1'b0}});
    wire [VW:0] c_tnext = next_set(c_tmask, {{(VW+1-TW){1'b0}}, c_t} + 1'b1);
    wire [VW:0] c_ufirst = next_set(c_umask, {(VW+1){1'b0}});
    wire [VW:0] c_unext = next_set(c_umask, {{(VW+1-UW){1'b0}}, c_u} + 1'b1);
    // every subtile, for the decision; the valid ones, for the results
    wire [VW:0] c_vnext = {1'b0, c_v} + 1'b1;
    wire c_fin_last_t = ({{(16-TW){1'b0}}, c_t} + 17'd1 >= c_tcount);
    wire c_fin_last_u = ({{(16-UW){1'b0}}, c_u} + 17'd1 >= c_ucount);

    wire pred_issue = (c_state == C_PRED);
    wire rec_issue = (c_state == C_REC);
    assign issue = pred_issue || rec_issue;
    wire [WPBW-1:0] c_word = pred_issue ? c_p[PCW-1:SW] : c_w;
    assign g_raddr = {c_gslot, c_u, c_word};
    assign x_raddr = {c_xs, c_word};
    wire todo_empty = (todo == {(S*S){1'b0}});
    wire [S*S-1:0] unconf;           // of subtile c_v, from the PEs' decision bits
    // decision, one subtile row per cycle through S shared comparators: row r's partial sums are
    // registered in cycle r and decided in cycle r+1
    reg [SW:0] dec_cnt;
    wire dec_load = (c_state == C_DROW) && !dec_cnt[SW];
    wire dec_clear = (c_state == C_DAGG);   // the subtile's sums restart at zero to hold F
    wire dec_cap;                    // from the decision unit: the row it decides now
    wire [SW-1:0] dec_cap_row;
    // every PE's accumulator and product, one net per PE (a net array rather than one wide
    // vector: event-driven simulators update a wide vector with many drivers very slowly)
    wire [47:0] pe_sum [0:S*S-1];
    wire [25:0] pe_prod [0:S*S-1];
    wire plan_now = (c_state == C_PLAN);
    wire fin_now = (c_state == C_FSET) && !res_valid;
    wire tend_now = (c_state == C_TEND);
    wire chunk_end = tend_now && c_tnext[VW];
    assign x_release = tend_now ? (2'b01 << c_xs) : 2'b00;
    // P > PC: a G slot is released after its chunk, except the prediction's last chunk, which the
    // recompute pass uses first (or which is released at once when nothing needs recomputing)
    wire g_done = !single && ((chunk_end && (c_pass || !c_last_chunk)) || ((c_state == C_DEND) && !dec_recompute));
    assign g_release = g_done ? (2'b01 << c_gs) :
                       ((c_state == C_BEND) && single && c_last_kb) ? (2'b01 << c_npar) : 2'b00;

    // accumulator switching: a run's first accumulation loads the subtile's partial sum (zero in
    // the first chunk of the prediction) unless the accumulators already hold that subtile, and
    // writes the accumulators back to the subtile they held
    wire acc_pred = s2_valid && s2_pred;
    wire acc_rec = s3_valid;
    wire acc_first = acc_pred ? s2_first : (acc_rec && s3_first);
    wire [VW-1:0] acc_runv = acc_pred ? s2_v : s3_v;
    wire acc_keep = acc_live && (acc_v == acc_runv);
    wire wb_en = (acc_first && acc_live && !acc_keep) || ((c_state == C_FLUSH) && acc_live);
    // the PE memories are read asynchronously (distributed RAM): at the accumulating stage during a
    // run, else the subtile of the decision or the results
    wire [VW-1:0] sum_rv = acc_pred ? s2_v : (acc_rec ? s3_v : c_v);

    function [2*SW:0] popcount_ss(input [S*S-1:0] v);
        integer pi;
        begin
            popcount_ss = {(2*SW+1){1'b0}};
            for (pi = 0; pi < S * S; pi = pi + 1)
                popcount_ss = popcount_ss + {{(2*SW){1'b0}}, v[pi]};
        end
    endfunction
    function [SW:0] popcount_s(input [S-1:0] v);
        integer pi;
        begin
            popcount_s = {(SW+1){1'b0}};
            for (pi = 0; pi < S; pi = pi + 1)
                popcount_s = popcount_s + {{SW{1'b0}}, v[pi]};
        end
    endfunction
    wire [S*SW-1:0] next_rows;
    wire [S-1:0]    next_on;
    wire [S*S-1:0]  next_taken;
    e2_psg_planner #(.S(S), .SW(SW)) u_planner (
        .avail(plan_now ? unconf : todo), .rows(next_rows), .on(next_on), .taken(next_taken));
    wire [2*SW:0] dec_total = popcount_ss(unconf);
    wire [SW:0] st_count = popcount_s(st_on);

    always @(posedge clk) begin
        if (rst || init) begin
            c_state <= rst ? C_END : C_GWAIT;
            c_n0 <= 17'd0; c_k0 <= 17'd0; c_p0 <= 21'd0; c_pass <= 1'b0;
            c_u <= {UW{1'b0}}; c_t <= {TW{1'b0}}; c_p <= {PCW{1'b0}}; c_w <= {WPBW{1'b0}};
            c_gs <= 1'b0; c_xs <= 1'b0; c_npar <= 1'b0; c_runfirst <= 1'b0;
            c_orow <= {AW{1'b0}};
            st_rows <= {(S*SW){1'b0}}; st_on <= {S{1'b0}}; todo <= {(S*S){1'b0}};
            vany <= {V{1'b0}};
            dec_cnt <= {(SW+1){1'b0}};
            dec_valid <= 1'b0;
            dec_gneed <= {R{1'b0}}; dec_xneed <= {XB{1'b0}};
            acc_live <= 1'b0; acc_v <= {VW{1'b0}};
            s1_valid <= 1'b0; s1_pred <= 1'b0; s1_first <= 1'b0; s1_zero <= 1'b0; s1_elem <= {SW{1'b0}};
            s1_v <= {VW{1'b0}}; s1_rows <= {(S*SW){1'b0}}; s1_on <= {S{1'b0}};
            s2_valid <= 1'b0; s2_pred <= 1'b0; s2_first <= 1'b0; s2_zero <= 1'b0; s2_v <= {VW{1'b0}};
            s2_rows <= {(S*SW){1'b0}}; s2_on <= {S{1'b0}};
            s3_valid <= 1'b0; s3_first <= 1'b0; s3_v <= {VW{1'b0}}; s3_rows <= {(S*SW){1'b0}};
            s3_on <= {S{1'b0}};
        end else begin
            s1_valid <= issue;
            s1_pred <= pred_issue;
            s1_first <= issue && c_runfirst;
            s1_zero <= pred_issue && (c_p0 == 21'd0);
            s1_elem <= c_p[SW-1:0];
            s1_v <= c_v;
            s1_rows <= st_rows;
            s1_on <= st_on;
            s2_valid <= s1_valid;
            s2_pred <= s1_pred;
            s2_first <= s1_first;
            s2_zero <= s1_zero;
            s2_v <= s1_v;
            s2_rows <= s1_rows;
            s2_on <= s1_on;
            s3_valid <= s2_valid && !s2_pred;
            s3_first <= s2_first;
            s3_v <= s2_v;
            s3_rows <= s2_rows;
            s3_on <= s2_on;
            if (issue)
                c_runfirst <= 1'b0;
            if (dec_ack)
                dec_valid <= 1'b0;
            if (acc_first) begin
                acc_live <= 1'b1;
                acc_v <= acc_runv;
            end
            case (c_state)
                C_GWAIT: if (g_ready[c_gslot]) begin
                    c_t <= c_tfirst[TW-1:0];
                    c_state <= C_XWAIT;
                end
                C_XWAIT: if (x_ready[c_xs]) begin
                    c_u <= c_ufirst[UW-1:0];
                    c_p <= {PCW{1'b0}};
                    c_runfirst <= 1'b1;
                    c_state <= c_pass ? C_PLAN : C_PRED;
                end
                C_PRED: begin
                    if (!c_last_p) begin
                        c_p <= c_p + 1'b1;
                    end else begin
                        c_p <= {PCW{1'b0}};
                        if (!c_unext[VW]) begin
                            c_u <= c_unext[UW-1:0];
                            c_runfirst <= 1'b1;
                        end else begin
                            c_state <= C_TEND;
                        end
                    end
                end
                C_PLAN: begin
                    st_rows <= next_rows;
                    st_on <= next_on;
                    todo <= unconf & ~next_taken;
                    c_w <= {WPBW{1'b0}};
                    c_runfirst <= 1'b1;
                    c_state <= C_REC;
                end
                C_REC: begin
                    if (!c_last_w) begin
                        c_w <= c_w + 1'b1;
                    end else begin
                        c_w <= {WPBW{1'b0}};
                        st_rows <= next_rows;
                        st_on <= next_on;
                        todo <= todo & ~next_taken;
                        if (todo_empty) begin
                            if (!c_unext[VW]) begin
                                c_u <= c_unext[UW-1:0];
                                c_state <= C_PLAN;
                            end else begin
                                c_state <= C_TEND;
                            end
                        end
                    end
                end
                C_TEND: begin
                    c_xs <= !c_xs;
                    if (!c_tnext[VW]) begin
                        c_t <= c_tnext[TW-1:0];
                        c_state <= C_XWAIT;
                    end else begin
                        if (g_done)
                            c_gs <= !c_gs;
                        if (single || (c_pass ? c_rec_done : c_last_chunk)) begin
                            c_state <= C_PWAIT;
                        end else begin
                            c_p0 <= (c_pass && c_last_chunk) ? 21'd0 : c_p0 + PC21;
                            c_state <= C_GWAIT;
                        end
                    end
                end
                C_PWAIT: if (pipe_empty) c_state <= C_FLUSH;
                C_FLUSH: begin
                    acc_live <= 1'b0;
                    c_u <= {UW{1'b0}};
                    c_t <= {TW{1'b0}};
                    if (!c_pass) begin
                        vany <= {V{1'b0}};
                        dec_gneed <= {R{1'b0}};
                        dec_xneed <= {XB{1'b0}};
                        dec_cnt <= {(SW+1){1'b0}};
                        c_state <= C_DROW;
                    end else begin
                        c_state <= C_FSET;
                    end
                end
                C_DROW: begin
                    if (dec_cnt[SW]) begin    // the last row is being decided
                        dec_cnt <= {(SW+1){1'b0}};
                        c_state <= C_DAGG;
                    end else begin
                        dec_cnt <= dec_cnt + 1'b1;
                    end
                end
                C_DAGG: begin
                    vany[c_v] <= |unconf;
                    dec_gneed[{c_u, {SW{1'b0}}} +: S] <= dec_gneed[{c_u, {SW{1'b0}}} +: S] | rows_of(unconf);
                    dec_xneed[{c_t, {SW{1'b0}}} +: S] <= dec_xneed[{c_t, {SW{1'b0}}} +: S] | cols_of(unconf);
                    if (!c_vnext[VW]) begin
                        {c_u, c_t} <= c_vnext[VW-1:0];
                        c_state <= C_DROW;
                    end else begin
                        c_state <= C_DEND;
                    end
                end
                C_DEND: begin
                    dec_valid <= 1'b1;
                    c_u <= {UW{1'b0}};
                    c_t <= {TW{1'b0}};
                    if (g_done)
                        c_gs <= !c_gs;
                    if (dec_recompute) begin
                        c_pass <= 1'b1;
                        c_state <= C_GWAIT;
                    end else begin
                        c_state <= C_FSET;
                    end
                end
                C_FSET: if (!res_valid) begin
                    if (!c_fin_last_t) begin
                        c_t <= c_t + 1'b1;
                    end else if (!c_fin_last_u) begin
                        c_t <= {TW{1'b0}};
                        c_u <= c_u + 1'b1;
                    end else begin
                        c_state <= C_BEND;
                    end
                end
                C_BEND: begin
                    c_p0 <= 21'd0;
                    c_pass <= 1'b0;
                    c_u <= {UW{1'b0}};
                    c_t <= {TW{1'b0}};
                    if (!c_last_kb) begin
                        c_k0 <= c_k0 + XB17;
                        c_state <= C_GWAIT;
                    end else if (!c_last_nb) begin
                        c_k0 <= 17'd0;
                        c_n0 <= c_n0 + R17;
                        c_npar <= !c_npar;
                        c_orow <= c_orow + o_bstride;
                        c_state <= C_GWAIT;
                    end else begin
                        c_state <= C_END;
                    end
                end
                default: ;
            endcase
        end
    end

    // =====================================================================================
    // PE array
    // =====================================================================================
    // msb4 = clamp((x + 8) >> 4, lo, hi) with an arithmetic shift (e2train.quant), as 10-bit signed
    function signed [9:0] msb4(input [7:0] x, input xs);
        reg signed [9:0] x_ext, x_rnd;
        begin
            x_ext = xs ? {{2{x[7]}}, x} : {2'b00, x};
            x_rnd = (x_ext + 10'sd8) >>> 4;
            if (xs)
                msb4 = (x_rnd < -10'sd8) ? -10'sd8 : ((x_rnd > 10'sd7) ? 10'sd7 : x_rnd);
            else
                msb4 = (x_rnd > 10'sd15) ? 10'sd15 : x_rnd;
        end
    endfunction


    // prediction operands: G[n0+i][p] is the same for a whole PE row, msb4(X[k0+j][p]) for a column
    wire [S*16-1:0] g_pred_rows;
    wire [S*10-1:0] xm_pred_cols;
    genvar go;
    generate
        for (go = 0; go < S; go = go + 1) begin : g_pred_ops
            assign g_pred_rows[16 * go +: 16] = gq[S * 16 * go + 16 * s1_elem +: 16];
            assign xm_pred_cols[10 * go +: 10] = msb4(xq[S * 8 * go + 8 * s1_elem +: 8], x_signed);
        end
    endgenerate

    // decision, one subtile row at a time: the row's partial sums go to S comparators shared by all rows
    wire [S*48-1:0] dec_row_sums;
    wire [S-1:0] conf_cols;
    genvar gq2;
    generate
        for (gq2 = 0; gq2 < S; gq2 = gq2 + 1) begin : g_dec_row
            assign dec_row_sums[48 * gq2 +: 48] = pe_sum[{dec_cnt[SW-1:0], {SW{1'b0}}} | gq2];
        end
    endgenerate
    e2_psg_decide #(.S(S), .SW(SW)) u_decide (
        .clk(clk), .clear(rst || init), .load(dec_load), .row(dec_cnt[SW-1:0]), .sums(dec_row_sums),
        .tau(tau), .cap(dec_cap), .cap_row(dec_cap_row), .confident(conf_cols));

    wire [S*S*2-1:0] res_sign;       // per PE: {negative, non-zero}
    wire [S*S-1:0]   res_mask;
    wire [S*(26+SW)-1:0] colsum_flat;
    genvar gi, gj;
    generate
        for (gi = 0; gi < S; gi = gi + 1) begin : g_row
            for (gj = 0; gj < S; gj = gj + 1) begin : g_pe
                // prediction: G[row i][p] x msb4(X[column j][p]); recompute lane i of column j:
                // G[row r_j][lane i] x X[column j][lane i]
                localparam integer PEI = gi * S + gj;
                localparam [SW-1:0] GI = gi[SW-1:0];
                wire [SW-1:0] grow = s1_rows[SW * gj +: SW];
                wire r_neg, r_nz;
                e2_psg_pe #(.V(V), .VW(VW), .SW(SW)) u_pe (
                    .clk(clk), .s1_valid(s1_valid), .s1_pred(s1_pred), .x_signed(x_signed),
                    .g_pred(g_pred_rows[16 * gi +: 16]), .xm_pred(xm_pred_cols[10 * gj +: 10]),
                    .g_rec(gq[S * 16 * grow + 16 * gi +: 16]), .x_rec(xq[S * 8 * gj + 8 * gi +: 8]),
                    .acc_pred(acc_pred), .acc_rec(acc_rec), .acc_first(acc_first), .acc_keep(acc_keep),
                    .s2_zero(s2_zero), .mine(s3_on[gj] && (s3_rows[SW * gj +: SW] == GI)),
                    .colsum(colsum_flat[(26+SW) * gj +: 26+SW]),
                    .wb_en(wb_en), .acc_v(acc_v), .dec_clear(dec_clear), .c_v(c_v), .sum_rv(sum_rv),
                    .dec_cap(dec_cap && dec_cap_row == GI), .valid(c_rowv[gi] && c_colv[gj]),
                    .confident(conf_cols[gj]), .fin_now(fin_now),
                    .prod(pe_prod[PEI]), .sum_q(pe_sum[PEI]), .unconf(unconf[PEI]),
                    .r_neg(r_neg), .r_nz(r_nz), .r_mask(res_mask[PEI]));
                assign res_sign[2 * PEI +: 2] = {r_neg, r_nz};
            end
        end
    endgenerate

    // column adder trees (recompute): sum of the S lane products of each column
    function signed [25+SW:0] column_sum(input [S*26-1:0] prods);
        integer r;
        begin
            column_sum = {(26+SW){1'b0}};
            for (r = 0; r < S; r = r + 1)
                column_sum = column_sum + {{SW{prods[26 * r + 25]}}, prods[26 * r +: 26]};
        end
    endfunction
    genvar gc;
    generate
        for (gc = 0; gc < S; gc = gc + 1) begin : g_col
            reg signed [25+SW:0] colsum_r;
            wire [S*26-1:0] col_prods;
            genvar gr;
            for (gr = 0; gr < S; gr = gr + 1) begin : g_lane
                assign col_prods[26 * gr +: 26] = pe_prod[gr * S + gc];
            end
            always @(posedge clk) begin
                if (s2_valid && !s2_pred)
                    colsum_r <= column_sum(col_prods);
            end
            assign colsum_flat[(26 + SW) * gc +: 26 + SW] = colsum_r;
        end
    endgenerate

    // =====================================================================================
    // drain: per subtile row, one segment of signs and one of mask bytes
    // =====================================================================================
    e2_psg_drain #(.S(S), .SW(SW), .AW(AW), .LENW(LENW), .OWORDS(OWORDS)) u_drain (
        .clk(clk), .clear(rst || init), .load(fin_now), .rows(c_rv), .cols(c_cv),
        .offset(c_orow + o_ustride * {{(AW-UW){1'b0}}, c_u} + {{(AW-17){1'b0}}, c_k0} +
                {{(AW-TW-SW){1'b0}}, c_t, {SW{1'b0}}}),
        .row_stride(k_stride), .s_base(s_base), .m_base(m_base), .signs(res_sign), .masks(res_mask),
        .busy(res_valid),
        .wr_cmd_valid(wq_cmd_in_valid), .wr_cmd_ready(wq_cmd_in_ready), .wr_cmd(wq_cmd_in),
        .wr_dat_valid(wq_dat_in_valid), .wr_dat_ready(wq_dat_in_ready), .wr_dat(wq_dat_in)
    );

    // =====================================================================================
    // completion and counters
    // =====================================================================================
    assign run_done = (c_state == C_END) && !res_valid && (ld_state == LD_END) && axi_idle;
    wire [2*SW+1:0] macs_pred = c_rv[SW:0] * c_cv[SW:0];
    wire [2*SW+1:0] macs_rec = st_count * c_lanes;
    wire mem_wait = ((c_state == C_GWAIT) && !g_ready[c_gslot]) || ((c_state == C_XWAIT) && !x_ready[c_xs]) ||
                    ((c_state == C_FSET) && res_valid) || (c_state == C_END);

    assign core_stall = (state == S_RUN) && mem_wait;
    assign core_macs = pred_issue ? macs_pred : rec_issue ? macs_rec : {MACW{1'b0}};

    // recomputed decisions, counted like the shell's counters: cleared at start, frozen while idle
    always @(posedge clk) begin
        if (rst || (state == S_IDLE && core_start))
            recomp_r <= 32'd0;
        else if (state != S_IDLE && c_state == C_DAGG)
            recomp_r <= recomp_r + {{(31-2*SW){1'b0}}, dec_total};
    end

    // argument bits and words the design does not need
    wire unused_ok = &{1'b0, args,
                       dim_n32[31:16], dim_k32[31:16], dim_p32[31:21],
                       x_base64, g_base64, s_base64, m_base64, c_rv[16:SW+1], c_cv[16:SW+1],
                       ld_clen[20], c_nw[20:WPBW+1], c_wlanes_rem, ld_tcount[16:VW+1],
                       ld_tfirst[VW:TW], c_tfirst[VW:TW], c_ufirst[VW:UW]};
endmodule

`default_nettype wire
