#!/usr/bin/env bash
# Runs one Vitis HLS step for one kernel or for both.
#
#   scripts/run_vitis.sh STEP [KERNEL]
#     STEP:   vitis-csim | csynth | cosim | export   (cosim and export need csynth first)
#     KERNEL: gemm | psg_wgrad | all (default)
#
# Projects and logs go to $E2T_BUILD_DIR/vitis/<kernel>/, exported IP to $E2T_BUILD_DIR/ip/
# (E2T_BUILD_DIR defaults to hls/build).
# Exit status 127 when vitis_hls is not on PATH (this machine kind has no Xilinx tools).
set -euo pipefail

step=${1:?usage: run_vitis.sh vitis-csim|csynth|cosim|export [gemm|psg_wgrad|all]}
kernel=${2:-all}

case "$step" in
    vitis-csim) script=csim.tcl ;;
    csynth | cosim | export) script=$step.tcl ;;
    *) echo "unknown step '$step'; allowed: vitis-csim, csynth, cosim, export" >&2; exit 2 ;;
esac
case "$kernel" in
    all) kernels="gemm psg_wgrad" ;;
    gemm | psg_wgrad) kernels=$kernel ;;
    *) echo "unknown kernel '$kernel'; allowed: gemm, psg_wgrad, all" >&2; exit 2 ;;
esac

if ! command -v vitis_hls >/dev/null 2>&1; then
    echo "vitis_hls not found: install Vitis HLS 2023.x and source settings64.sh" >&2
    echo "  (e.g. 'source /tools/Xilinx/Vitis_HLS/2023.2/settings64.sh'; C simulation without the" >&2
    echo "  tools: 'make -C hls csim')" >&2
    exit 127
fi

hls_dir=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${E2T_BUILD_DIR:-$hls_dir/build}
mkdir -p "$build_dir"
build_dir=$(cd "$build_dir" && pwd)
for k in $kernels; do
    work="$build_dir/vitis/$k"
    mkdir -p "$work"
    echo "== vitis_hls $step $k (log: $work/$step.log)"
    # The Tcl scripts read the kernel from the environment: -tclargs handling differs between
    # Vitis HLS releases.
    (cd "$work" && E2T_KERNEL=$k E2T_HLS_DIR=$hls_dir E2T_BUILD_DIR=$build_dir vitis_hls -f "$hls_dir/scripts/$script" -l "$step.log")
done
