// The kernel's AXI4-Lite control block (e2_ctrl, u_ctrl): argument words, start / done handshake,
// status and the read-only counters, with the registers the kernel drives them from and its
// top-level state encoding.  Included by both kernels, which define ctrl_overflows and
// ctrl_recomputed (32-bit) first: the one counter each kernel has, and zero for the other.
    wire [28*32-1:0] args;
    wire core_start;
    reg  [31:0] status_r;
    reg  [31:0] cyc_busy_r;
    reg  [31:0] cyc_stall_r;
    reg  [63:0] macs_r;
    reg  [63:0] bytes_rd_r;
    reg  [63:0] bytes_wr_r;

    localparam [2:0] S_IDLE = 3'd0, S_CHECK = 3'd1, S_SETUP = 3'd2, S_RUN = 3'd3, S_DONE = 3'd4;
    reg [2:0] state;

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
        .args(args), .core_start(core_start), .core_done(state == S_DONE),
        .status(status_r), .cycles_busy(cyc_busy_r), .cycles_mem_stall(cyc_stall_r),
        .macs(macs_r), .bytes_read(bytes_rd_r), .bytes_written(bytes_wr_r),
        .overflows(ctrl_overflows), .recomputed(ctrl_recomputed), .irq(irq)
    );
