#!/usr/bin/env python3
"""Turns bench/run.sh's raw results into the markdown table (stdout).

  report.py RESULTS_TSV SCALE_TSV META_TXT [OBSERVABILITY_TSV]
  report.py --observability-only OBSERVABILITY_TSV META_TXT

Every cell was measured `repeats` times with the systems taking turns; a
system's ratio to direct is taken within each repeat (same minute, same
machine state) and the median of those is shown, as are median req/s and
latencies.

The observability comparison (three llmux configurations taking turns: metrics
off + no access log, metrics on, metrics on + access log) is reported as the
median over repeats of each configuration's CPU per request and req/s against
the baseline of the same repeat.
"""
import re
import statistics
import sys

obs_only = len(sys.argv) > 1 and sys.argv[1] == "--observability-only"
if obs_only:
    obs_path, meta_path = sys.argv[2:4]
    results_path = scale_path = None
else:
    results_path, scale_path, meta_path = sys.argv[1:4]
    obs_path = sys.argv[4] if len(sys.argv) > 4 else None

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


def read_results(path):
    """(system, mode, conns) -> list of dicts per repeat, and the keys in order."""
    rows, order = {}, []
    if path is None:
        return rows, order
    with open(path) as f:
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
    return rows, order


rows, order = read_results(results_path)
obs_rows, obs_order = read_results(obs_path)

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


def cpu_per_request(r):
    return r["ticks"] / clk_tck * 1e6 / r["requests"] if r["measured"] and r["requests"] > 0 else None


OBS_BASE = "baseline"
OBS_CONFIGS = [("baseline", "`metrics: {enabled: false}`, no access log"),
               ("metrics", "metrics on (default), no access log"),
               ("metrics + access log", "metrics on, `access_log: FILE`")]


def obs_cell(system, mode, conns):
    """Medians of one configuration, and its cost against the baseline of the same repeat (%)."""
    runs = obs_rows.get((system, mode, conns))
    if not runs:
        return None
    base = {r["rep"]: r for r in obs_rows.get((OBS_BASE, mode, conns), [])}
    cpu_cost, rps_cost = [], []
    for r in runs:
        b = base.get(r["rep"])
        c, cb = cpu_per_request(r), b and cpu_per_request(b)
        if c is not None and cb:
            cpu_cost.append((c / cb - 1) * 100)
        if b and b["rps"] > 0:
            rps_cost.append((1 - r["rps"] / b["rps"]) * 100)
    return {
        "rps": med([r["rps"] for r in runs]),
        "cpu": med([cpu_per_request(r) for r in runs]),
        "cpu_cost": med(cpu_cost), "cpu_cost_range": (min(cpu_cost), max(cpu_cost)) if cpu_cost else None,
        "rps_cost": med(rps_cost), "rps_cost_range": (min(rps_cost), max(rps_cost)) if rps_cost else None,
        "errors": int(sum(max(r["errors"], 0) for r in runs)),
        "failed": any(r["errors"] < 0 for r in runs),
        "requests": sum(r["requests"] for r in runs),
        "csw": med([r["csw"] / r["requests"] for r in runs if "csw" in r and r["requests"] > 0]),
    }


def observability_section(p):
    if not obs_rows:
        return []
    conns = int(meta.get("obs_conns", "32"))
    repeats = len({r["rep"] for runs in obs_rows.values() for r in runs})
    p("")
    p(f"Observability cost, llmux openai (pass-through to the fake upstream), {conns} connections, "
      f"{repeats} interleaved repeat(s) of {meta.get('duration')} s; cost = median over repeats of the change "
      f"against the baseline of the same repeat (range over repeats in brackets; req/s: negative = slower)")
    p("")
    p("| configuration | mode | req/s | CPU µs/req | CPU/req vs baseline | req/s vs baseline | context switches/req | errors |")
    p("|---|---|---|---|---|---|---|---|")

    def pct(v, rng):
        if v is None:
            return "-"
        return f"{v:+.1f} % [{rng[0]:+.1f}, {rng[1]:+.1f}]" if rng else f"{v:+.1f} %"

    cells = {}
    for mode in ("json", "sse"):
        for system, what in OBS_CONFIGS:
            x = obs_cell(system, mode, conns)
            if x is None:
                continue
            cells[(system, mode)] = x
            base = system == OBS_BASE
            p(f"| {system} ({what}) | {mode} | {fmt(x['rps'], '.0f')} | {fmt(x['cpu'], '.1f')} | "
              f"{'-' if base else pct(x['cpu_cost'], x['cpu_cost_range'])} | "
              f"{'-' if base else pct(-x['rps_cost'] if x['rps_cost'] is not None else None, x['rps_cost_range'] and (-x['rps_cost_range'][1], -x['rps_cost_range'][0]))} | "
              f"{fmt(x['csw'], '.2f')} | {x['errors']}{' (wrk failed)' if x['failed'] else ''} |")
    lines = {k.split("/", 1)[1]: int(v) for k, v in meta.items() if k.startswith("obs_log_lines/")}
    if lines:
        logged = sum(lines.values())
        asked = sum(r["requests"] for r in obs_rows.get(("metrics + access log", "json", conns), []) +
                    obs_rows.get(("metrics + access log", "sse", conns), []))
        p("")
        p(f"Access log: {logged} lines written for {int(asked)} requests completed by wrk "
          f"(requests wrk cut off at the end of a cell are logged too); "
          f"llmux_access_log_dropped_total {meta.get('obs_log_dropped', 'unknown')}.")
    return cells


OBS_NOTE = ("`metrics: {enabled: false}` records nothing, so the baseline is llmux without observability. "
            "The targets are judged on CPU per request (req/s moves with everything else the shared "
            "cores run).")


