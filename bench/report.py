"""Rendering of the benchmark's figures: the text bench/run.py prints, bench/RESULTS.md and its
SVG charts.  Pure functions of the results dict bench/run.py builds (also saved as
.build-bench/last-run.json), standard library only.

Sizes are in MB = 10^6 bytes throughout (VmHWM, reported by the kernel in KiB, is converted), so
"5 MB batch" and "20 MB" mean what they say.
"""

from __future__ import annotations

import html
from pathlib import Path

MB = 1_000_000
KEYS = ("swift", "python", "floor")
LABELS = {"swift": "Swift", "python": "Python", "floor": "floor", "floor_libcurl": "floor + libcurl"}
COLOURS = {"swift": "#f05138", "python": "#3572a5", "floor": "#8a8a8a"}
SUMMARY_HEADER = ["figure", "Swift", "Python", "floor", "Swift/Python", "Swift/floor"]


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _median(values: list[float]) -> float:
    return sorted(values)[(len(values) - 1) // 2]


def _fmt(value: float | None, kind: str) -> str:
    if value is None:
        return "–"
    if kind == "count":
        return f"{value:,.0f}"
    if kind == "ratio":
        return f"{value:.3f}" if value < 10 else f"{value:.1f}"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if kind == "mb" or value >= 1 else f"{value:.3f}"


def _table(header: list[str], rows: list[list[str]], align: str, text: bool = False) -> str:
    """A Markdown table, or (TEXT) the same columns padded for a terminal; ALIGN is l or r per column."""
    if not text:
        rule = "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"
        return "\n".join(["| " + " | ".join(header) + " |", rule, *("| " + " | ".join(row) + " |" for row in rows)])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(cells, widths, align))

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *map(line, rows)])


def _verdicts(target_list: list[dict], missed: str, text: bool = False) -> str:
    """The targets with PASS or MISSED (FAIL, MISS) as a Markdown table, or (TEXT) as lines."""
    if not text:
        return _table(["target", "measured", "result"],
                      [[t["text"], t["measured"], f"**{'PASS' if t['pass'] else missed}**"] for t in target_list],
                      "lrl")
    width = max(len(t["text"]) for t in target_list)
    return "\n".join(f"{'PASS' if t['pass'] else missed}  {t['text'].ljust(width)}  {t['measured']}"
                     for t in target_list)


def targets(r: dict) -> list[dict]:
    """The issue's targets, each with the measured value and PASS/FAIL."""
    cold = {k: r["cold"][k]["cold_ms"]["p50"] for k in KEYS}
    warm = {k: r["warm"][k]["latency_ms"]["p50"] for k in KEYS}
    rss = {k: r["warm"][k]["peak_rss"] for k in KEYS}
    batch = r["large_batch"]
    out = []

    def add(text: str, measured: str, ok: bool) -> None:
        out.append({"text": text, "measured": measured, "pass": ok})

    ratio = cold["swift"] / cold["python"]
    add("cold start ≤ 1/20 of Python's", f"{ratio:.4f} = 1/{1 / ratio:.0f}", ratio <= 1 / 20)
    ratio = warm["swift"] / warm["floor"]
    add("warm p50 ≤ 1.15 × floor's", f"{ratio:.3f} ×", ratio <= 1.15)
    ratio = warm["swift"] / warm["python"]
    add("warm p50 ≤ 1/2 of Python's", f"{ratio:.3f} = 1/{1 / ratio:.1f}", ratio <= 0.5)
    ratio = rss["swift"] / rss["python"]
    add("peak RSS ≤ 1/3 of Python's", f"{ratio:.3f} = 1/{1 / ratio:.1f}", ratio <= 1 / 3)
    added, limit = batch["swift"]["added"], 4 * batch["bytes"]
    add(f"{batch['bytes'] / MB:.0f} MB batch adds ≤ {limit / MB:.0f} MB (4 × its size) to peak RSS",
        f"+{added / MB:.1f} MB", added <= limit)
    size = r["sizes"]["swift_zip"]
    add("zip ≤ 12 MB", f"{size / MB:.2f} MB", size <= 12 * MB)
    return out


