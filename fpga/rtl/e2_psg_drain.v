// e2_psg_drain: psg_wgrad's result drain.  A finished subtile (up to S x S entries, held by the PEs'
// result registers until the next subtile finishes) leaves as two write segments per row: first the
// row's sign bytes (-1, 0 or +1 as int8), then its recompute-mask bytes (0 or 1), each `cols` bytes
// long at `s_base` / `m_base` plus the row's offset.  Rows are `row_stride` apart in the outputs.
//
// Why its own module: the drain only needs the result registers, the subtile's place and the write
// port, and it runs while the array already works on the next subtile; `busy` (a subtile is loaded and
// not yet fully written) is all the sequencer waits on before it finishes the next one.
// Handshake: a segment's command and its first data word go out in the same cycle (both ready), the
// following words of the segment one per accepted cycle.
// Parameters: S <= 64 (a row segment fits 8 words), SW = $clog2(S), OWORDS = ceil(S / 8).
`default_nettype none

module e2_psg_drain #(
    parameter S = 8,
    parameter SW = 3,
    parameter AW = 64,
    parameter LENW = 20,
    parameter OWORDS = 1
) (
    input  wire               clk,
    input  wire               clear,         // reset, or a new run's setup
    input  wire               load,          // a subtile finished: its results are in signs / masks
    input  wire [16:0]        rows,          // its valid rows (1..S) and columns (1..S)
    input  wire [16:0]        cols,
    input  wire [AW-1:0]      offset,        // output offset of its first row
    input  wire [AW-1:0]      row_stride,    // K: from one output row to the next
    input  wire [AW-1:0]      s_base,
    input  wire [AW-1:0]      m_base,
    input  wire [S*S*2-1:0]   signs,         // per PE: {negative, non-zero}
    input  wire [S*S-1:0]     masks,         // per PE: recomputed
    output reg                busy,
    output wire               wr_cmd_valid,
    input  wire               wr_cmd_ready,
    output wire [AW+LENW-1:0] wr_cmd,        // {address, length in bytes}
    output wire               wr_dat_valid,
    input  wire               wr_dat_ready,
    output wire [63:0]        wr_dat
);
    initial begin
        if (S < 2 || S > 64 || (1 << SW) != S || OWORDS != (S + 7) / 8)
            $fatal(1, "e2_psg_drain: S = %0d must be a power of two in 2..64 with SW = log2(S) = %0d and OWORDS = %0d",
                   S, SW, OWORDS);
    end

    reg [16:0]   res_rows, res_cols;
    reg [AW-1:0] res_soff;           // offset of the current row
    reg [SW:0]   dr_row;
    reg          dr_sel;             // 0: signs, 1: mask
    reg [2:0]    dr_word;
    wire [S*2-1:0] dr_signs = signs[2 * S * dr_row[SW-1:0] +: 2 * S];
    wire [S-1:0]   dr_masks = masks[S * dr_row[SW-1:0] +: S];
    reg [OWORDS*64-1:0] dr_bytes;
    integer db;
    always @(*) begin
        dr_bytes = {(OWORDS*64){1'b0}};
        for (db = 0; db < S; db = db + 1) begin
            // lanes past the tile edge belong to no output (their PEs saw stale rows): send zeros
            if (db >= res_cols)
                dr_bytes[8 * db +: 8] = 8'h00;
            else if (dr_sel)
                dr_bytes[8 * db +: 8] = {7'd0, dr_masks[db]};
            else
                dr_bytes[8 * db +: 8] = dr_signs[2 * db] ? (dr_signs[2 * db + 1] ? 8'hFF : 8'h01) : 8'h00;
        end
    end
    wire [16:0] dr_words = (res_cols + 17'd7) >> 3;
    wire dr_first = (dr_word == 3'd0);
    wire dr_lastw = ({14'd0, dr_word} == dr_words - 1'b1);
    wire dr_go = busy && wr_dat_ready && (!dr_first || wr_cmd_ready);
    assign wr_dat_valid = busy && (!dr_first || wr_cmd_ready);
    assign wr_dat = dr_bytes[64 * dr_word +: 64];
    assign wr_cmd_valid = busy && dr_first && wr_dat_ready;
    assign wr_cmd = {(dr_sel ? m_base : s_base) + res_soff, {(LENW-17){1'b0}}, res_cols};

    always @(posedge clk) begin
        if (clear) begin
            busy <= 1'b0;
            res_rows <= 17'd0; res_cols <= 17'd0; res_soff <= {AW{1'b0}};
            dr_row <= {(SW+1){1'b0}}; dr_sel <= 1'b0; dr_word <= 3'd0;
        end else begin
            if (load) begin
                busy <= 1'b1;
                res_rows <= rows;
                res_cols <= cols;
                res_soff <= offset;
            end
            if (dr_go) begin
                if (!dr_lastw) begin
                    dr_word <= dr_word + 3'd1;
                end else begin
                    dr_word <= 3'd0;
                    if (!dr_sel) begin
                        dr_sel <= 1'b1;
                    end else begin
                        dr_sel <= 1'b0;
                        res_soff <= res_soff + row_stride;
                        if ({{(16-SW){1'b0}}, dr_row} == res_rows - 1'b1) begin
                            dr_row <= {(SW+1){1'b0}};
                            busy <= 1'b0;
                        end else begin
                            dr_row <= dr_row + 1'b1;
                        end
                    end
                end
            end
        end
    end

    wire unused_ok = &{1'b0, dr_words[16:3]};
endmodule

`default_nettype wire