def observability_targets(cells, conns):
    out = []
    for mode in ("json", "sse"):
        for system in ("metrics", "metrics + access log"):
            x = cells.get((system, mode)) if cells else None
            v = x and x["cpu_cost"]
            out.append((f"{system}: CPU per request < 3 % over the baseline ({mode}, {conns} conns)",
                        "not measured" if v is None else f"{v:+.1f} % [{x['cpu_cost_range'][0]:+.1f}, {x['cpu_cost_range'][1]:+.1f}]",
                        "-" if v is None else ("met" if v < 3 else "NOT met")))
    return out


out = []
p = out.append
if obs_only:
    p(f"llmux bench (observability only), {meta.get('date')}, {meta.get('cores')} cores (shared by wrk, the "
      f"upstream and the systems under test), ~1 KB chat body, {'quick' if meta.get('quick') == '1' else 'full'} "
      f"run in {meta.get('elapsed', '?')} s")
    cells = observability_section(p)
    p("")
    p("| target | measured | |")
    p("|---|---|---|")
    for name, shown, status in observability_targets(cells, int(meta.get("obs_conns", "32"))):
        p(f"| {name} | {shown} | {status} |")
    p("")
    p(f"- {OBS_NOTE}")
    print("\n".join(out))
    sys.exit(0)
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

obs_cells = observability_section(p)

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

# ---- targets (issue 14): llmux against the bare nginx hop of the same run
targets = []


def target(name, value, ok, shown):
    targets.append((name, shown if value is not None else "not measured", "-" if value is None else ("met" if ok else "NOT met")))


s32 = cell("llmux openai", "sse", 32)
for mode in ("json", "sse"):
    for conns in (32, 128):
        lx, hop = cell("llmux openai", mode, conns), cell("nginx proxy", mode, conns)
        if not lx or not hop or lx["ratio"] is None or hop["ratio"] is None:
            continue
        target(f"openai plugin {mode.upper()} at {conns} conns ≥ the nginx hop's ratio to direct", lx["ratio"],
               lx["ratio"] >= hop["ratio"], f"{lx['ratio']:.2f}× (hop {hop['ratio']:.2f}×)")
for mode in ("json", "sse"):
    c1, hop1 = cell("llmux openai", mode, 1), cell("nginx proxy", mode, 1)
    if c1 and hop1 and c1["added"] is not None and hop1["added"] is not None:
        target(f"added p50 at 1 conn ≤ the hop's + 0.02 ms ({mode})", c1["added"], c1["added"] <= hop1["added"] + 0.02,
               f"{c1['added']:+.3f} ms (hop {hop1['added']:+.3f})")
idle, peak = meta.get("rss_idle/llmux"), meta.get("rss_peak/llmux")
target("RSS idle ≤ 10 MB", idle, idle and int(idle) <= 10 * 1024, idle and f"{int(idle) / 1024:.1f} MB")
target("RSS peak at ≤ 128 conns ≤ 32 MB", peak, peak and int(peak) <= 32 * 1024, peak and f"{int(peak) / 1024:.1f} MB")
proxied = {n: r for what, n, r in scale if what == "openai"}
for what, n, r in scale:
    if n >= 9000:
        streams = int(r["streams"])
        target(f"{streams} concurrent streams ({what}) within 100 MB, all completed", r["rss_peak_kb"],
               r["rss_peak_kb"] <= 100 * 1024 and r["ok"] == streams,
               f"{r['rss_peak_kb'] / 1024:.0f} MB, {int(r['ok'])}/{streams} completed")
small = [n for n in proxied if n < 9000]
large = [n for n in proxied if n >= 9000]
if small and large:
    base, high = proxied[max(small)], proxied[max(large)]
    rel = high["cpu_us_per_chunk"] / base["cpu_us_per_chunk"] if base["cpu_us_per_chunk"] else 0
    target(f"CPU per chunk at {int(high['streams'])} streams within 1.25× of {int(base['streams'])}", rel, rel <= 1.25,
           f"{rel:.2f}× ({high['cpu_us_per_chunk']:.1f} against {base['cpu_us_per_chunk']:.1f} µs)")
a32 = cell("llmux anthropic", "sse", 32)
if a32 and s32:
    rel = a32["rps"] / s32["rps"] if s32["rps"] else 0
    target("Anthropic in ≤ 10 % below OpenAI pass-through (SSE, 32 conns)", rel, rel >= 0.9, f"{rel:.2f}× of openai")
else:
    target("Anthropic in ≤ 10 % below OpenAI pass-through", None, False, "")
r32 = cell("llmux responses", "sse", 32)
if r32 and s32:
    rel = r32["rps"] / s32["rps"] if s32["rps"] else 0
    target("Responses in (translated) ≤ 10 % below chat pass-through (SSE, 32 conns)", rel, rel >= 0.9,
           f"{rel:.2f}× of openai")
worst = None
for (system, mode, conns) in order:
    if system != "portkey" or conns < 32:
        continue
    pk, lx = cell("portkey", mode, conns), cell("llmux openai", mode, conns)
    if pk and lx and pk["rps"]:
        times = lx["rps"] / pk["rps"]
        if worst is None or times < worst[0]:
            worst = (times, mode, conns)
target("≥ 30× Portkey (req/s, every cell at 32 and 128 conns)", worst and worst[0], worst and worst[0] >= 30,
       worst and f"worst {worst[0]:.0f}× ({worst[1]}, {worst[2]} conns)")
if obs_cells:
    for name, shown, status in observability_targets(obs_cells, int(meta.get("obs_conns", "32"))):
        targets.append((name, shown, status))
    notes.append(OBS_NOTE)

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