def _summary_rows(r: dict) -> list[list[str]]:
    """The summary table: each figure per function, and Swift's over Python's and the floor's."""
    cold, warm, batch, sizes = r["cold"], r["warm"], r["large_batch"], r["sizes"]

    def per(getter) -> dict:
        out = {}
        for k in KEYS:
            try:
                out[k] = getter(k)
            except (KeyError, TypeError):  # not measured: the floor's batch, a missing log
                out[k] = None
        return out

    rows = [
        ("cold start, median (ms)", per(lambda k: cold[k]["cold_ms"]["p50"]), "ms"),
        ("cold start, p90 (ms)", per(lambda k: cold[k]["cold_ms"]["p90"]), "ms"),
        ("first invocation, client (ms)", per(lambda k: cold[k]["first_invoke_ms"]["p50"]), "ms"),
        ("warm p50 (ms)", per(lambda k: warm[k]["latency_ms"]["p50"]), "ms"),
        ("warm p90 (ms)", per(lambda k: warm[k]["latency_ms"]["p90"]), "ms"),
        ("warm p99 (ms)", per(lambda k: warm[k]["latency_ms"]["p99"]), "ms"),
        ("stand-in service p50 (ms)", per(lambda k: warm[k]["standin_ms"]["p50"]), "ms"),
        ("peak RSS, warm (MB)", per(lambda k: warm[k]["peak_rss"] / MB), "mb"),
        ("  of which anonymous (MB)", per(lambda k: warm[k]["memory"]["status"]["RssAnon"] / MB), "mb"),
        (f"{batch['bytes'] / MB:.0f} MB batch latency, median (ms)",
         per(lambda k: _median(batch[k]["latency_ms"])), "ms"),
        ("  of which stand-in (ms)", per(lambda k: _median(batch[k]["standin_ms"])), "ms"),
        (f"{batch['bytes'] / MB:.0f} MB batch: peak RSS added (MB)", per(lambda k: batch[k]["added"] / MB), "mb"),
        ("package zip (MB)", {"swift": sizes["swift_zip"] / MB, "python": sizes["python_zip"] / MB,
                              "floor": None}, "mb"),
        ("package unpacked (MB)", {"swift": sizes["swift_unpacked"] / MB,
                                   "python": sizes["python_unpacked"] / MB,
                                   "floor": sizes["floor_unpacked"] / MB}, "mb"),
        ("instructions / warm invocation",
         {"swift": r["callgrind"]["ir_per_invocation"], "python": None, "floor": None}, "count"),
    ]
    return [[name, *(_fmt(values[k], kind) for k in KEYS),
             _fmt(_ratio(values["swift"], values["python"]), "ratio"),
             _fmt(_ratio(values["swift"], values["floor"]), "ratio")] for name, values, kind in rows]


def libcurl_reference(r: dict) -> str:
    """The floor with its SageMaker POST through libcurl: what the mandated library alone costs."""
    p50 = {k: r["warm"][k]["latency_ms"]["p50"] for k in ("swift", "floor", "floor_libcurl")}
    return (f"Reference, warm p50: floor + libcurl {p50['floor_libcurl']:.3f} ms = "
            f"{p50['floor_libcurl'] / p50['floor']:.3f} × floor; Swift = "
            f"{p50['swift'] / p50['floor_libcurl']:.3f} × floor + libcurl.")


def arm64_text(r: dict) -> str:
    """The arm64 package, emulated: its size, and that it starts and serves (runs before the
    arm64 package existed have no figures)."""
    a = r.get("arm64_emulated")
    if not a:
        return "arm64 package: not measured in this run."
    return (f"arm64 package (dist/summarizer-lambda-arm64.zip): {a['zip']:,} bytes zipped, {a['unpacked']:,} "
            f"unpacked. Under qemu-aarch64-static on this x86_64 machine (EMULATED, not comparable with "
            f"any figure above nor with Graviton): cold start median {a['cold_ms']['p50']:.1f} ms "
            f"({a['cold_ms']['n']} starts), warm p50 {a['warm_ms']['p50']:.2f} ms, p99 "
            f"{a['warm_ms']['p99']:.2f} ms ({a['warm_ms']['n']} invocations).")


def summary_text(r: dict) -> str:
    """What bench/run.py prints: the summary and the concurrency section, with their targets."""
    c = r["concurrency"]
    return "\n".join([
        _table(SUMMARY_HEADER, _summary_rows(r), "lrrrrr", text=True), "",
        _verdicts(targets(r), "FAIL", text=True), "",
        libcurl_reference(r), "",
        arm64_text(r), "",
        f"Many at once: AWS_LAMBDA_MAX_CONCURRENCY=N, SageMaker answering in {c['service_ms']} ms, "
        f"{c['rounds']} bursts of N",
        _table(CONCURRENCY_HEADER, _concurrency_rows(r), CONCURRENCY_ALIGN, text=True), "",
        _verdicts(concurrency_targets(r), "MISS", text=True),
    ])


