e2_fifo.v
e2_ctrl.v
e2_axi_rd.v
e2_axi_wr.v
e2_axi_master.v
e2_bank_ram.v
e2_psg_pe.v
e2_psg_planner.v
