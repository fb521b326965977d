// e2_ctrl: AXI4-Lite slave with the Vitis-HLS-style control block, argument words and
// read-only performance counters of one kernel.
//
// Why one module for both kernels: the control register (ap_start / ap_done clear-on-read /
// ap_idle / ap_ready clear-on-read / auto_restart), the interrupt registers and the counter
// block sit at the same offsets in both register maps (checked by fpga/gen_regmap.py), so the
// handshake semantics are written and tested once.  Argument offsets are per kernel: the kernel
// passes ARG_WMASK (which words of 0x10..0x7C exist) and picks its arguments out of `args`.
`default_nettype none

module e2_ctrl #(
    parameter [27:0] ARG_WMASK = 28'h0
) (
    input  wire         clk,
    input  wire         rst,
    // AXI4-Lite slave
    input  wire [7:0]   s_axi_control_awaddr,
    input  wire         s_axi_control_awvalid,
    output wire         s_axi_control_awready,
    input  wire [31:0]  s_axi_control_wdata,
    input  wire [3:0]   s_axi_control_wstrb,
    input  wire         s_axi_control_wvalid,
    output wire         s_axi_control_wready,
    output wire [1:0]   s_axi_control_bresp,
    output reg          s_axi_control_bvalid,
    input  wire         s_axi_control_bready,
    input  wire [7:0]   s_axi_control_araddr,
    input  wire         s_axi_control_arvalid,
    output wire         s_axi_control_arready,
    output reg  [31:0]  s_axi_control_rdata,
    output wire [1:0]   s_axi_control_rresp,
    output reg          s_axi_control_rvalid,
    input  wire         s_axi_control_rready,
    // kernel side
    output wire [28*32-1:0] args,
    output wire         core_start,   // one-cycle pulse: a run begins, arguments are stable
    input  wire         core_done,    // one-cycle pulse: the run has finished
    input  wire [31:0]  status,
    input  wire [31:0]  cycles_busy,
    input  wire [31:0]  cycles_mem_stall,
    input  wire [63:0]  macs,
    input  wire [63:0]  bytes_read,
    input  wire [63:0]  bytes_written,
    input  wire [31:0]  overflows,
    input  wire [31:0]  recomputed,
    output wire         irq
);
    /* verilator lint_off UNUSEDPARAM */
`include "e2_regmap_common.vh"
    /* verilator lint_on UNUSEDPARAM */

    reg running;
    reg ap_start_r;
    reg ap_done_r;
    reg ap_ready_r;
    reg auto_restart_r;
    reg gie_r;
    reg [1:0] ier_r;
    reg [1:0] isr_r;
    reg [31:0] arg_r [0:ARG_WORDS-1];

    // ---------------------------------------------------------------- write channel
    // Address and data are taken together; AXI allows ready to wait for both valids.
    wire wr_fire = s_axi_control_awvalid && s_axi_control_wvalid && !s_axi_control_bvalid;
    assign s_axi_control_awready = wr_fire;
    assign s_axi_control_wready = wr_fire;
    assign s_axi_control_bresp = 2'b00;
    wire [7:0] waddr = {s_axi_control_awaddr[7:2], 2'b00};
    wire [7:0] w_rel = waddr - ARG_BASE;
    wire w_in_args = (waddr >= ARG_BASE) && (waddr < REG_STATUS);

    // ---------------------------------------------------------------- read channel
    assign s_axi_control_arready = !s_axi_control_rvalid;
    assign s_axi_control_rresp = 2'b00;
    wire rd_fire = s_axi_control_arvalid && !s_axi_control_rvalid;
    wire [7:0] raddr = {s_axi_control_araddr[7:2], 2'b00};
    wire [7:0] r_rel = raddr - ARG_BASE;
    wire r_in_args = (raddr >= ARG_BASE) && (raddr < REG_STATUS);
    wire ctrl_read = rd_fire && (raddr == REG_CTRL);

    assign core_start = ap_start_r && !running;
    assign irq = gie_r && (|isr_r);

    genvar g;
    generate
        for (g = 0; g < ARG_WORDS; g = g + 1) begin : arg_out
            assign args[32*g +: 32] = arg_r[g];
        end
    endgenerate

    integer w;
    always @(posedge clk) begin
        if (rst) begin
            running <= 1'b0;
            ap_start_r <= 1'b0;
            ap_done_r <= 1'b0;
            ap_ready_r <= 1'b0;
            auto_restart_r <= 1'b0;
            gie_r <= 1'b0;
            ier_r <= 2'b00;
            isr_r <= 2'b00;
            s_axi_control_bvalid <= 1'b0;
            for (w = 0; w < ARG_WORDS; w = w + 1)
                arg_r[w] <= 32'd0;
        end else begin
            // run state
            if (core_start)
                running <= 1'b1;
            else if (core_done)
                running <= 1'b0;

            // ap_start: set by writing 1, held until the run completes (ap_ready), kept set
            // by auto_restart.  Writing 0 does not cancel a pending start (as in Vitis HLS).
            if (wr_fire && waddr == REG_CTRL && s_axi_control_wstrb[0] && s_axi_control_wdata[0])
                ap_start_r <= 1'b1;
            else if (core_done)
                ap_start_r <= auto_restart_r;
            if (wr_fire && waddr == REG_CTRL && s_axi_control_wstrb[0])
                auto_restart_r <= s_axi_control_wdata[7];

            // ap_done / ap_ready: set by completion, cleared by reading CTRL; a completion
            // in the same cycle as the read wins so that it is never lost.
            if (core_done) begin
                ap_done_r <= 1'b1;
                ap_ready_r <= 1'b1;
            end else if (ctrl_read) begin
                ap_done_r <= 1'b0;
                ap_ready_r <= 1'b0;
            end

            if (wr_fire && waddr == REG_GIE && s_axi_control_wstrb[0])
                gie_r <= s_axi_control_wdata[0];
            if (wr_fire && waddr == REG_IER && s_axi_control_wstrb[0])
                ier_r <= s_axi_control_wdata[1:0];
            // ISR: set by the enabled event, toggled by writing 1 (Vitis HLS semantics).
            if (wr_fire && waddr == REG_ISR && s_axi_control_wstrb[0])
                isr_r <= (isr_r ^ s_axi_control_wdata[1:0]) | (core_done ? ier_r : 2'b00);
            else if (core_done)
                isr_r <= isr_r | ier_r;

            for (w = 0; w < ARG_WORDS; w = w + 1) begin
                if (wr_fire && w_in_args && ARG_WMASK[w] && {27'd0, w_rel[6:2]} == w) begin
                    if (s_axi_control_wstrb[0]) arg_r[w][7:0] <= s_axi_control_wdata[7:0];
                    if (s_axi_control_wstrb[1]) arg_r[w][15:8] <= s_axi_control_wdata[15:8];
                    if (s_axi_control_wstrb[2]) arg_r[w][23:16] <= s_axi_control_wdata[23:16];
                    if (s_axi_control_wstrb[3]) arg_r[w][31:24] <= s_axi_control_wdata[31:24];
                end
            end

            if (wr_fire)
                s_axi_control_bvalid <= 1'b1;
            else if (s_axi_control_bready)
                s_axi_control_bvalid <= 1'b0;
        end
    end

    // read data mux (registered with rvalid)
    reg [31:0] rmux;
    integer r;
    always @(*) begin
        rmux = 32'd0;
        case (raddr)
            REG_CTRL: rmux = {24'd0, auto_restart_r, 3'b000, ap_ready_r, !running, ap_done_r, ap_start_r};
            REG_GIE: rmux = {31'd0, gie_r};
            REG_IER: rmux = {30'd0, ier_r};
            REG_ISR: rmux = {30'd0, isr_r};
            REG_STATUS: rmux = status;
            REG_CYCLES_BUSY: rmux = cycles_busy;
            REG_CYCLES_MEM_STALL: rmux = cycles_mem_stall;
            REG_MACS: rmux = macs[31:0];
            REG_MACS + 8'd4: rmux = macs[63:32];
            REG_BYTES_READ: rmux = bytes_read[31:0];
            REG_BYTES_READ + 8'd4: rmux = bytes_read[63:32];
            REG_BYTES_WRITTEN: rmux = bytes_written[31:0];
            REG_BYTES_WRITTEN + 8'd4: rmux = bytes_written[63:32];
            REG_OVERFLOWS: rmux = overflows;
            REG_RECOMPUTED: rmux = recomputed;
            default: begin
                for (r = 0; r < ARG_WORDS; r = r + 1)
                    if (r_in_args && ARG_WMASK[r] && {27'd0, r_rel[6:2]} == r)
                        rmux = arg_r[r];
            end
        endcase
    end

    always @(posedge clk) begin
        if (rst) begin
            s_axi_control_rvalid <= 1'b0;
            s_axi_control_rdata <= 32'd0;
        end else if (rd_fire) begin
            s_axi_control_rvalid <= 1'b1;
            s_axi_control_rdata <= rmux;
        end else if (s_axi_control_rready) begin
            s_axi_control_rvalid <= 1'b0;
        end
    end
    // AXI-Lite addresses are word aligned; the two low bits carry no information
    wire unused_ok = &{1'b0, s_axi_control_awaddr[1:0], s_axi_control_araddr[1:0], w_rel[7], w_rel[1:0],
                       r_rel[7], r_rel[1:0]};
endmodule

`default_nettype wire
