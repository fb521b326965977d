// e2_fifo: small synchronous first-word-fall-through FIFO.
//
// Why: decouples the kernels' sequencers from the AXI channels (segment descriptors, burst
// lengths, write data) so that each side can run at one item per cycle with back-pressure.
// Storage is a register array (maps to distributed RAM / flip-flops for the small depths used).
`default_nettype none

module e2_fifo #(
    parameter WIDTH = 8,
    parameter DEPTH_LOG2 = 2
) (
    input  wire                  clk,
    input  wire                  rst,        // synchronous, active high
    input  wire                  in_valid,
    output wire                  in_ready,
    input  wire [WIDTH-1:0]      in_data,
    output wire                  out_valid,
    input  wire                  out_ready,
    output wire [WIDTH-1:0]      out_data,
    output wire [DEPTH_LOG2:0]   count
);
    localparam DEPTH = 1 << DEPTH_LOG2;

    reg [WIDTH-1:0] mem [0:DEPTH-1];
    reg [DEPTH_LOG2:0] wr_ptr;
    reg [DEPTH_LOG2:0] rd_ptr;

    wire empty = (wr_ptr == rd_ptr);
    wire full = (wr_ptr[DEPTH_LOG2] != rd_ptr[DEPTH_LOG2]) &&
                (wr_ptr[DEPTH_LOG2-1:0] == rd_ptr[DEPTH_LOG2-1:0]);

    assign in_ready = !full;
    assign out_valid = !empty;
    assign out_data = mem[rd_ptr[DEPTH_LOG2-1:0]];
    assign count = wr_ptr - rd_ptr;

    always @(posedge clk) begin
        if (in_valid && !full)
            mem[wr_ptr[DEPTH_LOG2-1:0]] <= in_data;
    end

    always @(posedge clk) begin
        if (rst) begin
            wr_ptr <= {(DEPTH_LOG2+1){1'b0}};
            rd_ptr <= {(DEPTH_LOG2+1){1'b0}};
        end else begin
            if (in_valid && !full)
                wr_ptr <= wr_ptr + 1'b1;
            if (out_ready && !empty)
                rd_ptr <= rd_ptr + 1'b1;
        end
    end
endmodule

`default_nettype wire
