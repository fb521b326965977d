# Shared settings of the Vitis HLS steps; sourced by csim.tcl, csynth.tcl, cosim.tcl, export.tcl.
# Inputs (environment, set by run_vitis.sh): E2T_KERNEL (gemm | psg_wgrad), E2T_HLS_DIR (hls/),
# E2T_BUILD_DIR (hls/build).  The working directory is $E2T_BUILD_DIR/vitis/<kernel>/; the project
# lives there as ./proj.

set kernel $::env(E2T_KERNEL)
set hls_dir $::env(E2T_HLS_DIR)
set build_dir $::env(E2T_BUILD_DIR)
set part xc7z020clg400-1
set clock_period_ns 10  ;# 100 MHz
set solution sol_xc7z020_100mhz

set design_cflags "-I$hls_dir/include -I$hls_dir/src"
# The test bench runs the reduced case set (-DE2T_TB_QUICK) so that RTL co-simulation stays short.
set tb_cflags "-I$hls_dir/include -I$hls_dir/src -I$hls_dir/tb -DE2T_TB_QUICK -fno-strict-aliasing"

# Creates the project from scratch (csim, csynth) ...
proc e2t_new_project {} {
    global kernel hls_dir part clock_period_ns solution design_cflags tb_cflags
    open_project -reset proj
    set_top $kernel
    add_files $hls_dir/src/$kernel.cpp -cflags $design_cflags -csimflags "-fno-strict-aliasing"
    add_files -tb $hls_dir/tb/tb_$kernel.cpp -cflags $tb_cflags
    open_solution -reset -flow_target vivado $solution
    set_part $part
    create_clock -period $clock_period_ns -name default
}

# ... or reopens the synthesized one (cosim, export).
proc e2t_open_project {} {
    global solution kernel
    if {![file exists proj/$solution/syn]} {
        puts stderr "no synthesis results for $kernel: run 'make -C hls csynth KERNEL=$kernel' first"
        exit 1
    }
    open_project proj
    open_solution $solution
}