def files(r: dict) -> dict[str, str]:
    """RESULTS.md and its charts, by file name."""
    return {"results.svg": svg(r), "results-concurrency.svg": concurrency_svg(r), "RESULTS.md": markdown(r)}


def markdown(r: dict) -> str:
    m, a = r["machine"], r["args"]
    summary = _table(SUMMARY_HEADER, _summary_rows(r), "lrrrrr")
    goals = _verdicts(targets(r), "FAIL")

    def dist(d: dict) -> list[str]:
        return [_fmt(d[q], "ms") for q in ("min", "p50", "p90", "p99", "max", "mean")]

    cold_rows = [[LABELS[k], str(r["cold"][k]["cold_ms"]["n"]), *dist(r["cold"][k]["cold_ms"]),
                  _fmt(r["cold"][k]["rie_init_ms"]["p50"], "ms")] for k in KEYS]
    cold_table = _table(["function", "starts", "min", "median", "p90", "p99", "max", "mean",
                         "RIE \"Init Duration\" median (not used)"], cold_rows, "lrrrrrrrr")
    warm_rows = []
    for k in (*KEYS, "floor_libcurl"):
        w = r["warm"][k]
        s = w["standin_ms"] or {}
        warm_rows.append([LABELS[k], str(w["latency_ms"]["n"]), *dist(w["latency_ms"]),
                          _fmt(s.get("p50"), "ms"), _fmt(s.get("p99"), "ms"),
                          _fmt(w["hwm_after_first"] / MB, "mb"), _fmt(w["peak_rss"] / MB, "mb")])
    warm_table = _table(["function", "invocations", "min", "p50", "p90", "p99", "max", "mean",
                         "stand-in p50", "stand-in p99", "VmHWM after 1st (MB)", "VmHWM warm (MB)"],
                        warm_rows, "lrrrrrrrrrrr")
    b = r["large_batch"]
    batch_rows = [[LABELS[k], ", ".join(_fmt(x, "ms") for x in b[k]["latency_ms"]),
                   ", ".join(_fmt(x, "ms") for x in b[k]["standin_ms"]),
                   _fmt(b[k]["hwm_before"] / MB, "mb"), _fmt(b[k]["hwm_after"] / MB, "mb"),
                   _fmt(b[k]["added"] / MB, "mb"), _fmt(b[k]["answer_bytes"] / MB, "mb")]
                  for k in ("swift", "python")]
    batch_table = _table(["function", "latency (ms)", "stand-in (ms)", "VmHWM before (MB)",
                          "VmHWM after (MB)", "added (MB)", "answer (MB)"], batch_rows, "lrrrrrr")
    s = r["sizes"]

    memory_parts = []
    for k in ("swift", "python"):
        mem = r["warm"][k]["memory"]
        st = mem["status"]
        memory_parts.append(
            f"{LABELS[k]}: VmRSS {st.get('VmRSS', 0) / MB:.1f} MB = anonymous {st.get('RssAnon', 0) / MB:.1f} "
            f"+ file-backed {st.get('RssFile', 0) / MB:.1f} MB; largest mappings: "
            + ", ".join(f"{html.escape(name)} {size / MB:.1f}" for name, size in mem["mappings"]) + " (MB).")
    memory_text = "\n\n".join(memory_parts)
    processes = "\n".join(f"- {LABELS[k]}: `{r['warm'][k]['cmdline'][:200]}`" for k in KEYS)

    c = r["callgrind"]
    by_object = _table(["object", "instructions / invocation", "share"],
                       [[o["object"], f"{o['ir_per_invocation']:,.0f}", f"{o['percent']:.1f}%"]
                        for o in c["profile"]["objects"][:8]], "lrr")
    top = _table(["instructions / invocation", "share", "function", "object"],
                 [[f"{t['ir_per_invocation']:,.0f}", f"{t['percent']:.1f}%",
                   "`" + t["function"].replace("|", "\\|")[:140] + "`", t["object"]]
                  for t in c["profile"]["functions"]], "rrll")
    trees = "\n\n".join("```\n" + tree + "\n```" for tree in c["profile"]["trees"])
    callgrind_text = (
        f"{c['invocations']} warm invocations: {c['warm_total_ir']:,} instructions, "
        f"**{c['ir_per_invocation']:,.0f} per invocation**; init plus the first "
        f"(cold) invocation: {c['init_and_first_ir']:,}."
        "\n\nCall tree of the warm path:\n\n" + trees
        + "\n\nBy object (self cost):\n\n" + by_object
        + "\n\nTop functions by self cost" + ("" if c["symbols"] else
        "; the binary's own names are missing because .build/release/bootstrap did not match "
        "the packaged binary") + ":\n\n" + top)

    load_before = ", ".join(f"{x:.2f}" for x in m["load_before"])
    load_after = ", ".join(f"{x:.2f}" for x in m["load_after"])
    return f"""# Benchmark: Swift bootstrap vs the Python handler vs a C floor

Written by `make bench` (`bench/run.py`); do not edit by hand, rerun it. How each figure is
measured: [METHOD.md](METHOD.md).

![cold start, warm p50 and peak RSS of the three functions](results.svg)

## Targets

{goals}

## Summary

{summary}

{libcurl_reference(r)}

## Machine and run

| | |
|---|---|
| date | {m['date']} |
| CPU | {m['cpu']} |
| cores | {m['cores']} ({m['cores_usable']} usable), {m['memory_gib']} GiB |
| OS, kernel | {m['os']}, Linux {m['kernel']} |
| Swift | {m['swift']} |
| Python (baseline) | {m['python']}, awslambdaric and boto3 as pinned in `bench/requirements.txt` |
| C (floor) | {m['cc']}, `-O2 -static`, libcrypto's SHA-256 |
| valgrind | {m['valgrind']} |
| commit | {m['commit']} |
| load average (1, 5, 15 min) | before {load_before}; after {load_after} |
| counts | {a['starts']} cold starts, {a['invocations']} warm invocations (after {r['warm']['swift']['warmup']} unrecorded) in {a['warm_blocks']} interleaved blocks, {a['large_reps']} × the batch, {a['callgrind_invocations']} under callgrind, per function |
| duration | {r['elapsed_s']:.0f} s |

Commands:

```sh
make bench            # = make package; bench/setup.sh; python3 bench/run.py
{a['command']}
```

## Cold start (ms)

{cold_table}

## Warm invocations (ms)

{warm_table}

Resident memory after the warm invocations (`/proc/PID/status`, `/proc/PID/smaps`):

{memory_text}

The measured processes, as `/proc/PID/cmdline` shows them:

{processes}

## {b['bytes'] / MB:.0f} MB batch

{b['articles']:,} distinct articles, {b['bytes']:,} bytes of JSON, sent {a['large_reps']} time(s) to
the warm Swift and Python processes.

{batch_table}

## Package size

| | zip | unpacked |
|---|---:|---:|
| Swift (`dist/summarizer-lambda.zip`, `dist/package`) | {s['swift_zip']:,} | {s['swift_unpacked']:,} |
| Python (handler + bootstrap + pinned requirements) | {s['python_zip']:,} | {s['python_unpacked']:,} |
| Python on the managed runtime (`handler.py` only) | {s['python_handler_only_zip']:,} | – |
| floor (static binary, no zip) | – | {s['floor_unpacked']:,} |

## arm64 package (emulated)

{arm64_text(r)}

## Swift warm path under callgrind

{callgrind_text}

{concurrency_markdown(r)}{_carried("SOAK.md")}{_carried("IMPROVEMENTS.md").rstrip()}
"""


