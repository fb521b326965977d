// e2_psg_pe: one processing element of e2_psg_wgrad's S x S array, owning entry (row i, column j)
// of the subtile being worked on.
//
// What it holds (why in the PE): the 48-bit accumulator of the current subtile, and the partial
// sums of its entry in every one of the block's V subtiles (a small distributed RAM, read
// asynchronously), so that operands can be streamed chunk by chunk of P whatever P is; and the
// decision bits per subtile (unconfident, sign of Pr) that select the sign it outputs.
//  * Prediction: prod = G x msb4(X) (operands shared along its row and column), added to acc.
//  * Recompute: prod = G x X of this PE's lane; the column's adder tree sums the S lanes outside the
//    PE, and the PE whose entry the column works on (mine) adds that column sum.
//  * The product and the sums are updated in the clocked block (functions, not continuous logic), so
//    that event-driven simulators do not re-evaluate them on every intermediate change.
// Parameters: V subtiles per block, VW = $clog2(V), SW = $clog2(S).
`default_nettype none

module e2_psg_pe #(
    parameter V = 16,
    parameter VW = 4,
    parameter SW = 3
) (
    input  wire                    clk,
    // multiply (pipeline stage 1)
    input  wire                    s1_valid,
    input  wire                    s1_pred,       // 1: prediction, 0: recompute lane
    input  wire                    x_signed,
    input  wire [15:0]             g_pred,        // G of this PE's row (prediction)
    input  wire [9:0]              xm_pred,       // msb4(X) of this PE's column (prediction)
    input  wire [15:0]             g_rec,         // G of the column's recompute row, this lane
    input  wire [7:0]              x_rec,         // X of this column, this lane
    // accumulate
    input  wire                    acc_pred,
    input  wire                    acc_rec,
    input  wire                    acc_first,     // first cycle of a run: start from the stored sum
    input  wire                    acc_keep,      // the accumulator already holds that subtile
    input  wire                    s2_zero,       // the run starts a fresh sum
    input  wire                    mine,          // recompute: this column's step is this entry
    input  wire signed [25+SW:0]   colsum,        // recompute: the column's sum of lane products
    // partial sums per subtile
    input  wire                    wb_en,         // write the accumulator back to subtile acc_v
    input  wire [VW-1:0]           acc_v,
    input  wire                    dec_clear,     // clear subtile c_v's sum (it will hold F)
    input  wire [VW-1:0]           c_v,
    input  wire [VW-1:0]           sum_rv,        // the subtile whose sum sum_q shows
    // decision and result
    input  wire                    dec_cap,       // capture the decision of subtile c_v (this row)
    input  wire                    valid,         // the entry lies inside the matrices
    input  wire                    confident,     // |16 * Pr| >= TAU for this entry
    input  wire                    fin_now,       // register the result of subtile c_v
    output reg  signed [25:0]      prod,
    output wire [47:0]             sum_q,
    output wire                    unconf,        // subtile c_v: the entry needs recomputing
    output reg                     r_neg,
    output reg                     r_nz,
    output reg                     r_mask
);
    initial begin
        if (V < 2 || VW < 1 || (1 << VW) < V || SW < 1)
            $fatal(1, "e2_psg_pe: V = %0d subtiles need VW = %0d >= $clog2(V) bits; SW = %0d must be >= 1", V, VW, SW);
    end

    // G x msb4(X) (prediction) or G x X (recompute lane)
    function signed [25:0] pe_mul(input pred, input xs, input [15:0] gp, input [15:0] gr,
                                  input [9:0] xm, input [7:0] xr);
        reg signed [9:0] x_op;
        reg signed [15:0] g_op;
        begin
            x_op = pred ? xm : (xs ? {{2{xr[7]}}, xr} : {2'b00, xr});
            g_op = pred ? gp : gr;
            pe_mul = g_op * x_op;
        end
    endfunction

    reg signed [47:0] acc;
    reg [47:0] sums [0:V-1];
    reg [V-1:0] unc_m, pneg_m, pnz_m;
    assign sum_q = sums[sum_rv];
    assign unconf = unc_m[c_v];

    wire signed [47:0] base = (!acc_first || acc_keep) ? acc :
                              ((acc_pred && s2_zero) ? 48'sd0 : $signed(sum_q));
    wire signed [47:0] addend = acc_pred ? {{22{prod[25]}}, prod} :
                                (mine ? {{(48-26-SW){colsum[25+SW]}}, colsum} : 48'sd0);

    always @(posedge clk) begin
        if (s1_valid)
            prod <= pe_mul(s1_pred, x_signed, g_pred, g_rec, xm_pred, x_rec);
        // one adder: prediction adds the product, recompute adds the column sum
        if (acc_pred || acc_rec)
            acc <= base + addend;
        if (wb_en)
            sums[acc_v] <= acc;
        else if (dec_clear)
            sums[c_v] <= 48'd0;
        if (dec_cap) begin
            unc_m[c_v] <= valid && !confident;
            pneg_m[c_v] <= sum_q[47];
            pnz_m[c_v] <= (sum_q != 48'd0);
        end
        if (fin_now) begin
            r_neg <= unc_m[c_v] ? sum_q[47] : pneg_m[c_v];
            r_nz <= unc_m[c_v] ? (sum_q != 48'd0) : pnz_m[c_v];
            r_mask <= unc_m[c_v];
        end
    end
endmodule

`default_nettype wire
