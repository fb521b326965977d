// e2_kernel_shell: everything a kernel has around its compute core.  The AXI4-Lite control block
// (e2_ctrl: argument words, ap_ctrl_hs handshake, status, interrupt), the AXI4 master (e2_axi_master:
// tagged read segments in, write segments out), and the counters the two kernels count alike
// (busy and stalled cycles, useful MACs, bytes read and written).
//
// Why a module and not textual includes: the kernel sees a port list with a direction and a width on
// every signal, and the counters' clearing rule (cleared when a run starts, frozen while idle, so the
// host reads the last run's numbers after ap_done) is written once for both kernels.  The kernel
// drives its own top-level state machine and tells the shell three things about it each cycle:
// `core_idle` (waiting for ap_start), `core_stall` (running but the datapath issued nothing) and
// `core_macs` (useful MACs issued now).
`default_nettype none

module e2_kernel_shell #(
    parameter [27:0] ARG_WMASK = 28'h0,
    parameter AW = 64,
    parameter LENW = 20,
    parameter TAGW = 4,
    parameter MAXB = 16,
    parameter MACW = 8               // width of core_macs
) (
    input  wire             clk,
    input  wire             rst,
`include "e2_kernel_ports.vh"
    ,
    // control and status, to and from the core
    output wire [28*32-1:0] args,
    output wire             core_start,       // one-cycle pulse: a run begins, arguments are stable
    input  wire             core_done,        // one-cycle pulse: the run has finished
    input  wire             core_idle,        // the core waits for core_start
    input  wire             core_stall,       // counted as a memory-stall cycle
    input  wire [MACW-1:0]  core_macs,        // useful MACs issued this cycle
    input  wire [31:0]      status,
    input  wire [31:0]      overflows,
    input  wire [31:0]      recomputed,
    // read segments (see e2_axi_master)
    input  wire             rd_cmd_valid,
    output wire             rd_cmd_ready,
    input  wire [AW-1:0]    rd_cmd_addr,
    input  wire [LENW-1:0]  rd_cmd_len,
    input  wire [TAGW-1:0]  rd_cmd_tag,
    output wire             rd_out_valid,
    output wire [63:0]      rd_out_data,
    output wire [TAGW-1:0]  rd_out_tag,
    output wire             rd_out_last,
    // write segments (see e2_axi_master)
    input  wire             wr_cmd_valid,
    output wire             wr_cmd_ready,
    input  wire [AW+LENW-1:0] wr_cmd,
    input  wire             wr_dat_valid,
    output wire             wr_dat_ready,
    input  wire [63:0]      wr_dat,
    output wire             axi_idle          // nothing queued or in flight, write responses included
);
    initial begin
        if (MACW < 1 || MACW > 63)
            $fatal(1, "e2_kernel_shell: MACW = %0d must be within 1..63", MACW);
    end

    reg  [31:0] cycles_busy, cycles_mem_stall;
    reg  [63:0] macs, bytes_read, bytes_written;
    wire        rd_beat;
    wire [3:0]  wr_bytes;

    always @(posedge clk) begin
        if (rst || (core_idle && core_start)) begin
            cycles_busy <= 32'd0; cycles_mem_stall <= 32'd0; macs <= 64'd0;
            bytes_read <= 64'd0; bytes_written <= 64'd0;
        end else if (!core_idle) begin
            cycles_busy <= cycles_busy + 32'd1;
            if (core_stall)
                cycles_mem_stall <= cycles_mem_stall + 32'd1;
            macs <= macs + {{(64-MACW){1'b0}}, core_macs};
            if (rd_beat)
                bytes_read <= bytes_read + 64'd8;
            bytes_written <= bytes_written + {60'd0, wr_bytes};
        end
    end

    e2_ctrl #(.ARG_WMASK(ARG_WMASK)) u_ctrl (
        .clk(clk), .rst(rst),
        .s_axi_control_awaddr(s_axi_control_awaddr), .s_axi_control_awvalid(s_axi_control_awvalid),
        .s_axi_control_awready(s_axi_control_awready), .s_axi_control_wdata(s_axi_control_wdata),
        .s_axi_control_wstrb(s_axi_control_wstrb), .s_axi_control_wvalid(s_axi_control_wvalid),
        .s_axi_control_wready(s_axi_control_wready), .s_axi_control_bresp(s_axi_control_bresp),
        .s_axi_control_bvalid(s_axi_control_bvalid), .s_axi_control_bready(s_axi_control_bready),
        .s_axi_control_araddr(s_axi_control_araddr), .s_axi_control_arvalid(s_axi_control_arvalid),
        .s_axi_control_arready(s_axi_control_arready), .s_axi_control_rdata(s_axi_control_rdata),
        .s_axi_control_rresp(s_axi_control_rresp), .s_axi_control_rvalid(s_axi_control_rvalid),
        .s_axi_control_rready(s_axi_control_rready),
        .args(args), .core_start(core_start), .core_done(core_done),
        .status(status), .cycles_busy(cycles_busy), .cycles_mem_stall(cycles_mem_stall),
        .macs(macs), .bytes_read(bytes_read), .bytes_written(bytes_written),
        .overflows(overflows), .recomputed(recomputed), .irq(irq)
    );

    e2_axi_master #(.AW(AW), .LENW(LENW), .TAGW(TAGW), .MAXB(MAXB)) u_axi (
        .clk(clk), .rst(rst),
        .rd_cmd_valid(rd_cmd_valid), .rd_cmd_ready(rd_cmd_ready), .rd_cmd_addr(rd_cmd_addr),
        .rd_cmd_len(rd_cmd_len), .rd_cmd_tag(rd_cmd_tag),
        .rd_out_valid(rd_out_valid), .rd_out_data(rd_out_data), .rd_out_tag(rd_out_tag),
        .rd_out_last(rd_out_last),
        .wr_cmd_valid(wr_cmd_valid), .wr_cmd_ready(wr_cmd_ready), .wr_cmd(wr_cmd),
        .wr_dat_valid(wr_dat_valid), .wr_dat_ready(wr_dat_ready), .wr_dat(wr_dat),
        .idle(axi_idle), .rd_beat(rd_beat), .wr_bytes(wr_bytes),
        .m_axi_gmem_awid(m_axi_gmem_awid), .m_axi_gmem_awaddr(m_axi_gmem_awaddr),
        .m_axi_gmem_awlen(m_axi_gmem_awlen), .m_axi_gmem_awsize(m_axi_gmem_awsize),
        .m_axi_gmem_awburst(m_axi_gmem_awburst), .m_axi_gmem_awlock(m_axi_gmem_awlock),
        .m_axi_gmem_awcache(m_axi_gmem_awcache), .m_axi_gmem_awprot(m_axi_gmem_awprot),
        .m_axi_gmem_awqos(m_axi_gmem_awqos), .m_axi_gmem_awvalid(m_axi_gmem_awvalid),
        .m_axi_gmem_awready(m_axi_gmem_awready), .m_axi_gmem_wdata(m_axi_gmem_wdata),
        .m_axi_gmem_wstrb(m_axi_gmem_wstrb), .m_axi_gmem_wlast(m_axi_gmem_wlast),
        .m_axi_gmem_wvalid(m_axi_gmem_wvalid), .m_axi_gmem_wready(m_axi_gmem_wready),
        .m_axi_gmem_bvalid(m_axi_gmem_bvalid), .m_axi_gmem_bready(m_axi_gmem_bready),
        .m_axi_gmem_arid(m_axi_gmem_arid), .m_axi_gmem_araddr(m_axi_gmem_araddr),
        .m_axi_gmem_arlen(m_axi_gmem_arlen), .m_axi_gmem_arsize(m_axi_gmem_arsize),
        .m_axi_gmem_arburst(m_axi_gmem_arburst), .m_axi_gmem_arlock(m_axi_gmem_arlock),
        .m_axi_gmem_arcache(m_axi_gmem_arcache), .m_axi_gmem_arprot(m_axi_gmem_arprot),
        .m_axi_gmem_arqos(m_axi_gmem_arqos), .m_axi_gmem_arvalid(m_axi_gmem_arvalid),
        .m_axi_gmem_arready(m_axi_gmem_arready), .m_axi_gmem_rdata(m_axi_gmem_rdata),
        .m_axi_gmem_rlast(m_axi_gmem_rlast), .m_axi_gmem_rvalid(m_axi_gmem_rvalid),
        .m_axi_gmem_rready(m_axi_gmem_rready)
    );

    // inputs the system never varies: a single ID, responses always OKAY
    wire unused_ok = &{1'b0, m_axi_gmem_bid, m_axi_gmem_bresp, m_axi_gmem_rid, m_axi_gmem_rresp};
endmodule

`default_nettype wire
