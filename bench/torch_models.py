#!/usr/bin/python3
"""torch_models.py — PyTorch anchors for the model benchmarks (issue 4 item 4 b-d).

Measures, on the CPU, with PyTorch (Debian's python3-torch):
  mlp_epoch     the Fashion-MNIST MLP of examples/fashion_mlp.nn (784-256-256-10, ReLU,
                Adam lr 1e-3, batch 128, shuffled, last partial batch dropped): seconds for
                one training epoch, then test accuracy on t10k
  cnn_epoch     the CNN of examples/fashion_cnn.nn (conv 5x5x32, max-pool 2, conv 5x5x64,
                max-pool 2, dense 1024, dense 10; Adam lr 1e-3, batch 64): the same
  lstm_step     one training step of a one-layer LSTM over (B, T, in, hidden): forward
                over T steps from zero state, loss = mean(h^2) over all states, backward,
                SGD update (lr 0.01); milliseconds, with nn.LSTM ("fused") and with a
                hand-written nn.LSTMCell loop ("cell_loop")
  mlp_latency   batch-1 inference of the MLP (no_grad): microseconds per call (median of
                --runs runs of 2000 calls)
Each result is a median over several runs (the machine is shared: use medians) and is
printed as one JSON line: {"bench", "impl", "threads", "median", "unit", "runs", ...}.

Thread settings (each run in a fresh process, since BLAS reads its settings at load):
  "1"        torch.set_num_threads(1), OPENBLAS_NUM_THREADS=1, OPENBLAS_CORETYPE=SkylakeX
             (one core: the anchor of nnc's one-thread rows)
  "1+blas2"  torch.set_num_threads(1), OPENBLAS_NUM_THREADS=2, OPENBLAS_CORETYPE=SkylakeX
  "2"        torch.set_num_threads(2), OPENBLAS_NUM_THREADS=2, OPENBLAS_CORETYPE=SkylakeX
  "2-passive"  the same with OMP_WAIT_POLICY=passive: on a loaded machine OpenMP's default
             spin-waiting makes "2" 10-20x slower (and burn ~8x the CPU); run by --threads
             2-passive or all

Usage: /usr/bin/python3 bench/torch_models.py [--threads 1|1+blas2|2|2-passive|all] [--only mlp_epoch,...]
       [--runs N] [--epoch-runs N] [--epoch-batches N] [--lstm-steps N] [--quick]
(Debian's /usr/bin/python3: the packaged torch; scripts/bench-setup.sh installs it.)
--epoch-batches N times the first N batches of each epoch and scales to the whole epoch
(no accuracy then): for slow settings on a loaded machine. Each line also carries the
CPU seconds of the process (cpu_s, cpu_ms) and the 1-minute load average when printed.
--quick times 50 batches per epoch instead of the whole epoch (accuracy is then not
reported) and fewer LSTM steps: a smoke test, not a measurement.
"""
import argparse
import gzip
import json
import os
import struct
import subprocess
import sys
import time

SETTINGS = {"1": 1, "1+blas2": 1, "2": 2, "2-passive": 2}
DATA = "/usr/share/datasets/fashion-mnist"
LSTM_SHAPES = [(32, 100, 128, 256), (32, 100, 256, 512), (1, 100, 128, 256)]


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", default="all", choices=["all"] + list(SETTINGS))
    ap.add_argument("--only", default="mlp_epoch,cnn_epoch,lstm_step,mlp_latency")
    ap.add_argument("--runs", type=int, default=5, help="runs of the short benchmarks")
    ap.add_argument("--epoch-runs", type=int, default=3, help="runs of the epoch benchmarks")
    ap.add_argument("--epoch-batches", type=int, default=0,
                    help="time only the first N batches of each epoch and scale to a full epoch (no accuracy)")
    ap.add_argument("--lstm-steps", type=int, default=5, help="timed LSTM steps (after one warm-up)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return ap.parse_args()


def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def emit(**kw):
    kw["loadavg"] = round(os.getloadavg()[0], 2)
    print(json.dumps(kw), flush=True)


# ------------------------------------------------------------------ data

def read_idx(path):
    with gzip.open(path, "rb") as f:
        b = f.read()
    nd = b[3]
    dims = struct.unpack(">" + "I" * nd, b[4:4 + 4 * nd])
    return b, 4 + 4 * nd, dims


def load_split(torch, name):
    b, off, dims = read_idx(os.path.join(DATA, name + "-images-idx3-ubyte.gz"))
    x = torch.frombuffer(bytearray(b[off:]), dtype=torch.uint8).reshape(dims[0], 784).float() * (1 / 255)
    b, off, dims = read_idx(os.path.join(DATA, name + "-labels-idx1-ubyte.gz"))
    y = torch.frombuffer(bytearray(b[off:]), dtype=torch.uint8).long()
    return x, y


# ------------------------------------------------------------------ models

def make_mlp(nn):
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))


def make_cnn(nn):
    return nn.Sequential(nn.Unflatten(1, (1, 28, 28)), nn.Conv2d(1, 32, 5), nn.ReLU(), nn.MaxPool2d(2, 2),
                         nn.Conv2d(32, 64, 5), nn.ReLU(), nn.MaxPool2d(2, 2), nn.Flatten(),
                         nn.Linear(64 * 4 * 4, 1024), nn.ReLU(), nn.Linear(1024, 10))