def _carried(name: str) -> str:
    """A hand-kept part of RESULTS.md, carried into every rewrite: bench/SOAK.md (the soaks'
    figures; `make bench` does not run them) and bench/IMPROVEMENTS.md (what was changed and
    what it gained)."""
    path = Path(__file__).resolve().parent / name
    return path.read_text().strip() + "\n\n" if path.exists() else ""


def svg(r: dict) -> str:
    """Cold start, warm p50 and peak RSS, one bar per function, with Swift's targets."""
    cold = {k: r["cold"][k]["cold_ms"]["p50"] for k in KEYS}
    warm = {k: r["warm"][k]["latency_ms"]["p50"] for k in KEYS}
    rss = {k: r["warm"][k]["peak_rss"] / MB for k in KEYS}

    def bars(values: dict) -> list:
        return [(LABELS[k], [(k, values[k])]) for k in KEYS]

    panels = [
        ("cold start (median), ms", "ms", bars(cold), cold["python"] / 20),
        ("warm latency (p50), ms", "ms", bars(warm), min(1.15 * warm["floor"], warm["python"] / 2)),
        ("peak RSS (VmHWM), MB", "MB", bars(rss), rss["python"] / 3),
    ]
    return _chart(r, "Swift bootstrap vs Python handler vs C floor (lower is better)",
                  "RIE + SageMaker stand-in on loopback", panels, bar_w=54, gap=16)


