#!/usr/bin/python3
"""Plot of a soak run (spec/soak/soak.lua): a.test's RSS and Lua heap, the peers' RSS, and the
stanza rate over time, from samples.csv. Usage: plot.py samples.csv out.png"""
import csv
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(samples, out):
    with open(samples, newline="") as f:
        rows = list(csv.DictReader(f))
    t = [float(r["t"]) / 60 for r in rows]
    fig, (mem, rate) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    for key, label in (("rss_a", "a.test RSS (module)"), ("rss_p12", "p12.test RSS (0.12)"),
                       ("rss_p13", "p13.test RSS (13)")):
        mem.plot(t, [int(r[key]) / 1024 for r in rows], label=label)
    mem.plot(t, [int(r["heap"]) / 1024 for r in rows], label="a.test Lua heap", linestyle="--")
    mem.set_ylabel("MiB")
    mem.set_ylim(bottom=0)
    mem.legend(loc="lower right", fontsize="small")
    mem.grid(alpha=0.3)
    rate.plot(t, [int(r["stanzas"]) / max(float(r["seconds"]), 0.001) for r in rows], color="tab:green")
    rate.set_ylabel("stanzas/s (per round)")
    rate.set_xlabel("minutes")
    rate.set_ylim(bottom=0)
    rate.grid(alpha=0.3)
    fig.suptitle("mod_s2s_partners soak")
    fig.tight_layout()
    fig.savefig(out, dpi=100)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
