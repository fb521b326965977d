# Packages the synthesized kernel as a Vivado IP (IP catalog zip in $E2T_BUILD_DIR/ip/).
source [file join [file dirname [info script]] common.tcl]
e2t_open_project
file mkdir $build_dir/ip
export_design -format ip_catalog -rtl verilog -vendor e2train.org -library hls -version 1.0 \
    -description "e2train $kernel kernel (ap_ctrl_hs, s_axilite control, m_axi memory)" \
    -output $build_dir/ip/e2train_$kernel.zip
exit
