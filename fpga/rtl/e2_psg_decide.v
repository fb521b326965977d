// e2_psg_decide: psg_wgrad's decision unit.  The prediction's partial sums Pr of one subtile row (S
// entries, exact 48-bit two's complement) are registered, and in the next cycle S comparators say
// which entries are confident: |16 * Pr| >= TAU, where 16 * Pr is the MSB-predicted product's value
// (msb4 codes stand for 16 times themselves).  An unconfident entry is recomputed at full precision.
//
// Why S comparators for S x S entries: the sequencer decides one subtile row per cycle (S + 1 cycles
// per subtile, a small share of the prediction's P cycles), so the 64-bit comparators are shared by
// the rows instead of sitting in every PE.  `cap` / `cap_row` say which row `confident` belongs to.
// TAU = 0 makes every entry confident (never recompute); TAU = 2**64 - 1 none (always full), since
// |16 * Pr| < 2**52.
// Parameters: S a power of two >= 2, SW = $clog2(S).
`default_nettype none

module e2_psg_decide #(
    parameter S = 8,
    parameter SW = 3
) (
    input  wire            clk,
    input  wire            clear,        // reset, or a new run's setup
    input  wire            load,         // register the sums of row `row`
    input  wire [SW-1:0]   row,
    input  wire [S*48-1:0] sums,         // that row's Pr, column j at bits 48 j
    input  wire [63:0]     tau,
    output reg             cap,          // `confident` holds the decision of row `cap_row` now
    output reg  [SW-1:0]   cap_row,
    output wire [S-1:0]    confident
);
    initial begin
        if (S < 2 || (1 << SW) != S)
            $fatal(1, "e2_psg_decide: S = %0d must be a power of two >= 2 and SW = %0d its log2", S, SW);
    end

    reg [S*48-1:0] held;

    always @(posedge clk) begin
        if (clear) begin
            cap <= 1'b0;
            cap_row <= {SW{1'b0}};
        end else begin
            cap <= load;
            cap_row <= row;
            if (load)
                held <= sums;
        end
    end

    // |16 * Pr| >= TAU
    function is_confident(input [47:0] a, input [63:0] t);
        reg [47:0] mag;
        begin
            mag = a[47] ? (~a + 48'd1) : a;
            is_confident = ({12'd0, mag, 4'b0000} >= t);
        end
    endfunction

    genvar gj;
    generate
        for (gj = 0; gj < S; gj = gj + 1) begin : g_cmp
            assign confident[gj] = is_confident(held[48 * gj +: 48], tau);
        end
    endgenerate
endmodule

`default_nettype wire
