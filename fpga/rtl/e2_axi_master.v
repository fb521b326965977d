// e2_axi_master: the AXI4 master port of a kernel (m_axi_gmem, 64-bit data).
//
// Why one module: both kernels move their operands and results the same way, so the read engine,
// the write queues and the write engine, and the fixed AXI attributes (INCR bursts of 8-byte
// beats, ID 0, normal non-cacheable bufferable memory) are wired once here.  Reads: tagged
// byte-addressed segments in, realigned 64-bit words out (e2_axi_rd); the consumer always
// accepts.  Writes: a segment command {address, length in bytes} and its packed data words, each
// through a small FIFO so that the producer can run ahead of the bus (e2_axi_wr).  `idle` is
// true when nothing is queued or in flight on either side, write responses included.
`default_nettype none

module e2_axi_master #(
    parameter AW = 64,
    parameter LENW = 20,
    parameter TAGW = 4,
    parameter MAXB = 16
) (
    input  wire             clk,
    input  wire             rst,
    // read segments
    input  wire             rd_cmd_valid,
    output wire             rd_cmd_ready,
    input  wire [AW-1:0]    rd_cmd_addr,
    input  wire [LENW-1:0]  rd_cmd_len,       // bytes, >= 1
    input  wire [TAGW-1:0]  rd_cmd_tag,
    output wire             rd_out_valid,
    output wire [63:0]      rd_out_data,
    output wire [TAGW-1:0]  rd_out_tag,
    output wire             rd_out_last,      // last word of its segment
    // write segments
    input  wire             wr_cmd_valid,
    output wire             wr_cmd_ready,
    input  wire [AW+LENW-1:0] wr_cmd,         // {address, length in bytes}
    input  wire             wr_dat_valid,
    output wire             wr_dat_ready,
    input  wire [63:0]      wr_dat,
    // activity
    output wire             idle,
    output wire             rd_beat,          // a read data beat was accepted (8 bytes)
    output wire [3:0]       wr_bytes,         // bytes written by the beat accepted now
    // AXI4 master
    output wire [0:0]       m_axi_gmem_awid,
    output wire [AW-1:0]    m_axi_gmem_awaddr,
    output wire [7:0]       m_axi_gmem_awlen,
    output wire [2:0]       m_axi_gmem_awsize,
    output wire [1:0]       m_axi_gmem_awburst,
    output wire             m_axi_gmem_awlock,
    output wire [3:0]       m_axi_gmem_awcache,
    output wire [2:0]       m_axi_gmem_awprot,
    output wire [3:0]       m_axi_gmem_awqos,
    output wire             m_axi_gmem_awvalid,
    input  wire             m_axi_gmem_awready,
    output wire [63:0]      m_axi_gmem_wdata,
    output wire [7:0]       m_axi_gmem_wstrb,
    output wire             m_axi_gmem_wlast,
    output wire             m_axi_gmem_wvalid,
    input  wire             m_axi_gmem_wready,
    input  wire             m_axi_gmem_bvalid,
    output wire             m_axi_gmem_bready,
    output wire [0:0]       m_axi_gmem_arid,
    output wire [AW-1:0]    m_axi_gmem_araddr,
    output wire [7:0]       m_axi_gmem_arlen,
    output wire [2:0]       m_axi_gmem_arsize,
    output wire [1:0]       m_axi_gmem_arburst,
    output wire             m_axi_gmem_arlock,
    output wire [3:0]       m_axi_gmem_arcache,
    output wire [2:0]       m_axi_gmem_arprot,
    output wire [3:0]       m_axi_gmem_arqos,
    output wire             m_axi_gmem_arvalid,
    input  wire             m_axi_gmem_arready,
    input  wire [63:0]      m_axi_gmem_rdata,
    input  wire             m_axi_gmem_rlast,
    input  wire             m_axi_gmem_rvalid,
    output wire             m_axi_gmem_rready
);
    wire rd_idle, wr_idle;

    e2_axi_rd #(.AW(AW), .LENW(LENW), .TAGW(TAGW), .MAXB(MAXB), .SEGQ_LOG2(3)) u_rd (
        .clk(clk), .rst(rst),
        .cmd_valid(rd_cmd_valid), .cmd_ready(rd_cmd_ready), .cmd_addr(rd_cmd_addr),
        .cmd_len(rd_cmd_len), .cmd_tag(rd_cmd_tag),
        .out_valid(rd_out_valid), .out_ready(1'b1), .out_data(rd_out_data), .out_tag(rd_out_tag),
        .out_last(rd_out_last), .idle(rd_idle), .beat(rd_beat),
        .m_axi_araddr(m_axi_gmem_araddr), .m_axi_arlen(m_axi_gmem_arlen),
        .m_axi_arvalid(m_axi_gmem_arvalid), .m_axi_arready(m_axi_gmem_arready),
        .m_axi_rdata(m_axi_gmem_rdata), .m_axi_rlast(m_axi_gmem_rlast),
        .m_axi_rvalid(m_axi_gmem_rvalid), .m_axi_rready(m_axi_gmem_rready)
    );

    wire             wq_cmd_valid, wq_cmd_ready;
    wire [AW+LENW-1:0] wq_cmd;
    wire             wq_dat_valid, wq_dat_ready;
    wire [63:0]      wq_dat;
    /* verilator lint_off UNUSEDSIGNAL */
    wire [2:0]       wq_cmd_count;
    wire [4:0]       wq_dat_count;
    /* verilator lint_on UNUSEDSIGNAL */

    e2_fifo #(.WIDTH(AW + LENW), .DEPTH_LOG2(2)) u_wcmd (
        .clk(clk), .rst(rst),
        .in_valid(wr_cmd_valid), .in_ready(wr_cmd_ready), .in_data(wr_cmd),
        .out_valid(wq_cmd_valid), .out_ready(wq_cmd_ready), .out_data(wq_cmd), .count(wq_cmd_count)
    );
    e2_fifo #(.WIDTH(64), .DEPTH_LOG2(4)) u_wdat (
        .clk(clk), .rst(rst),
        .in_valid(wr_dat_valid), .in_ready(wr_dat_ready), .in_data(wr_dat),
        .out_valid(wq_dat_valid), .out_ready(wq_dat_ready), .out_data(wq_dat), .count(wq_dat_count)
    );
    e2_axi_wr #(.AW(AW), .LENW(LENW), .MAXB(MAXB), .SEGQ_LOG2(3)) u_wr (
        .clk(clk), .rst(rst),
        .cmd_valid(wq_cmd_valid), .cmd_ready(wq_cmd_ready),
        .cmd_addr(wq_cmd[AW+LENW-1:LENW]), .cmd_len(wq_cmd[LENW-1:0]),
        .in_valid(wq_dat_valid), .in_ready(wq_dat_ready), .in_data(wq_dat),
        .idle(wr_idle), .bytes_now(wr_bytes),
        .m_axi_awaddr(m_axi_gmem_awaddr), .m_axi_awlen(m_axi_gmem_awlen),
        .m_axi_awvalid(m_axi_gmem_awvalid), .m_axi_awready(m_axi_gmem_awready),
        .m_axi_wdata(m_axi_gmem_wdata), .m_axi_wstrb(m_axi_gmem_wstrb), .m_axi_wlast(m_axi_gmem_wlast),
        .m_axi_wvalid(m_axi_gmem_wvalid), .m_axi_wready(m_axi_gmem_wready),
        .m_axi_bvalid(m_axi_gmem_bvalid), .m_axi_bready(m_axi_gmem_bready)
    );

    assign idle = rd_idle && !wq_cmd_valid && !wq_dat_valid && wr_idle;

    assign m_axi_gmem_awid = 1'b0;
    assign m_axi_gmem_awsize = 3'd3;
    assign m_axi_gmem_awburst = 2'b01;
    assign m_axi_gmem_awlock = 1'b0;
    assign m_axi_gmem_awcache = 4'b0011;
    assign m_axi_gmem_awprot = 3'b000;
    assign m_axi_gmem_awqos = 4'd0;
    assign m_axi_gmem_arid = 1'b0;
    assign m_axi_gmem_arsize = 3'd3;
    assign m_axi_gmem_arburst = 2'b01;
    assign m_axi_gmem_arlock = 1'b0;
    assign m_axi_gmem_arcache = 4'b0011;
    assign m_axi_gmem_arprot = 3'b000;
    assign m_axi_gmem_arqos = 4'd0;
endmodule

`default_nettype wire
