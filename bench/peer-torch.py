"""PyTorch peer of `npm run bench -- engine`: the same nets, batches and optimizer on PyTorch's CPU
engine, one JSON line per case on stdout in the engine bench's format (backend "torch").

Run by `npm run bench -- engine --peer torch`; alone:
  python3 bench/peer-torch.py [--case NAME] [--phase train|infer] [--steps N] [--warmup N] [--threads N]
  python3 bench/peer-torch.py --ops   # the engine bench's --conv-ops: 3x3 conv fwd, dx, dW alone

The nets mirror src/models (ResNet-18 with the ImageNet stem, no conv biases, BN, zero-init last
BN gamma per block; the small convnet) plus the bench's dense 10-class head, trained with AdamW
(weight decay 1e-4) on softmax cross-entropy. PyTorch runs in its default NCHW layout.
"""
import argparse
import json
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CASES = [
    {"name": "resnet18-5ch-64px", "backbone": "resnet18", "channels": 5, "size": 64, "phase": "train", "batch": 32},
    {"name": "resnet18-5ch-64px", "backbone": "resnet18", "channels": 5, "size": 64, "phase": "infer", "batch": 256},
    {"name": "small-convnet-3ch-64px", "backbone": "small-convnet", "channels": 3, "size": 64, "phase": "train", "batch": 32},
]


class Basic(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        nn.init.zeros_(self.b2.weight)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return F.relu(y + (self.down(x) if self.down is not None else x))


def resnet18(channels):
    layers = [nn.Conv2d(channels, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for stage, w in enumerate([64, 128, 256, 512]):
        for b in range(2):
            layers.append(Basic(cin, w, 2 if b == 0 and stage > 0 else 1))
            cin = w
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten()), 512


def small_convnet(channels):
    def block(cin, cout, s):
        return [nn.Conv2d(cin, cout, 3, s, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

    layers = block(channels, 32, 2)
    cin = 32
    for f in [32, 64, 128]:
        layers += block(cin, f, 2) + block(f, f, 1)
        cin = f
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten()), 128


def classifier(case):
    body, dim = (resnet18 if case["backbone"] == "resnet18" else small_convnet)(case["channels"])
    return nn.Sequential(body, nn.Linear(dim, 10))


def run_case(case, steps, warmup, threads):
    torch.manual_seed(1)
    model = classifier(case)
    b, s, c = case["batch"], case["size"], case["channels"]
    x = torch.randn(b, c, s, s)
    y = torch.randint(0, 10, (b,))
    if case["phase"] == "train":
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)

        def step():
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss.item()
    else:
        model.eval()

        def step():
            with torch.no_grad():
                return float(model(x)[0, 0])

    for _ in range(warmup):
        step()
    load1 = os.getloadavg()[0]
    times = []
    c0 = time.process_time()
    t0 = time.perf_counter()
    for _ in range(steps):
        ts = time.perf_counter()
        step()
        times.append(time.perf_counter() - ts)
    ms = (time.perf_counter() - t0) * 1000 / steps
    cpu = (time.process_time() - c0) * 1000 / steps
    print(json.dumps({
        "case": case["name"], "backend": "torch", "version": torch.__version__, "threads": threads, "phase": case["phase"],
        "batch": b, "imagesPerSec": round(1000 * b / ms, 2), "msPerStep": round(ms, 1),
        "bestImagesPerSec": round(b / min(times), 2), "cpuMsPerStep": round(cpu, 1), "load1": round(load1, 2), "steps": steps,
    }), flush=True)


def conv_ops(reps, threads):
    for hw, c in [(16, 64), (8, 128), (4, 256), (2, 512)]:
        x = torch.randn(32, c, hw, hw)
        w = torch.randn(c, c, 3, 3)
        dy = torch.randn(32, c, hw, hw)
        ops = {
            "fwd": lambda: F.conv2d(x, w, padding=1),
            "dx": lambda: torch.nn.grad.conv2d_input(x.shape, w, dy, padding=1),
            "dw": lambda: torch.nn.grad.conv2d_weight(x, w.shape, dy, padding=1),
        }
        ms = {}
        with torch.no_grad():
            for k, fn in ops.items():
                for _ in range(2):
                    fn()
                ts = []
                for _ in range(reps):
                    t = time.perf_counter()
                    fn()
                    ts.append(time.perf_counter() - t)
                ms[k] = round(min(ts) * 1000, 2)
        print(json.dumps({"case": f"conv3x3-{c}ch-{hw}px-b32", "engine": "torch", "threads": threads, "phase": "op", "ms": ms,
                          "load1": round(os.getloadavg()[0], 2)}), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", action="append")
    ap.add_argument("--phase")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--ops", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.ops:
        conv_ops(max(3, a.steps), a.threads)
        return
    for case in CASES:
        if a.case and not any(n in case["name"] or n == case["backbone"] for n in a.case):
            continue
        if a.phase and a.phase != case["phase"]:
            continue
        run_case(case, a.steps, a.warmup, a.threads)


if __name__ == "__main__":
    main()
