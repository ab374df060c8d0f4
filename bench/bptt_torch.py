#!/usr/bin/env python3
"""bench/bptt_torch.py — PyTorch anchor for bench/bptt_lstm_bench.c: an LSTM (input 64,
hidden 256, batch 16, CPU) over T steps, loss = sum(hs * r), backward; time per training
step and peak RSS (ru_maxrss of a fresh child per configuration), plain and with
torch.utils.checkpoint over sqrt(T) segments (Chen et al. 2016). Markdown rows, like the C
bench. Medians over the timed steps. Threads: torch.set_num_threads($TORCH_THREADS, default
1); OpenBLAS's come from the environment (bench/bptt_run.sh sets them). Usage:
bptt_torch.py [T ...] [--steps=N]   (Debian: /usr/bin/python3 with python3-torch 1.13)"""
import math, os, resource, statistics, subprocess, sys, time

def child(T, ckpt, steps):
    import torch
    from torch.utils.checkpoint import checkpoint
    torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "1")))
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(64, 256)
    xs, r = torch.randn(T, 16, 64), torch.randn(T, 16, 256)
    h0 = torch.zeros(1, 16, 256)
    seg = max(1, math.ceil(math.sqrt(T)))
    def seg_fn(x, h, c):
        y, (h1, c1) = lstm(x, (h, c))
        return y, h1, c1
    def step():
        lstm.zero_grad()
        if not ckpt:
            y, _ = lstm(xs, (h0, h0))
            loss = (y * r).sum()
        else:
            h, c, loss = h0, h0, 0.0
            for s in range(0, T, seg):
                y, h, c = checkpoint(seg_fn, xs[s:s + seg], h, c, use_reentrant=False)
                loss = loss + (y * r[s:s + seg]).sum()
        loss.backward()
    step()
    walls, cpus = [], []
    for _ in range(steps):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"{wall} {cpu} {rss} {torch.__version__} {torch.get_num_threads()}")

def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    steps = next((int(a[8:]) for a in sys.argv[1:] if a.startswith("--steps=")), 5)
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(int(sys.argv[2]), sys.argv[3] == "1", int(sys.argv[4]))
        return
    Ts = [int(a) for a in args] or [100, 1000, 5000]
    print("| T | PyTorch | step ms | CPU ms | peak RSS MB | torch, threads |\n|---|---|---|---|---|---|")
    for T in Ts:
        for ck in (0, 1):
            p = subprocess.run([sys.executable, __file__, "--child", str(T), str(ck), str(steps)],
                               capture_output=True, text=True)
            if p.returncode:
                print(f"| {T} | {'checkpoint' if ck else 'plain'} | error: {p.stderr.strip().splitlines()[-1:]} |")
                continue
            w, c, rss, ver, th = p.stdout.split()
            name = f"checkpoint, sqrt(T) = {math.ceil(math.sqrt(T))} segments" if ck else "plain autograd"
            print(f"| {T} | {name} | {float(w)*1e3:.1f} | {float(c)*1e3:.1f} | {float(rss):.1f} | {ver}, {th} |", flush=True)

if __name__ == "__main__":
    main()
