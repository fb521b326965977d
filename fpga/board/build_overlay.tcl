# Block design and bitstream of the e2train overlay (Vivado batch mode; run by fpga/board/Makefile).
#
# Inputs (environment, set by the Makefile): E2T_BOARD, E2T_PART, E2T_OVERLAY, E2T_KERNEL_SOURCE
# (hls | rtl), E2T_KERNELS ("gemm psg_wgrad"), E2T_CLOCK_MHZ, E2T_JOBS, E2T_OUT_DIR, E2T_HLS_IP_DIR,
# E2T_RTL_DIR, E2T_BUILD_DIR.  The working directory is E2T_BUILD_DIR; the project lives in ./proj.
#
# Outputs: $E2T_OUT_DIR/<overlay>.bit and .hwh (what pynq.Overlay loads), reports/utilization.rpt and
# reports/timing.rpt there, and tools.json + timing_met.txt in the build directory (the Makefile
# turns them into the manifest).
#
# Design: processing system (processing_system7 on Zynq-7000, zynq_ultra_ps_e on Zynq UltraScale+)
# with its fabric clock 0 at E2T_CLOCK_MHZ driving everything; each kernel's s_axi_control on the
# PS's general-purpose master (M_AXI_GP0 / M_AXI_HPM0_FPD) through an interconnect; every AXI4
# master of the kernels (HLS: m_axi_gmem_rd and m_axi_gmem_wr; RTL: m_axi_gmem) on one high-performance
# slave port (S_AXI_HP0 / S_AXI_HP0_FPD) through an interconnect, so the kernels address DDR with
# the physical addresses pynq.allocate returns.  Interrupts are not wired: the driver polls ap_done.
#
# NOT VERIFIED: no Vivado on the development machines.  Expect to adjust IP versions and
# automation options on the first real run; the sequence follows UG994 (IP integrator) and UG835.

proc env_or {name default} {
    if {[info exists ::env($name)]} { return $::env($name) }
    return $default
}

set board         [env_or E2T_BOARD pynq-z2]
set part          [env_or E2T_PART xc7z020clg400-1]
set overlay       [env_or E2T_OVERLAY e2train]
set kernel_source [env_or E2T_KERNEL_SOURCE hls]
set kernels       [env_or E2T_KERNELS "gemm psg_wgrad"]
set clock_mhz     [env_or E2T_CLOCK_MHZ 100]
set jobs          [env_or E2T_JOBS 2]
set out_dir       [env_or E2T_OUT_DIR [pwd]/out]
set hls_ip_dir    [env_or E2T_HLS_IP_DIR ../../hls/build/ip]
set rtl_dir       [env_or E2T_RTL_DIR ../../fpga/rtl]
set build_dir     [env_or E2T_BUILD_DIR [pwd]]
set zynq_us [string match "xczu*" $part]

file mkdir $out_dir/reports

# ---------------------------------------------------------------------------------------------
# project, board files where installed
# ---------------------------------------------------------------------------------------------
create_project -force $overlay ./proj -part $part
set board_patterns [dict create pynq-z1 "*pynq-z1*" pynq-z2 "*pynq-z2*" zedboard "*zedboard*" zcu104 "*zcu104*"]
set board_part [lindex [get_board_parts -quiet -latest_file_version [dict get $board_patterns $board]] 0]
if {$board_part ne ""} {
    set_property board_part $board_part [current_project]
    puts "e2train: board files $board_part"
} else {
    puts "e2train: WARNING no board files for $board installed: generic PS configuration for $part"
}

