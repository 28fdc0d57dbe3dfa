#!/usr/bin/python3
"""Plots of a benchmark run (the JSON scripts/bench/run.py writes): throughput and latency per load, as PNGs.

  python3 scripts/bench/plot.py [RESULTS_JSON] [--out DIRECTORY] [--name PREFIX]

Writes PREFIX-throughput.png (accepted and stored logs/s per load, with the broker's own confirmed-publish
ceiling as a line) and PREFIX-latency.png (202 latency p50/p99, and accepted → stored p50/p99), both with
the machine and the date in the title. scripts/bench.sh runs it after every run; docs/performance.md shows
the plots of the run its table comes from (docs/img/).
"""
import argparse
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (after choosing the backend)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def label(row):
    name = row["scenario"] if row["system"] == "logpipe" else f"{row['scenario']} ({row['system']})"
    return "\n".join(name.split(", "))


def bars(axis, labels, series, colors):
    width = 0.8 / len(series)
    for index, (name, values) in enumerate(series.items()):
        positions = [x + (index - (len(series) - 1) / 2) * width for x in range(len(labels))]
        drawn = axis.bar(positions, [v or 0 for v in values], width, label=name, color=colors[index])
        axis.bar_label(drawn, labels=[f"{v:,.0f}" if v else "–" for v in values], fontsize=7, padding=2)
    axis.set_xticks(range(len(labels)), labels, fontsize=8)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("results", nargs="?", default=os.path.join(ROOT, ".build", "bench", "results.json"))
    parser.add_argument("--out", default=None, help="directory (default: the JSON's)")
    parser.add_argument("--name", default="bench")
    args = parser.parse_args()
    with open(args.results) as handle:
        result = json.load(handle)
    out = args.out or os.path.dirname(os.path.abspath(args.results))
    os.makedirs(out, exist_ok=True)
    rows = result["rows"]
    if not rows:  # only the ceilings and instruction counts were run: nothing to draw
        print("plots: none (no load was run)")
        return
    labels = [label(row) for row in rows]
    machine = result.get("machine", {})
    subtitle = f"{machine.get('cores', '?')} cores shared by broker, logpipe and load generator · {result.get('date', '')[:10]} · median of runs"

    figure, axis = plt.subplots(figsize=(max(8, 1.9 * len(rows)), 5))
    bars(axis, labels, {"accepted logs/s (202)": [r.get("accepted_logs_per_s") for r in rows],
                        "stored logs/s (end to end)": [r.get("stored_logs_per_s") for r in rows]}, ["#4c78a8", "#59a14f"])
    ceiling = (result.get("broker_ceiling") or {}).get("per_second")
    if ceiling:
        axis.axhline(ceiling, color="#e15759", linestyle="--", linewidth=1)
        axis.text(-0.45, ceiling, f" broker alone: {ceiling:,} confirmed messages/s (a batch travels as one message)",
                  color="#e15759", fontsize=7, ha="left", va="bottom", backgroundcolor="white")
    top = max([r.get("accepted_logs_per_s") or 0 for r in rows] + [r.get("stored_logs_per_s") or 0 for r in rows] + [ceiling or 0])
    axis.set_ylim(0, top * 1.2)
    axis.set_ylabel("logs per second")
    axis.set_title(f"Throughput per load\n{subtitle}", fontsize=10)
    axis.legend(fontsize=8, loc="upper right", ncol=2)
    axis.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    throughput = os.path.join(out, f"{args.name}-throughput.png")
    figure.savefig(throughput, dpi=110)
    plt.close(figure)

    figure, (request, e2e) = plt.subplots(1, 2, figsize=(max(10, 2.6 * len(rows)), 5))
    for axis, prefix, title, colors in ((request, "", "Request → 202 (under full load)", ["#4c78a8", "#f28e2b"]),
                                        (e2e, "e2e_", "Accepted → stored (backlog included)", ["#59a14f", "#b07aa1"])):
        p50, p99 = [r.get(f"{prefix}p50_ms") for r in rows], [r.get(f"{prefix}p99_ms") for r in rows]
        bars(axis, labels, {"p50": p50, "p99": p99}, colors)
        axis.set_ylabel("milliseconds")
        axis.set_title(title, fontsize=10)
        axis.legend(fontsize=8, loc="upper left", ncol=2)
        axis.set_ylim(top=max([v or 1 for v in p99]) * 1.2)
        axis.grid(axis="y", alpha=0.3)
    figure.suptitle(f"Latency per load\n{subtitle}", fontsize=10)
    figure.tight_layout()
    latency = os.path.join(out, f"{args.name}-latency.png")
    figure.savefig(latency, dpi=110)
    plt.close(figure)
    print(f"plots: {throughput}, {latency}")


if __name__ == "__main__":
    main()
