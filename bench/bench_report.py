#!/usr/bin/python3
"""bench_report.py — tables for scripts/bench.sh from the JSON lines of one run.

  bench_report.py SECTION RESULTS.jsonl SUMMARY_OUT        SECTION: models | lstm | latency

RESULTS holds nnc's lines (bench/lstm_bench, bench/latency_bench, the models section of
scripts/bench.sh) and PyTorch's (bench/torch_models.py), one JSON object per line. Prints
the section's Markdown table on stdout and appends its issue-4 targets to SUMMARY_OUT as
"target|measured|verdict" lines.

Same thread count in each row: nnc with OMP_NUM_THREADS = n is compared with PyTorch's
fastest setting that uses n cores (1: torch 1 thread + OpenBLAS 1; 2: the faster of torch
1 thread + OpenBLAS 2 and torch 2 threads). A target's summary line gives the ratio at
every thread count measured, and its verdict says at which counts the target is met.
"""
import json
import sys

CORES = {"1": 1, "1+blas2": 2, "2": 2, "2-passive": 2}


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    pass
    return rows


def cores(r):
    t = str(r.get("threads"))
    return CORES.get(t, int(t) if t.isdigit() else 0)


def torch_best(rows, bench, impl, n, shape=None):
    """PyTorch's fastest line for bench/impl using n cores (or None)."""
    c = [r for r in rows if r.get("bench") == bench and r.get("impl") == impl and r.get("median") is not None
         and cores(r) == n and (shape is None or r.get("shape") == shape)]
    return min(c, key=lambda r: r["median"]) if c else None


def nnc_line(rows, bench, impl, n, shape=None):
    for r in rows:
        if (r.get("bench") == bench and r.get("impl") == impl and cores(r) == n
                and (shape is None or r.get("shape") == shape)):
            return r
    return None


def cpu(r):
    """Median CPU time of a line: nnc's cpu_median, PyTorch's cpu_ms or cpu_s lists."""
    if not r:
        return None
    if r.get("cpu_median") is not None:
        return r["cpu_median"]
    xs = [x for x in (r.get("cpu_ms") or r.get("cpu_s") or r.get("cpu_us") or []) if x is not None]
    if not xs:
        return None
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])


def fmt(v, d=2):
    return "-" if v is None else ("%." + str(d) + "f") % v


def ratio(a, b):
    return a / b if a is not None and b else None


def verdict(r, limit):
    if r is None:
        return "n/a"
    if r <= limit:
        return "met"
    miss = 100 * (r / limit - 1)
    return "missed by %.*f %%" % (0 if miss >= 1 else 1, miss)


def per_count(rows, bench, nimpl, timpl, counts, target, shape=None):
    """The summary's "measured" and "verdict" over every thread count: each count's ratio
    nnc / PyTorch (both on n cores); met where the ratio is within the target."""
    got = []
    for n in counts:
        a, t = nnc_line(rows, bench, nimpl, n, shape), torch_best(rows, bench, timpl, n, shape)
        r = ratio(a and a["median"], t and t["median"])
        if r is not None:
            got.append((n, r, a, t))
    if not got:
        return "-", "n/a", []
    thr = lambda n: "%d thread%s" % (n, "" if n == 1 else "s")
    measured = ", ".join("%s (%s)" % (fmt(r), thr(n)) for n, r, _, _ in got)
    met = [n for n, r, _, _ in got if r <= target]
    missed = [(n, r) for n, r, _, _ in got if r > target]
    if not missed:
        v = "met"
    elif not met:
        v = "; ".join("%s with %s" % (verdict(r, target), thr(n)) for n, r in missed)
    else:
        v = "met with %s; %s" % (", ".join(thr(n) for n in met),
                                 "; ".join("%s with %s" % (verdict(r, target), thr(n)) for n, r in missed))
    return measured, v, got


def thread_counts(rows, bench):
    return sorted({cores(r) for r in rows if r.get("bench") == bench and str(r.get("impl", "")).startswith("nnc")})


def acc(r):
    a = r.get("accuracy") if r else None
    if isinstance(a, list):
        a = [x for x in a if x is not None]
        a = a[-1] if a else None
    return a