def _chart(r: dict, title: str, setting: str, panels: list, bar_w: float, gap: float) -> str:
    """Three panels of (title, unit, groups, Swift's target or None), each on its own linear
    scale from zero; a group is (caption, [(function key, value)]), one bar per function with its
    value on top; a dashed line over Swift's bar marks its target; a legend when groups pair bars."""
    width, height = 780, 300
    panel_w, top, bottom = 240, 52, 240
    parts = []
    for index, (panel_title, unit, groups, target) in enumerate(panels):
        x0 = 20 + index * (panel_w + 15)
        scale = (bottom - top - 22) / (max(*(v for _, bars in groups for _, v in bars), target or 0) or 1)
        parts.append(f'<text x="{x0 + panel_w / 2}" y="{top - 12}" font-size="13" '
                     f'text-anchor="middle">{html.escape(panel_title)}</text>')
        parts.append(f'<line x1="{x0}" y1="{bottom}" x2="{x0 + panel_w}" y2="{bottom}" stroke="#333"/>')
        group_w = len(groups[0][1]) * bar_w + gap
        x = x0 + (panel_w - len(groups) * group_w + gap) / 2
        for caption, bars in groups:
            parts.append(f'<text x="{x + len(bars) * bar_w / 2 - 1:.1f}" y="{bottom + 15}" font-size="11" '
                         f'text-anchor="middle">{html.escape(caption)}</text>')
            for key, value in bars:
                h = max(1.0, scale * value)
                name = LABELS[key] if len(bars) == 1 else f"{LABELS[key]}, {caption}"
                parts.append(f'<rect x="{x:.1f}" y="{bottom - h:.1f}" width="{bar_w - 2:.1f}" height="{h:.1f}" '
                             f'fill="{COLOURS[key]}"><title>{html.escape(name)}: {value:.3f} {unit}</title></rect>')
                label_y = bottom - h - 4
                if key == "swift" and target is not None:
                    ty = bottom - scale * target
                    label_y = min(label_y, ty - 4)  # above the target line too, so the two never overlap
                    parts.append(f'<line x1="{x - 6:.1f}" y1="{ty:.1f}" x2="{x + bar_w + 4:.1f}" y2="{ty:.1f}" '
                                 f'stroke="#000" stroke-width="1.5" stroke-dasharray="4 3">'
                                 f'<title>target for Swift: {target:.3f} {unit}</title></line>')
                    parts.append(f'<text x="{x - 8:.1f}" y="{ty + 3:.1f}" font-size="9" '
                                 f'text-anchor="end">target</text>')
                parts.append(f'<text x="{x + (bar_w - 2) / 2:.1f}" y="{label_y:.1f}" '
                             f'font-size="{11 if bar_w > 40 else 9}" text-anchor="middle">'
                             f'{_fmt(value, "mb" if unit == "MB" else "ms")}</text>')
                x += bar_w
            x += gap
    first_group = panels[0][2][0][1]
    if len(first_group) > 1:  # the captions name groups, not functions: a legend does
        for i, (key, _) in enumerate(first_group):
            parts.append(f'<rect x="{300 + i * 100}" y="{height - 40}" width="12" height="12" fill="{COLOURS[key]}"/>')
            parts.append(f'<text x="{316 + i * 100}" y="{height - 30}" font-size="12">{LABELS[key]}</text>')
    m = r["machine"]
    return "\n".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{width // 2}" y="22" font-size="15" text-anchor="middle" font-weight="bold">'
        f'{html.escape(title)}</text>',
        *parts,
        f'<text x="{width // 2}" y="{height - 12}" font-size="10" fill="#555" text-anchor="middle">'
        f'{html.escape(m["date"])} · {html.escape(m["cpu"])} · {m["cores"]} cores · '
        f'Linux {html.escape(m["kernel"])} · {html.escape(setting)}</text>',
        "</svg>",
    ]) + "\n"


# --------------------------------------------------------------------------
# Many at once: AWS_LAMBDA_MAX_CONCURRENCY (issue 15, Lambda Managed Instances)
# --------------------------------------------------------------------------