def epoch_run(torch, model, train, test, batch, max_batches):
    """One shuffled epoch of Adam; returns (seconds of training, CPU seconds, test accuracy
    or None). With max_batches, times that many batches and scales to the whole epoch."""
    x, y = train
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    perm = torch.randperm(x.shape[0])
    full = nb = x.shape[0] // batch
    if max_batches:
        nb = min(nb, max_batches)
    model.train()
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(nb):
        idx = perm[i * batch:(i + 1) * batch]
        loss = loss_fn(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    secs, cpu = (time.perf_counter() - t0) * full / nb, (time.process_time() - c0) * full / nb
    if max_batches:
        return secs, cpu, None
    model.eval()
    with torch.no_grad():
        correct = sum((model(test[0][i:i + 1000]).argmax(1) == test[1][i:i + 1000]).sum().item()
                      for i in range(0, test[0].shape[0], 1000))
    return secs, cpu, correct / test[0].shape[0]


def bench_epoch(torch, name, make, batch, args, threads):
    train, test = load_split(torch, "train"), load_split(torch, "t10k")
    secs, cpus, accs = [], [], []
    nb = 50 if args.quick else args.epoch_batches
    for r in range(args.epoch_runs):
        torch.manual_seed(r)
        s, c, a = epoch_run(torch, make(torch.nn), train, test, batch, nb)
        secs.append(s)
        cpus.append(c)
        accs.append(a)
    emit(bench=name, impl="pytorch", threads=threads, median=median(secs), unit="s/epoch", runs=secs,
         cpu_s=cpus, accuracy=accs, batch=batch, timed_batches=nb or "all", quick=args.quick)


class CellLoop:
    """A hand-written LSTM over time with nn.LSTMCell (batch first)."""

    def __init__(self, torch, i, h):
        self.torch = torch
        self.cell = torch.nn.LSTMCell(i, h)
        self.h = h

    def parameters(self):
        return self.cell.parameters()

    def __call__(self, x):
        b = x.shape[0]
        h = c = x.new_zeros(b, self.h)
        hs = []
        for t in range(x.shape[1]):
            h, c = self.cell(x[:, t], (h, c))
            hs.append(h)
        return self.torch.stack(hs, 1)


class Fused:
    def __init__(self, torch, i, h):
        self.lstm = torch.nn.LSTM(i, h, batch_first=True)

    def parameters(self):
        return self.lstm.parameters()

    def __call__(self, x):
        return self.lstm(x)[0]


def bench_lstm(torch, args, threads):
    steps = 2 if args.quick else args.lstm_steps
    for (b, t, i, h) in LSTM_SHAPES:
        for impl, cls in (("fused", Fused), ("cell_loop", CellLoop)):
            torch.manual_seed(0)
            m = cls(torch, i, h)
            opt = torch.optim.SGD(m.parameters(), lr=0.01)
            x = torch.randn(b, t, i)
            ms, cpu = [], []
            for k in range(steps + 1):   # one warm-up step
                t0, c0 = time.perf_counter(), time.process_time()
                loss = m(x).pow(2).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if k >= 1:
                    ms.append(1e3 * (time.perf_counter() - t0))
                    cpu.append(1e3 * (time.process_time() - c0))
            emit(bench="lstm_step", impl="pytorch_" + impl, threads=threads, shape=[b, t, i, h],
                 median=median(ms), unit="ms/step", runs=ms, cpu_ms=cpu, quick=args.quick)


def bench_latency(torch, args, threads):
    torch.manual_seed(0)
    m = make_mlp(torch.nn).eval()
    x = torch.rand(1, 784)
    calls = 200 if args.quick else 2000
    us, cpu = [], []
    with torch.no_grad():
        for _ in range(100):
            m(x)
        for r in range(args.runs):
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(calls):
                m(x)
            us.append(1e6 * (time.perf_counter() - t0) / calls)
            cpu.append(1e6 * (time.process_time() - c0) / calls)
    emit(bench="mlp_latency", impl="pytorch", threads=threads, median=median(us), unit="us/call", runs=us,
         cpu_us=cpu, calls_per_run=calls, quick=args.quick)


def run_one(args, threads):
    import torch
    torch.set_num_threads(SETTINGS[threads])
    only = set(args.only.split(","))
    emit(bench="info", impl="pytorch", threads=threads, torch=torch.__version__,
         torch_threads=torch.get_num_threads(), blas=os.environ.get("OPENBLAS_NUM_THREADS"),
         omp_wait_policy=os.environ.get("OMP_WAIT_POLICY"))
    if "mlp_latency" in only:
        bench_latency(torch, args, threads)
    if "lstm_step" in only:
        bench_lstm(torch, args, threads)
    if "mlp_epoch" in only:
        bench_epoch(torch, "mlp_epoch", make_mlp, 128, args, threads)
    if "cnn_epoch" in only:
        bench_epoch(torch, "cnn_epoch", make_cnn, 64, args, threads)


def main():
    args = parse_args()
    if args.child:
        run_one(args, args.threads)
        return
    for th in SETTINGS if args.threads == "all" else [args.threads]:
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1" if th == "1" else "2", OPENBLAS_CORETYPE="SkylakeX",
                   OMP_NUM_THREADS=str(SETTINGS[th]))
        if th == "2-passive":
            env["OMP_WAIT_POLICY"] = "passive"
        cmd = [sys.executable, os.path.abspath(__file__), "--child", "--threads", th, "--only", args.only, "--runs",
               str(args.runs), "--epoch-runs", str(args.epoch_runs), "--epoch-batches", str(args.epoch_batches),
               "--lstm-steps", str(args.lstm_steps)]
        cmd += ["--quick"] if args.quick else []
        subprocess.run(cmd, env=env, check=True)


if __name__ == "__main__":
    main()