# ---------------------------------------------------------------------------------------------
# kernel IP: Vitis HLS export (ip_catalog zips) or the Verilog as module references
# ---------------------------------------------------------------------------------------------
if {$kernel_source eq "hls"} {
    file mkdir ./ip_repo
    foreach k $kernels {
        exec unzip -o -q $hls_ip_dir/e2train_$k.zip -d ./ip_repo/$k
    }
    set_property ip_repo_paths [list [file normalize ./ip_repo]] [current_project]
    update_ip_catalog
} else {
    add_files -norecurse [glob $rtl_dir/*.v]
    add_files -norecurse [glob $rtl_dir/*.vh]
    set_property file_type {Verilog Header} [get_files *.vh]
    set_property include_dirs [list [file normalize $rtl_dir]] [current_fileset]
    update_compile_order -fileset sources_1
}

# ---------------------------------------------------------------------------------------------
# block design
# ---------------------------------------------------------------------------------------------
create_bd_design $overlay

if {$zynq_us} {
    set ps [create_bd_cell -type ip -vlnv xilinx.com:ip:zynq_ultra_ps_e ps]
    if {$board_part ne ""} {
        apply_bd_automation -rule xilinx.com:bd_rule:zynq_ultra_ps_e -config {apply_board_preset "1"} $ps
    }
    set_property -dict [list \
        CONFIG.PSU__USE__M_AXI_GP0 {1} CONFIG.PSU__USE__M_AXI_GP1 {0} CONFIG.PSU__USE__M_AXI_GP2 {0} \
        CONFIG.PSU__USE__S_AXI_GP2 {1} CONFIG.PSU__SAXIGP2__DATA_WIDTH {64} \
        CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ $clock_mhz] $ps
    set ps_master ps/M_AXI_HPM0_FPD
    set ps_slave ps/S_AXI_HP0_FPD
    set fclk ps/pl_clk0
} else {
    set ps [create_bd_cell -type ip -vlnv xilinx.com:ip:processing_system7 ps]
    apply_bd_automation -rule xilinx.com:bd_rule:processing_system7 \
        -config [list make_external "FIXED_IO, DDR" apply_board_preset [expr {$board_part ne "" ? 1 : 0}] \
                 Master Disable Slave Disable] $ps
    set_property -dict [list \
        CONFIG.PCW_USE_M_AXI_GP0 {1} CONFIG.PCW_USE_S_AXI_HP0 {1} CONFIG.PCW_S_AXI_HP0_DATA_WIDTH {64} \
        CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ $clock_mhz] $ps
    set ps_master ps/M_AXI_GP0
    set ps_slave ps/S_AXI_HP0
    set fclk ps/FCLK_CLK0
}

set rtl_top [dict create gemm e2_gemm psg_wgrad e2_psg_wgrad]
foreach k $kernels {
    if {$kernel_source eq "hls"} {
        create_bd_cell -type ip -vlnv e2train.org:hls:$k:1.0 ${k}_0
    } else {
        create_bd_cell -type module -reference [dict get $rtl_top $k] ${k}_0
    }
}

# control: PS master -> interconnect -> each kernel's s_axi_control (automation adds the
# interconnect and a processor system reset on the fabric clock)
foreach k $kernels {
    apply_bd_automation -rule xilinx.com:bd_rule:axi4 \
        -config [list Master /$ps_master Slave /${k}_0/s_axi_control Clk_master $fclk Clk_slave $fclk \
                 Clk_xbar $fclk intc_ip {New AXI Interconnect}] [get_bd_intf_pins ${k}_0/s_axi_control]
}

# memory: every AXI4 master of every kernel -> one HP slave port
foreach k $kernels {
    foreach pin [get_bd_intf_pins -quiet -filter {MODE == Master && VLNV =~ "*aximm*"} ${k}_0/*] {
        apply_bd_automation -rule xilinx.com:bd_rule:axi4 \
            -config [list Master $pin Slave /$ps_slave Clk_master $fclk Clk_slave $fclk Clk_xbar $fclk \
                     intc_ip {Auto}] [get_bd_intf_pins /$ps_slave]
    }
}

assign_bd_address
validate_bd_design
save_bd_design

set bd_file [get_files $overlay.bd]
make_wrapper -files $bd_file -top
add_files -norecurse [glob ./proj/$overlay.gen/sources_1/bd/$overlay/hdl/${overlay}_wrapper.v \
                           ./proj/$overlay.srcs/sources_1/bd/$overlay/hdl/${overlay}_wrapper.v]
set_property top ${overlay}_wrapper [current_fileset]
update_compile_order -fileset sources_1

# ---------------------------------------------------------------------------------------------
# implementation, reports, outputs
# ---------------------------------------------------------------------------------------------
launch_runs impl_1 -to_step write_bitstream -jobs $jobs
wait_on_run impl_1
if {[get_property PROGRESS [get_runs impl_1]] ne "100%"} {
    puts stderr "e2train: implementation failed; see $build_dir/proj/$overlay.runs/impl_1/runme.log"
    exit 1
}
open_run impl_1
report_utilization -hierarchical -file $out_dir/reports/utilization.rpt
report_timing_summary -max_paths 10 -file $out_dir/reports/timing.rpt
set wns [get_property SLACK [get_timing_paths -max_paths 1 -nworst 1 -setup]]
set met [expr {$wns ne "" && $wns >= 0 ? "true" : "false"}]
if {$met eq "false"} { puts "e2train: WARNING timing not met (WNS $wns ns) at $clock_mhz MHz" }

file copy -force ./proj/$overlay.runs/impl_1/${overlay}_wrapper.bit $out_dir/$overlay.bit
set hwh [lindex [glob -nocomplain ./proj/$overlay.gen/sources_1/bd/$overlay/hw_handoff/$overlay.hwh \
                                   ./proj/$overlay.srcs/sources_1/bd/$overlay/hw_handoff/$overlay.hwh] 0]
if {$hwh eq ""} {
    puts stderr "e2train: no .hwh found under ./proj: pynq needs it beside the .bit"
    exit 1
}
file copy -force $hwh $out_dir/$overlay.hwh

set fh [open $build_dir/tools.json w]
puts $fh "{\"vivado\": \"[version -short]\", \"kernel_source\": \"$kernel_source\", \"wns_ns\": \"$wns\"}"
close $fh
set fh [open $build_dir/timing_met.txt w]
puts -nonewline $fh $met
close $fh
puts "e2train: overlay written to $out_dir"
exit 0
