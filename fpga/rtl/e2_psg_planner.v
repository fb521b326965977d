// e2_psg_planner: one recompute step of psg_wgrad, chosen from a subtile's unconfident entries.
//
// In a step, column j of the S x S subtile works on one of its entries (row r_j) and reads G row
// r_j from bank r_j, so the rows of one step must all differ.  The planner takes every entry of the
// lowest nonempty diagonal (row (j + d) mod S of column j: all rows differ by construction) and fills
// the other columns greedily with the lowest row not yet used; repeated on what is left, a subtile
// takes at most S steps (the always-full cost), none when every entry is confident.
// Combinational.  Parameters: S a power of two, SW = $clog2(S).
`default_nettype none

module e2_psg_planner #(
    parameter S = 8,
    parameter SW = 3
) (
    input  wire [S*S-1:0]  avail,   // entries still to recompute, bit r * S + j
    output wire [S*SW-1:0] rows,    // per column: the row it works on
    output wire [S-1:0]    on,      // per column: works in this step
    output wire [S*S-1:0]  taken    // the entries this step covers
);
    initial begin
        if (S < 2 || (1 << SW) != S)
            $fatal(1, "e2_psg_planner: S = %0d must be a power of two >= 2 and SW = %0d its log2", S, SW);
    end

    function [S*SW+S+S*S-1:0] greedy_step(input [S*S-1:0] m);   // {rows, on, taken}
        integer gjc, gnr, gdd, gds, gdr;
        reg [S-1:0] used;
        reg [S-1:0] nz;
        reg [S*SW-1:0] r_rows;
        reg [S-1:0] r_on;
        reg [S*S-1:0] r_taken;
        begin
            used = {S{1'b0}};
            r_rows = {(S*SW){1'b0}};
            r_on = {S{1'b0}};
            r_taken = {(S*S){1'b0}};
            // lowest nonempty diagonal
            nz = {S{1'b0}};
            for (gdd = 0; gdd < S; gdd = gdd + 1)
                for (gjc = 0; gjc < S; gjc = gjc + 1)
                    if (m[((gjc + gdd) % S) * S + gjc])
                        nz[gdd] = 1'b1;
            gds = 0;
            for (gdd = S - 1; gdd >= 0; gdd = gdd - 1)
                if (nz[gdd]) gds = gdd;
            for (gjc = 0; gjc < S; gjc = gjc + 1) begin
                gdr = (gjc + gds) % S;
                if (m[gdr * S + gjc]) begin
                    r_rows[SW * gjc +: SW] = gdr[SW-1:0];
                    r_on[gjc] = 1'b1;
                    used[gdr] = 1'b1;
                    r_taken[gdr * S + gjc] = 1'b1;
                end
            end
            // greedy fill of the columns without a diagonal entry: the lowest row not yet used
            for (gjc = 0; gjc < S; gjc = gjc + 1) begin
                if (!r_on[gjc]) begin
                    for (gnr = S - 1; gnr >= 0; gnr = gnr - 1) begin
                        if (m[gnr * S + gjc] && !used[gnr]) begin
                            r_rows[SW * gjc +: SW] = gnr[SW-1:0];
                            r_on[gjc] = 1'b1;
                        end
                    end
                    if (r_on[gjc]) begin
                        used[r_rows[SW * gjc +: SW]] = 1'b1;
                        r_taken[r_rows[SW * gjc +: SW] * S + gjc] = 1'b1;
                    end
                end
            end
            greedy_step = {r_rows, r_on, r_taken};
        end
    endfunction

    assign {rows, on, taken} = greedy_step(avail);
endmodule

`default_nettype wire
