// The AXI4 master of a kernel: an e2_axi_master instance (u_axi) wired to the kernel's m_axi_gmem
// ports, and the nets between it and the kernel's loader and drain.  Included by both kernels
// (which define AW, LENW, TAGW, MAXB, clk and rst) so that the wiring exists once.
    wire             rd_cmd_valid, rd_cmd_ready;
    wire [AW-1:0]    rd_cmd_addr;
    wire [LENW-1:0]  rd_cmd_len;
    wire [TAGW-1:0]  rd_cmd_tag;
    wire             rd_out_valid;
    wire [63:0]      rd_out_data;
    wire [TAGW-1:0]  rd_out_tag;
    wire             rd_out_last;
    wire             rd_beat;
    wire             wq_cmd_in_valid, wq_cmd_in_ready;
    wire [AW+LENW-1:0] wq_cmd_in;
    wire             wq_dat_in_valid, wq_dat_in_ready;
    wire [63:0]      wq_dat_in;
    wire             axi_idle;
    wire [3:0]       wr_bytes;

    e2_axi_master #(.AW(AW), .LENW(LENW), .TAGW(TAGW), .MAXB(MAXB)) u_axi (
        .clk(clk), .rst(rst),
        .rd_cmd_valid(rd_cmd_valid), .rd_cmd_ready(rd_cmd_ready), .rd_cmd_addr(rd_cmd_addr),
        .rd_cmd_len(rd_cmd_len), .rd_cmd_tag(rd_cmd_tag),
        .rd_out_valid(rd_out_valid), .rd_out_data(rd_out_data), .rd_out_tag(rd_out_tag),
        .rd_out_last(rd_out_last),
        .wr_cmd_valid(wq_cmd_in_valid), .wr_cmd_ready(wq_cmd_in_ready), .wr_cmd(wq_cmd_in),
        .wr_dat_valid(wq_dat_in_valid), .wr_dat_ready(wq_dat_in_ready), .wr_dat(wq_dat_in),
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
