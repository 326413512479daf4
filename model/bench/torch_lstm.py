#!/usr/bin/python3
"""PyTorch reference for the speed of retain's LSTM (package model).

The same network as model.Params documents: an LSTM of L layers (hidden H,
gates i, f, g, o) over T weeks of F features, the top layer's last hidden
state joined to S static features, and one linear layer giving C next-course
logits and a churn logit. The loss is the same: cross-entropy of the next
course (rows with label -1 ignored, summed and divided by the batch size, as
model does with weight-1 rows) + ChurnWeight x binary cross-entropy of churn
with pos_weight. Adam (lr 1e-3), global gradient-norm clipping at 5.

Every benchmark row is a full sequence (mask all ones), as in the Go
benchmarks, so nn.LSTM's fused CPU kernel runs without packing: for 0/1
left-padded masks model's carry-through equals running the LSTM over the
joined weeks only, which pack_padded_sequence would do; that is not timed.

Threads: pass --threads N. It calls torch.set_num_threads(N) before any work
and reports torch's own view. Debian's python3-torch links the generic
libblas.so.3; `apt-get install libopenblas0-openmp` makes that OpenBLAS built
on the same OpenMP runtime as torch, so torch's thread count governs the BLAS
too (compare.sh checks this). Set OPENBLAS_NUM_THREADS to the same N (or to 1
for a pthread OpenBLAS) to avoid oversubscription; compare.sh does.

oneDNN (--mkldnn, default off): with Debian's torch 1.13 on this machine
nn.LSTM is faster without it (inference at batch 256 about 3x, training
about the same), so the default gives PyTorch its better configuration.

Prints one line per measurement: `torch <name> <value> <unit>`, each rate
both per second of wall time and per second of process CPU time (all
threads; the steadier figure on a machine shared with other work).
Run with Debian's python: /usr/bin/python3 model/bench/torch_lstm.py
"""
import argparse
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, inputs, static, hidden, layers, classes):
        super().__init__()
        self.classes = classes
        self.lstm = nn.LSTM(inputs, hidden, layers, batch_first=True)
        self.out = nn.Linear(hidden + static, classes + 1)

    def forward(self, x, static):
        _, (h, _) = self.lstm(x)
        return self.out(torch.cat([h[-1], static], 1))


def loss_fn(logits, nxt, churn, classes, churn_weight, pos_weight):
    b = logits.shape[0]
    ce = F.cross_entropy(logits[:, :classes], nxt, ignore_index=-1, reduction="sum") / b
    bce = F.binary_cross_entropy_with_logits(
        logits[:, classes], churn, pos_weight=torch.tensor(pos_weight), reduction="mean")
    return ce + churn_weight * bce


def timed(fn, min_seconds, min_iters):
    """Runs fn until both limits are passed; returns wall seconds and process
    CPU seconds (all threads) per call."""
    n, start, cpu = 0, time.perf_counter(), time.process_time()
    while True:
        fn()
        n += 1
        el = time.perf_counter() - start
        if n >= min_iters and el >= min_seconds:
            return el / n, (time.process_time() - cpu) / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=26)
    ap.add_argument("--inputs", type=int, default=40)
    ap.add_argument("--static", type=int, default=20)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--classes", type=int, default=14)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--mkldnn", choices=["on", "off"], default="off")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.backends.mkldnn.enabled = a.mkldnn == "on"
    torch.manual_seed(1)
    print(f"# torch {torch.__version__}, threads {torch.get_num_threads()}, mkldnn {a.mkldnn}, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '')}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')}")
    net = Net(a.inputs, a.static, a.hidden, a.layers, a.classes)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def batch(n):
        x = torch.randn(n, a.steps, a.inputs)
        s = torch.randn(n, a.static)
        nxt = torch.randint(-1, a.classes, (n,))
        churn = torch.randint(0, 2, (n,)).float()
        return x, s, nxt, churn

    x, s, nxt, churn = batch(a.batch)

    def step():
        opt.zero_grad()
        loss = loss_fn(net(x, s), nxt, churn, a.classes, 1.0, 3.0)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()

    for _ in range(3):
        step()
    sec, cpu = timed(step, a.seconds, 5)
    print(f"torch train_seq_per_s {a.batch / sec:.0f} seq/s")
    print(f"torch train_seq_per_cpu_s {a.batch / cpu:.0f} seq/cpu-s")

    # PyTorch's best case for comparison: nn.LSTM forward and backward
    # alone, without the heads, the loss, clipping or Adam.
    def lstm_only():
        net.lstm.zero_grad()
        _, (h, _) = net.lstm(x)
        h.sum().backward()

    sec, cpu = timed(lstm_only, a.seconds, 5)
    print(f"torch lstm_only_seq_per_s {a.batch / sec:.0f} seq/s")
    print(f"torch lstm_only_seq_per_cpu_s {a.batch / cpu:.0f} seq/cpu-s")

    net.eval()
    with torch.no_grad():
        x256, s256, _, _ = batch(256)
        sec, cpu = timed(lambda: net(x256, s256), a.seconds, 3)
        print(f"torch infer256_members_per_s {256 / sec:.0f} members/s")
        print(f"torch infer256_members_per_cpu_s {256 / cpu:.0f} members/cpu-s")
        x1, s1, _, _ = batch(1)
        sec, cpu = timed(lambda: net(x1, s1), a.seconds, 20)
        print(f"torch infer1_ms {sec * 1e3:.3f} ms")
        print(f"torch infer1_cpu_ms {cpu * 1e3:.3f} cpu-ms")


if __name__ == "__main__":
    main()
