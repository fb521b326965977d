# C simulation inside Vitis HLS (the same test bench as 'make csim', reduced case set).
source [file join [file dirname [info script]] common.tcl]
e2t_new_project
csim_design
exit
