// e2_axi_rd: AXI4 read engine for byte-addressed segments.
//
// A command asks for `len` bytes starting at any byte address.  The engine splits it into INCR
// bursts (at most MAXB beats, never across a 4 KiB boundary, 64-bit beats) and returns the
// segment as realigned 64-bit words: word w holds segment bytes 8w..8w+7, bytes past the end are
// zero.  Why: operand rows (a row of A, a K-row slice of B, a row of G or X) start at arbitrary
// byte offsets when the matrix dimensions are not multiples of 8, and the kernels want them
// packed from byte 0.  Several segments may be outstanding (SEGQ_LOG2), so address and data
// phases overlap; data come back in order (single ID), tagged with the command's tag.
`default_nettype none

module e2_axi_rd #(
    parameter AW = 64,
    parameter LENW = 20,
    parameter TAGW = 16,
    parameter MAXB = 16,
    parameter SEGQ_LOG2 = 3
) (
    input  wire             clk,
    input  wire             rst,
    // segment commands
    input  wire             cmd_valid,
    output wire             cmd_ready,
    input  wire [AW-1:0]    cmd_addr,
    input  wire [LENW-1:0]  cmd_len,      // bytes, >= 1
    input  wire [TAGW-1:0]  cmd_tag,
    // realigned words
    output wire             out_valid,
    input  wire             out_ready,
    output wire [63:0]      out_data,
    output wire [TAGW-1:0]  out_tag,
    output wire             out_last,     // last word of its segment
    output wire             idle,
    output wire             beat,         // one R beat (8 bytes) accepted this cycle
    // AXI4 read address / data channels
    output wire [AW-1:0]    m_axi_araddr,
    output wire [7:0]       m_axi_arlen,
    output wire             m_axi_arvalid,
    input  wire             m_axi_arready,
    input  wire [63:0]      m_axi_rdata,
    input  wire             m_axi_rlast,
    input  wire             m_axi_rvalid,
    output wire             m_axi_rready
);
    // descriptor: tag, offset (3), beats (LENW), words (LENW), last-word byte count (3)
    localparam SEGW = TAGW + 3 + LENW + LENW + 3;

    // ------------------------------------------------------------ address side
    reg             ar_busy;
    reg [AW-1:0]    ar_addr;
    reg [LENW-1:0]  ar_left;

    wire [LENW+3:0] cmd_span = {4'd0, cmd_len} + {{(LENW+1){1'b0}}, cmd_addr[2:0]} + 7;
    wire [LENW-1:0] cmd_beats = cmd_span[LENW+2:3];
    wire [LENW+3:0] cmd_wspan = {4'd0, cmd_len} + 7;
    wire [LENW-1:0] cmd_words = cmd_wspan[LENW+2:3];

    wire seg_in_ready;
    wire seg_fire = cmd_valid && cmd_ready;
    assign cmd_ready = !ar_busy && seg_in_ready;

    // beats left before the next 4 KiB boundary (1..512)
    wire [9:0] to_4k = 10'd512 - {1'b0, ar_addr[11:3]};
    localparam [LENW-1:0] MAXB_L = MAXB[LENW-1:0];
    wire [LENW-1:0] lim_a = (ar_left > MAXB_L) ? MAXB_L : ar_left;
    wire [LENW-1:0] blen = ({{(LENW > 10 ? LENW - 10 : 0){1'b0}}, to_4k} < lim_a) ?
                           {{(LENW > 10 ? LENW - 10 : 0){1'b0}}, to_4k} : lim_a;

    assign m_axi_araddr = ar_addr;
    assign m_axi_arlen = blen[7:0] - 8'd1;
    assign m_axi_arvalid = ar_busy;

    always @(posedge clk) begin
        if (rst) begin
            ar_busy <= 1'b0;
            ar_addr <= {AW{1'b0}};
            ar_left <= {LENW{1'b0}};
        end else if (seg_fire) begin
            ar_busy <= 1'b1;
            ar_addr <= {cmd_addr[AW-1:3], 3'b000};
            ar_left <= cmd_beats;
        end else if (ar_busy && m_axi_arready) begin
            ar_addr <= ar_addr + {{(AW-LENW-3){1'b0}}, blen, 3'b000};
            ar_left <= ar_left - blen;
            if (ar_left == blen)
                ar_busy <= 1'b0;
        end
    end

    // ------------------------------------------------------------ segment descriptors
    wire             seg_valid;
    wire [SEGW-1:0]  seg_data;
    wire             seg_pop;
    wire [SEGQ_LOG2:0] seg_count;
    e2_fifo #(.WIDTH(SEGW), .DEPTH_LOG2(SEGQ_LOG2)) u_seg (
        .clk(clk), .rst(rst),
        .in_valid(seg_fire), .in_ready(seg_in_ready),
        .in_data({cmd_tag, cmd_addr[2:0], cmd_beats, cmd_words, cmd_len[2:0]}),
        .out_valid(seg_valid), .out_ready(seg_pop), .out_data(seg_data), .count(seg_count)
    );
    wire [TAGW-1:0] s_tag   = seg_data[SEGW-1 -: TAGW];
    wire [2:0]      s_off   = seg_data[3 + 2*LENW +: 3];
    wire [LENW-1:0] s_beats = seg_data[3 + LENW +: LENW];
    wire [LENW-1:0] s_words = seg_data[3 +: LENW];
    wire [2:0]      s_lastb = seg_data[2:0];

    // ------------------------------------------------------------ data side
    reg [LENW-1:0] bcnt;     // beats received in this segment
    reg [LENW-1:0] wcnt;     // words emitted in this segment
    reg [63:0]     prev;
    reg            flush;    // one more word to emit from `prev`, no beat needed

    wire oq_ready;
    wire r_fire = m_axi_rvalid && m_axi_rready;
    wire last_beat = (bcnt == s_beats - 1'b1);
    // With a non-zero offset, beat 0 only primes `prev`; every later beat completes one word.
    wire beat_emits = (s_off == 3'd0) || (bcnt != {LENW{1'b0}});
    wire need_flush = (s_off != 3'd0) && (s_words == s_beats);

    assign m_axi_rready = seg_valid && !flush && oq_ready;
    assign beat = r_fire;

    // realignment: word = bytes [off .. off+7] of the concatenation {rdata, prev}
    wire [127:0] pair = flush ? {64'd0, prev} : {m_axi_rdata, prev};
    wire [63:0] shifted = (s_off == 3'd0) ? m_axi_rdata : pair[{1'b0, s_off, 3'b000} +: 64];
    wire word_is_last = (wcnt == s_words - 1'b1);
    // zero the bytes past the end of the segment in its last word
    wire [63:0] keep = (word_is_last && s_lastb != 3'd0) ? ~({64{1'b1}} << {s_lastb, 3'b000}) : {64{1'b1}};
    wire emit = flush || (r_fire && beat_emits);

    assign seg_pop = (flush && oq_ready) || (r_fire && last_beat && !need_flush);

    always @(posedge clk) begin
        if (rst) begin
            bcnt <= {LENW{1'b0}};
            wcnt <= {LENW{1'b0}};
            prev <= 64'd0;
            flush <= 1'b0;
        end else begin
            if (r_fire) begin
                prev <= m_axi_rdata;
                if (last_beat) begin
                    bcnt <= {LENW{1'b0}};
                    if (need_flush)
                        flush <= 1'b1;
                end else begin
                    bcnt <= bcnt + 1'b1;
                end
            end
            if (emit && (flush ? oq_ready : 1'b1)) begin
                if (word_is_last)
                    wcnt <= {LENW{1'b0}};
                else
                    wcnt <= wcnt + 1'b1;
            end
            if (flush && oq_ready)
                flush <= 1'b0;
        end
    end

    wire [3:0] oq_count;
    e2_fifo #(.WIDTH(TAGW + 1 + 64), .DEPTH_LOG2(3)) u_out (
        .clk(clk), .rst(rst),
        .in_valid(emit), .in_ready(oq_ready),
        .in_data({s_tag, word_is_last, shifted & keep}),
        .out_valid(out_valid), .out_ready(out_ready),
        .out_data({out_tag, out_last, out_data}), .count(oq_count)
    );

    assign idle = !ar_busy && !seg_valid && !out_valid;

    // m_axi_rlast is implied by the beat count; it is accepted but not needed.
    wire unused_ok = &{1'b0, m_axi_rlast, seg_count, oq_count, cmd_span[LENW+3], cmd_span[2:0],
                       cmd_wspan[LENW+3], cmd_wspan[2:0]};
endmodule

`default_nettype wire
