#!/usr/bin/env python3
"""Turns bench/run.sh's raw results into the markdown table (stdout).

  report.py RESULTS_TSV SCALE_TSV META_TXT

Every cell was measured `repeats` times with the systems taking turns; a
system's ratio to direct is taken within each repeat (same minute, same
machine state) and the median of those is shown, as are median req/s and
latencies.
"""
import re
import statistics
import sys

results_path, scale_path, meta_path = sys.argv[1:4]

meta, notes = {}, []
with open(meta_path) as f:
    for line in f:
        key, _, value = line.rstrip("\n").partition("=")
        if key == "note":
            if value:
                notes.append(value)
        else:
            meta[key] = value


def fields(text):
    return {k: float(v) for k, v in re.findall(r"(\w+)=(-?[0-9.]+)", text)}


rows = {}  # (system, mode, conns) -> list of dicts per repeat
order = []
with open(results_path) as f:
    for line in f:
        rep, system, mode, conns, result, ticks, measured = line.rstrip("\n").split("\t")
        r = fields(result)
        r["rep"] = int(rep)
        r["ticks"] = int(ticks)
        r["measured"] = measured == "1"
        key = (system, mode, int(conns))
        if key not in rows:
            rows[key] = []
            order.append(key)
        rows[key].append(r)

duration = float(meta.get("duration", "1"))
clk_tck = 100.0


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def cell(system, mode, conns):
    runs = rows.get((system, mode, conns))
    if not runs:
        return None
    direct = {r["rep"]: r for r in rows.get(("direct", mode, conns), [])}
    ratios, added, cpu = [], [], []
    for r in runs:
        d = direct.get(r["rep"])
        if d and d["rps"] > 0:
            ratios.append(r["rps"] / d["rps"])
            added.append((r["p50_us"] - d["p50_us"]) / 1000)
        if r["measured"] and r["requests"] > 0:
            cpu.append(r["ticks"] / clk_tck * 1e6 / r["requests"])
    return {
        "rps": med([r["rps"] for r in runs]),
        "ratio": med(ratios),
        "p50": med([r["p50_us"] / 1000 for r in runs]),
        "added": med(added),
        "p99": med([r["p99_us"] / 1000 for r in runs]),
        "cpu": med(cpu) if cpu else None,
        "errors": int(sum(max(r["errors"], 0) for r in runs)),
        "failed": any(r["errors"] < 0 for r in runs),
    }


def fmt(v, spec, none="-"):
    return none if v is None else format(v, spec)


out = []
p = out.append
p(f"llmux bench, {meta.get('date')}, {meta.get('cores')} cores (shared by wrk, the upstream and the system under test), "
  f"{meta.get('repeats')} interleaved repeat(s) of {meta.get('duration')} s per cell, ~1 KB chat body, "
  f"{'quick' if meta.get('quick') == '1' else 'full'} run in {meta.get('elapsed', '?')} s")
p("")
p("| system | mode | conns | req/s | × direct | p50 ms | p50 added ms | p99 ms | CPU µs/req | errors |")
p("|---|---|---|---|---|---|---|---|---|---|")
for mode in ("json", "sse"):
    conns_seen = sorted({k[2] for k in order if k[1] == mode})
    for conns in conns_seen:
        for (system, m, c) in order:
            if m != mode or c != conns:
                continue
            x = cell(system, mode, conns)
            p(f"| {system} | {mode} | {conns} | {fmt(x['rps'], '.0f')} | {fmt(x['ratio'], '.2f')} | "
              f"{fmt(x['p50'], '.3f')} | {fmt(x['added'], '+.3f')} | {fmt(x['p99'], '.3f')} | "
              f"{fmt(x['cpu'], '.1f')} | {x['errors']}{' (wrk failed)' if x['failed'] else ''} |")

p("")
p("| process | RSS idle MB | RSS peak MB (under the load above, ≤ 128 conns) |")
p("|---|---|---|")
for name in ("llmux", "nginx proxy", "pistache bare", "portkey"):
    idle, peak = meta.get(f"rss_idle/{name}"), meta.get(f"rss_peak/{name}")
    if idle is None:
        continue
    p(f"| {name} | {int(idle) / 1024:.1f} | {int(peak) / 1024:.1f} |" if peak else f"| {name} | {int(idle) / 1024:.1f} | - |")
pss = meta.get("pss_idle/llmux")
if pss:
    p(f"| llmux PSS (shared library pages divided among their users) | {int(pss) / 1024:.1f} | - |")

