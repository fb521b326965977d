# C/RTL co-simulation of the synthesized kernel against the C test bench (Verilog, XSim).
source [file join [file dirname [info script]] common.tcl]
e2t_open_project
cosim_design -rtl verilog -trace_level none
exit
