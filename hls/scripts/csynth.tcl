# C synthesis for xc7z020clg400-1 at 100 MHz; reports in proj/<solution>/syn/report/.
source [file join [file dirname [info script]] common.tcl]
e2t_new_project
csynth_design
exit
