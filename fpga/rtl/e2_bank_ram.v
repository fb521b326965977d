// e2_bank_ram: one on-chip operand bank, 64-bit words, a write port and a registered read port.
//
// Why a module: both kernels stage operand rows in banks of this shape (gemm: its A banks; psg_wgrad:
// its G and X banks), and each used to spell the memory out inline.  Read-before-write on one address
// in one cycle returns the old word, as block RAM in READ_FIRST mode does and as the inline code did,
// so the kernels' cycle counts do not change.  Synthesis infers BRAM or LUTRAM from DEPTH.
// Parameters: DEPTH >= 2 words, AW >= $clog2(DEPTH) address bits.
`default_nettype none

module e2_bank_ram #(
    parameter DEPTH = 256,
    parameter AW = 8
) (
    input  wire          clk,
    input  wire          we,
    input  wire [AW-1:0] waddr,
    input  wire [63:0]   wdata,
    input  wire          re,
    input  wire [AW-1:0] raddr,
    output reg  [63:0]   q
);
    initial begin
        if (DEPTH < 2 || (1 << AW) < DEPTH)
            $fatal(1, "e2_bank_ram: DEPTH = %0d needs at least 2 words and AW = %0d >= $clog2(DEPTH)", DEPTH, AW);
    end

    reg [63:0] mem [0:DEPTH-1];

    always @(posedge clk) begin
        if (we)
            mem[waddr] <= wdata;
        if (re)
            q <= mem[raddr];
    end
endmodule

`default_nettype wire