scale = []
with open(scale_path) as f:
    for line in f:
        what, n, result = line.rstrip("\n").split("\t")
        scale.append((what, int(n), fields(result)))
if scale:
    p("")
    p("| scale: slow streams at once (fresh llmux each) | streams | completed | failed | chunks | open s | RSS before MB | RSS peak MB | "
      "MB per 1k streams | CPU µs/chunk |")
    p("|---|---|---|---|---|---|---|---|---|---|")
    for what, n, r in scale:
        label = "llmux openai (slow upstream)" if what == "openai" else "llmux mock (in process)"
        streams = int(r.get("streams", 0))
        per_k = (r["rss_peak_kb"] - r["rss_base_kb"]) / 1024 / max(streams, 1) * 1000
        p(f"| {label} | {streams} | {int(r['ok'])} | {int(r['failed'])} | {int(r['chunks'])} | {r['open_s']:.1f} | "
          f"{r['rss_base_kb'] / 1024:.1f} | {r['rss_peak_kb'] / 1024:.1f} | {per_k:.1f} | {r['cpu_us_per_chunk']:.1f} |")

# ---- targets (issue 6)
targets = []


def target(name, value, ok, shown):
    targets.append((name, shown if value is not None else "not measured", "-" if value is None else ("met" if ok else "NOT met")))


j32, s32 = cell("llmux openai", "json", 32), cell("llmux openai", "sse", 32)
target("openai plugin JSON at 32 conns ≥ 0.62× direct", j32 and j32["ratio"], j32 and j32["ratio"] is not None and j32["ratio"] >= 0.62,
       j32 and f"{j32['ratio']:.2f}×")
target("openai plugin SSE at 32 conns ≥ 0.66× direct", s32 and s32["ratio"], s32 and s32["ratio"] is not None and s32["ratio"] >= 0.66,
       s32 and f"{s32['ratio']:.2f}×")
for mode in ("json", "sse"):
    c1 = cell("llmux openai", mode, 1)
    target(f"added p50 at 1 conn ≤ 0.06 ms ({mode})", c1 and c1["added"], c1 and c1["added"] is not None and c1["added"] <= 0.06,
           c1 and f"{c1['added']:+.3f} ms")
idle, peak = meta.get("rss_idle/llmux"), meta.get("rss_peak/llmux")
target("RSS idle ≤ 10 MB", idle, idle and int(idle) <= 10 * 1024, idle and f"{int(idle) / 1024:.1f} MB")
target("RSS peak at ≤ 128 conns ≤ 32 MB", peak, peak and int(peak) <= 32 * 1024, peak and f"{int(peak) / 1024:.1f} MB")
for what, n, r in scale:
    if n >= 10000:
        streams = int(r["streams"])
        target(f"{streams} concurrent streams ({what}) within 200 MB", r["rss_peak_kb"], r["rss_peak_kb"] <= 200 * 1024 and r["ok"] == streams,
               f"{r['rss_peak_kb'] / 1024:.0f} MB, {int(r['ok'])}/{streams} completed")
a32 = cell("llmux anthropic", "sse", 32)
if a32 and s32:
    rel = a32["rps"] / s32["rps"] if s32["rps"] else 0
    target("Anthropic in ≤ 10 % below OpenAI pass-through (SSE, 32 conns)", rel, rel >= 0.9, f"{rel:.2f}× of openai")
else:
    target("Anthropic in ≤ 10 % below OpenAI pass-through", None, False, "")
worst = None
for (system, mode, conns) in order:
    if system != "portkey":
        continue
    pk, lx = cell("portkey", mode, conns), cell("llmux openai", mode, conns)
    if pk and lx and pk["rps"]:
        times = lx["rps"] / pk["rps"]
        if worst is None or times < worst[0]:
            worst = (times, mode, conns)
target("never below 30× Portkey (req/s, every cell)", worst and worst[0], worst and worst[0] >= 30,
       worst and f"worst {worst[0]:.0f}× ({worst[1]}, {worst[2]} conns)")

p("")
p("| target | measured | |")
p("|---|---|---|")
for name, shown, status in targets:
    p(f"| {name} | {shown} | {status} |")
notes.append(f"Descriptor limit {meta.get('fd_limit')}: a proxied stream takes two (client and upstream), "
             "so the proxied scale test holds at most (limit - 200) / 2 streams.")
p("")
for n in notes:
    p(f"- {n}")
print("\n".join(out))
