// Port connections of a kernel's m_axi_gmem to its e2_axi_master (u_axi); included inside the
// instantiation so that both kernels connect the same list.
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
