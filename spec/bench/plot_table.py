#!/usr/bin/python3
"""Plot of the partner table scale (spec/bench/table_bench.lua): compile time and memory held
against the number of partners, log-log, from scale.tsv; with a second file of the same form
(figures of an earlier build), those too, in grey.
Usage: plot_table.py scale.tsv out.png [before.tsv]"""
import csv
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read(tsv):
    with open(tsv, newline="") as f:
        return [r for r in csv.DictReader(f, delimiter="\t") if int(r["partners"]) >= 1000]


def main(tsv, out, before=None):
    rows = read(tsv)
    n = [int(r["partners"]) for r in rows]
    fig, (compile_ax, mem_ax) = plt.subplots(1, 2, figsize=(10, 4.2))
    if before:
        old = read(before)
        m = [int(r["partners"]) for r in old]
        compile_ax.loglog(m, [float(r["compile_ms"]) for r in old], marker="o", color="grey",
                          alpha=0.6, label="compile(), before (eager tables)")
        mem_ax.loglog(m, [float(r["held_mib"]) for r in old], marker="o", color="grey", alpha=0.6,
                      label="memory held, before (eager tables)")
    compile_ax.loglog(n, [float(r["compile_ms"]) for r in rows], marker="o", label="compile()")
    compile_ax.loglog(n, [float(r["partners_ms"]) for r in rows], marker="s", linestyle="--",
                      label="partners() (builds every table)")
    compile_ax.axhline(150, color="tab:red", linestyle=":", label="target at 100k: 150 ms")
    compile_ax.set_ylabel("ms (CPU)")
    mem_ax.loglog(n, [float(r["held_mib"]) for r in rows], marker="o", label="memory held")
    mem_ax.loglog(n, [max(float(r["heap_mib"]), 0.01) for r in rows], marker="^", label="of which Lua heap")
    mem_ax.loglog(n, [float(r["heap_all_mib"]) for r in rows], marker="s", linestyle="--",
                  label="Lua heap, every table built")
    mem_ax.axhline(64, color="tab:red", linestyle=":", label="target at 100k: 64 MiB")
    mem_ax.set_ylabel("MiB")
    for ax in (compile_ax, mem_ax):
        ax.set_xlabel("partners (3 additional domains each)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize="small")
    fig.suptitle("mod_s2s_partners: partner table scale")
    fig.tight_layout()
    fig.savefig(out, dpi=100)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