CONCURRENCY_KEYS = ("swift", "python")
CONCURRENCY_HEADER = ["N", "function", "invocations/s", "p50 (ms)", "p99 (ms)", "burst of N, median (ms)",
                      "same, inside the Runtime API (ms)",
                      "/next held", "most in flight", "processes", "peak RSS, all processes (MB)"]
CONCURRENCY_ALIGN = "llrrrrrrrrr"


def concurrency_targets(r: dict) -> list[dict]:
    """The issue's concurrency targets, measured at the largest N run (64 in a full run)."""
    c = r["concurrency"]
    runs, service_ms = c["runs"], c["service_ms"]
    low, high = min(c["levels"]), max(c["levels"])
    swift_high, swift_low, python_high = runs["swift"][str(high)], runs["swift"][str(low)], runs["python"][str(high)]
    out = []
    # Judged inside the Runtime API, where Lambda would see it: from the first event queued to the
    # last answer posted. The bench client's own round trips (Python threads over loopback HTTP,
    # on the same two cores) are in the client-side column, not in the function's time.
    wall, limit = swift_high["burst_runtime_ms"]["p50"], 2 * service_ms
    out.append({"text": f"N={high}: {high} invocations done within 2 × service time ({limit} ms), median burst in the Runtime API",
                "measured": f"{wall:.0f} ms", "pass": wall <= limit})
    if high > low:
        growth = (swift_high["rss_total"] - swift_low["rss_total"]) / (high - low)
        out.append({"text": f"Swift RSS grows < 0.5 MB per added worker (N={low} → {high})",
                    "measured": f"{growth / MB:+.3f} MB/worker", "pass": growth < 0.5 * MB})
    ratio = swift_high["rss_total"] / python_high["rss_total"]
    out.append({"text": f"N={high}: Swift's memory < 1/50 of Python's total",
                "measured": f"{ratio:.4f} = 1/{1 / ratio:.0f}", "pass": ratio < 1 / 50})
    return out


def _concurrency_rows(r: dict) -> list[list[str]]:
    c = r["concurrency"]
    rows = []
    for n in c["levels"]:
        for k in CONCURRENCY_KEYS:
            x = c["runs"][k][str(n)]
            rows.append([str(n), LABELS[k], f"{x['throughput']:.1f}", _fmt(x["latency_ms"]["p50"], "ms"),
                         _fmt(x["latency_ms"]["p99"], "ms"), _fmt(x["burst_wall_ms"]["p50"], "ms"),
                         _fmt(x["burst_runtime_ms"]["p50"], "ms"),
                         str(x["workers_polling"]), str(x["peak_in_flight"]), str(x["processes"]),
                         _fmt(x["rss_total"] / MB, "mb")])
    return rows


def concurrency_markdown(r: dict) -> str:
    """RESULTS.md's section on many invocations at once."""
    c = r["concurrency"]
    return f"""## Many at once (AWS_LAMBDA_MAX_CONCURRENCY)

![throughput, p99 latency and memory per N](results-concurrency.svg)

AWS_LAMBDA_MAX_CONCURRENCY=N, SageMaker answering in {c['service_ms']} ms, {c['rounds']} bursts of N
per N ([METHOD.md](METHOD.md#many-at-once)).

{_table(CONCURRENCY_HEADER, _concurrency_rows(r), CONCURRENCY_ALIGN)}

{_verdicts(concurrency_targets(r), "MISS")}

"""


def concurrency_svg(r: dict) -> str:
    """Throughput, p99 latency and peak RSS of all processes, a pair of bars (Swift, Python) per N."""
    c = r["concurrency"]

    def groups(getter) -> list:
        return [(f"N={n}", [(k, getter(c["runs"][k][str(n)])) for k in CONCURRENCY_KEYS]) for n in c["levels"]]

    panels = [
        ("throughput, /s (higher is better)", "/s", groups(lambda x: x["throughput"]), None),
        ("latency p99, ms", "ms", groups(lambda x: x["latency_ms"]["p99"]), None),
        ("peak RSS of all processes, MB", "MB", groups(lambda x: x["rss_total"] / MB), None),
    ]
    bar_w = min(28, (240 - 20) / (len(c["levels"]) * 3))
    return _chart(r, f"AWS_LAMBDA_MAX_CONCURRENCY=N, SageMaker answering in {c['service_ms']} ms: "
                  "Swift vs Python", "concurrent Runtime API + SageMaker stand-in on loopback",
                  panels, bar_w=bar_w, gap=bar_w)
