// e2_axi_wr: AXI4 write engine for byte-addressed segments.
//
// The mirror of e2_axi_rd: a command names `len` bytes at any byte address, the data arrive as
// packed 64-bit words (word w = segment bytes 8w..8w+7) and the engine shifts them onto the
// bus lanes with byte strobes, in INCR bursts of at most MAXB beats that never cross 4 KiB.
// Why: output rows (a row of C, a row of signs or mask bytes) start at arbitrary byte offsets
// and must not clobber their neighbours.  `idle` waits for every write response, so a kernel
// reports ap_done only when its results are in memory.
`default_nettype none

module e2_axi_wr #(
    parameter AW = 64,
    parameter LENW = 20,
    parameter MAXB = 16,
    parameter SEGQ_LOG2 = 3
) (
    input  wire             clk,
    input  wire             rst,
    input  wire             cmd_valid,
    output wire             cmd_ready,
    input  wire [AW-1:0]    cmd_addr,
    input  wire [LENW-1:0]  cmd_len,      // bytes, >= 1
    input  wire             in_valid,
    output wire             in_ready,
    input  wire [63:0]      in_data,
    output wire             idle,
    output wire [3:0]       bytes_now,    // bytes written (strobes) this cycle
    // AXI4 write channels
    output wire [AW-1:0]    m_axi_awaddr,
    output wire [7:0]       m_axi_awlen,
    output wire             m_axi_awvalid,
    input  wire             m_axi_awready,
    output wire [63:0]      m_axi_wdata,
    output wire [7:0]       m_axi_wstrb,
    output wire             m_axi_wlast,
    output wire             m_axi_wvalid,
    input  wire             m_axi_wready,
    input  wire             m_axi_bvalid,
    output wire             m_axi_bready
);
    // descriptor: offset (3), beats, words, end lane of the last beat (3)
    localparam SEGW = 3 + LENW + LENW + 3;

    // ------------------------------------------------------------ address side
    reg             aw_busy;
    reg [AW-1:0]    aw_addr;
    reg [LENW-1:0]  aw_left;

    wire [LENW+3:0] cmd_span = {4'd0, cmd_len} + {{(LENW+1){1'b0}}, cmd_addr[2:0]} + 7;
    wire [LENW-1:0] cmd_beats = cmd_span[LENW+2:3];
    wire [LENW+3:0] cmd_wspan = {4'd0, cmd_len} + 7;
    wire [LENW-1:0] cmd_words = cmd_wspan[LENW+2:3];
    wire [2:0] cmd_end_lane = cmd_addr[2:0] + cmd_len[2:0] - 3'd1;

    wire seg_in_ready;
    wire bl_in_ready;
    assign cmd_ready = !aw_busy && seg_in_ready;
    wire seg_fire = cmd_valid && cmd_ready;

    wire [9:0] to_4k = 10'd512 - {1'b0, aw_addr[11:3]};
    localparam [LENW-1:0] MAXB_L = MAXB[LENW-1:0];
    wire [LENW-1:0] lim_a = (aw_left > MAXB_L) ? MAXB_L : aw_left;
    wire [LENW-1:0] blen = ({{(LENW > 10 ? LENW - 10 : 0){1'b0}}, to_4k} < lim_a) ?
                           {{(LENW > 10 ? LENW - 10 : 0){1'b0}}, to_4k} : lim_a;

    assign m_axi_awaddr = aw_addr;
    assign m_axi_awlen = blen[7:0] - 8'd1;
    assign m_axi_awvalid = aw_busy && bl_in_ready;
    wire aw_fire = m_axi_awvalid && m_axi_awready;

    reg [15:0] outstanding;   // bursts whose write response has not arrived
    wire b_fire = m_axi_bvalid && m_axi_bready;
    assign m_axi_bready = 1'b1;

    always @(posedge clk) begin
        if (rst) begin
            aw_busy <= 1'b0;
            aw_addr <= {AW{1'b0}};
            aw_left <= {LENW{1'b0}};
            outstanding <= 16'd0;
        end else begin
            if (seg_fire) begin
                aw_busy <= 1'b1;
                aw_addr <= {cmd_addr[AW-1:3], 3'b000};
                aw_left <= cmd_beats;
            end else if (aw_fire) begin
                aw_addr <= aw_addr + {{(AW-LENW-3){1'b0}}, blen, 3'b000};
                aw_left <= aw_left - blen;
                if (aw_left == blen)
                    aw_busy <= 1'b0;
            end
            outstanding <= outstanding + {15'd0, aw_fire} - {15'd0, b_fire};
        end
    end

    // burst lengths for WLAST, in AW order
    wire        bl_valid;
    wire [8:0]  bl_data;
    wire        bl_pop;
    wire [3:0]  bl_count;
    e2_fifo #(.WIDTH(9), .DEPTH_LOG2(3)) u_bl (
        .clk(clk), .rst(rst),
        .in_valid(aw_fire), .in_ready(bl_in_ready), .in_data(blen[8:0]),
        .out_valid(bl_valid), .out_ready(bl_pop), .out_data(bl_data), .count(bl_count)
    );

    wire             seg_valid;
    wire [SEGW-1:0]  seg_data;
    wire             seg_pop;
    wire [SEGQ_LOG2:0] seg_count;
    e2_fifo #(.WIDTH(SEGW), .DEPTH_LOG2(SEGQ_LOG2)) u_seg (
        .clk(clk), .rst(rst),
        .in_valid(seg_fire), .in_ready(seg_in_ready),
        .in_data({cmd_addr[2:0], cmd_beats, cmd_words, cmd_end_lane}),
        .out_valid(seg_valid), .out_ready(seg_pop), .out_data(seg_data), .count(seg_count)
    );
    wire [2:0]      s_off   = seg_data[3 + 2*LENW +: 3];
    wire [LENW-1:0] s_beats = seg_data[3 + LENW +: LENW];
    wire [LENW-1:0] s_words = seg_data[3 +: LENW];
    wire [2:0]      s_end   = seg_data[2:0];

    // ------------------------------------------------------------ data side
    reg [LENW-1:0] bcnt;      // beats sent in this segment
    reg [8:0]      bbeat;     // beats sent in this burst
    reg [63:0]     prev;      // previous data word of this segment (0 before the first)

    wire need_word = (bcnt < s_words);
    wire first_beat = (bcnt == {LENW{1'b0}});
    wire last_beat = (bcnt == s_beats - 1'b1);
    wire [63:0] cur = need_word ? in_data : 64'd0;
    // lane l of beat b carries segment byte 8b + l - off
    wire [127:0] pair = {cur, prev};
    wire [63:0] lanes = pair[{(4'd8 - {1'b0, s_off}), 3'b000} +: 64];
    wire [7:0] strb_lo = first_beat ? (8'hFF << s_off) : 8'hFF;
    wire [7:0] strb_hi = last_beat ? (8'hFF >> (3'd7 - s_end)) : 8'hFF;

    assign m_axi_wvalid = seg_valid && bl_valid && (!need_word || in_valid);
    assign m_axi_wdata = lanes;
    assign m_axi_wstrb = strb_lo & strb_hi;
    assign m_axi_wlast = (bbeat == bl_data - 1'b1);
    assign in_ready = seg_valid && bl_valid && need_word && m_axi_wready;
    wire w_fire = m_axi_wvalid && m_axi_wready;
    assign bl_pop = w_fire && m_axi_wlast;
    assign seg_pop = w_fire && last_beat;

    always @(posedge clk) begin
        if (rst) begin
            bcnt <= {LENW{1'b0}};
            bbeat <= 9'd0;
            prev <= 64'd0;
        end else if (w_fire) begin
            if (last_beat) begin
                bcnt <= {LENW{1'b0}};
                prev <= 64'd0;
            end else begin
                bcnt <= bcnt + 1'b1;
                prev <= cur;
            end
            bbeat <= m_axi_wlast ? 9'd0 : bbeat + 9'd1;
        end
    end

    wire [7:0] strb_now = w_fire ? m_axi_wstrb : 8'd0;
    assign bytes_now = {3'd0, strb_now[0]} + {3'd0, strb_now[1]} + {3'd0, strb_now[2]} +
                       {3'd0, strb_now[3]} + {3'd0, strb_now[4]} + {3'd0, strb_now[5]} +
                       {3'd0, strb_now[6]} + {3'd0, strb_now[7]};

    assign idle = !aw_busy && !seg_valid && !bl_valid && (outstanding == 16'd0);

    wire unused_ok = &{1'b0, bl_count, seg_count, cmd_span[LENW+3], cmd_span[2:0],
                       cmd_wspan[LENW+3], cmd_wspan[2:0]};
endmodule

`default_nettype wire