def models(rows, out):
    print("| model | threads | nnc s/epoch | nnc CPU s | nnc accuracy | PyTorch s/epoch | PyTorch CPU s "
          "| PyTorch setting | PyTorch accuracy | nnc / PyTorch |")
    print("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|")
    for bench, name, target in (("mlp_epoch", "Fashion-MNIST MLP", 0.7), ("cnn_epoch", "Fashion-MNIST CNN", 0.7)):
        counts = thread_counts(rows, bench)
        for n in counts:
            a, t = nnc_line(rows, bench, "nnc", n), torch_best(rows, bench, "pytorch", n)
            print("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                name, n, fmt(a and a["median"]), fmt(cpu(a)), fmt(acc(a), 4),
                fmt(t and t["median"]), fmt(cpu(t)), t["threads"] if t else "-", fmt(acc(t), 4),
                fmt(ratio(a and a["median"], t and t["median"]))))
        measured, v, got = per_count(rows, bench, "nnc", "pytorch", counts, target)
        das = [100 * (acc(a) - acc(t)) for _, _, a, t in got if acc(a) is not None and acc(t) is not None]
        if got and not das:
            v += " (accuracy not measured)"
        elif das and max(abs(d) for d in das) > 1:
            v = "missed: accuracy differs by more than 1 point"
        if das:
            measured += "; accuracy %s points" % " / ".join("%+.1f" % d for d in das)
        out.append("%s epoch <= %.1fx PyTorch at equal accuracy|%s|%s" % (name, target, measured, v))


LSTM_SHAPES = [[32, 100, 128, 256], [32, 100, 256, 512], [1, 100, 128, 256]]


def lstm(rows, out):
    print("| B, T, in, hidden | threads | nnc ms | nnc CPU ms | nn.LSTM ms | nn.LSTM CPU ms | setting "
          "| nn.LSTMCell loop ms | setting | nnc / nn.LSTM | nnc / cell loop |")
    print("|---|---:|---:|---:|---:|---:|---|---:|---|---:|---:|")
    counts = thread_counts(rows, "lstm_step")
    for shape in LSTM_SHAPES:
        for n in counts:
            a = nnc_line(rows, "lstm_step", "nnc", n, shape)
            f = torch_best(rows, "lstm_step", "pytorch_fused", n, shape)
            c = torch_best(rows, "lstm_step", "pytorch_cell_loop", n, shape)
            am = a and a["median"]
            print("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                ", ".join(map(str, shape)), n, fmt(am, 1), fmt(cpu(a), 1),
                fmt(f and f["median"], 1), fmt(cpu(f), 1), f["threads"] if f else "-", fmt(c and c["median"], 1),
                c["threads"] if c else "-", fmt(ratio(am, f and f["median"])), fmt(ratio(am, c and c["median"]))))
        target = 0.3 if shape[0] == 1 else 0.6
        measured, v, got = per_count(rows, "lstm_step", "nnc", "pytorch_fused", counts, target, shape)
        if not got and any(torch_best(rows, "lstm_step", "pytorch_fused", n, shape) for n in counts):
            v = "n/a: nnc failed (see the section)"
        out.append("LSTM step (%s) <= %.1fx nn.LSTM|%s|%s" % (", ".join(map(str, shape)), target, measured, v))


def latency(rows, out):
    print("| nnc way | threads | nnc us | nnc CPU us | PyTorch us | PyTorch CPU us | PyTorch setting | nnc / PyTorch |")
    print("|---|---:|---:|---:|---:|---:|---|---:|")
    counts = thread_counts(rows, "mlp_latency")
    names = {"nnc_jit": "JIT (nnc_run)", "nnc_aot": "AOT object"}
    for impl in ("nnc_jit", "nnc_aot"):
        for n in counts:
            a, t = nnc_line(rows, "mlp_latency", impl, n), torch_best(rows, "mlp_latency", "pytorch", n)
            print("| %s | %d | %s | %s | %s | %s | %s | %s |" % (
                names[impl], n, fmt(a and a["median"], 1), fmt(cpu(a), 1),
                fmt(t and t["median"], 1), fmt(cpu(t), 1), t["threads"] if t else "-", fmt(ratio(a and a["median"], t and t["median"]))))
    for impl in ("nnc_jit", "nnc_aot"):
        measured, v, _ = per_count(rows, "mlp_latency", impl, "pytorch", counts, 0.3)
        out.append("MLP batch-1 inference, %s <= 0.3x PyTorch|%s|%s" % (names[impl], measured, v))


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("models", "lstm", "latency"):
        sys.exit("usage: bench_report.py models|lstm|latency RESULTS.jsonl SUMMARY_OUT")
    rows, out = load(sys.argv[2]), []
    globals()[sys.argv[1]](rows, out)
    with open(sys.argv[3], "a") as f:
        for line in out:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
