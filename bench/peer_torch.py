#!/usr/bin/env python3
"""The reference SimCLR training step in PyTorch, the peer the native backend is
measured against (same architecture, loss, optimizer and batch as bench/step.ts).

CIFAR-style ResNet (3x3 stem conv + BN + ReLU, basic blocks, 1x1 projection
shortcut when the shape changes, global average pool), projection head
Linear-BN-ReLU-Linear, NT-Xent at T=0.5 over the 2N views, SGD with momentum.
Prints one JSON object on stdout.

  python3 bench/peer_torch.py --widths 32,64,128 --blocks 1,1,1 --batch 128 --steps 5 --threads 2
"""
import argparse
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(h))
        return F.relu(y + (self.shortcut(x) if self.shortcut is not None else x))


class ResNet(nn.Module):
    def __init__(self, widths, blocks, cin=3):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(cin, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU())
        layers, c = [], widths[0]
        for stage, (w, n) in enumerate(zip(widths, blocks)):
            for b in range(n):
                layers.append(BasicBlock(c, w, 2 if stage > 0 and b == 0 else 1))
                c = w
        self.layers = nn.Sequential(*layers)
        self.feature_dim = c

    def forward(self, x):
        return torch.flatten(F.adaptive_avg_pool2d(self.layers(self.stem(x)), 1), 1)


def nt_xent(z1, z2, t):
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = z @ z.t() / t
    logits = logits - 1e9 * torch.eye(2 * n)
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(logits, target)


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--widths', default='32,64,128')
    p.add_argument('--blocks', default='1,1,1')
    p.add_argument('--batch', type=int, default=128)
    p.add_argument('--size', type=int, default=32)
    p.add_argument('--steps', type=int, default=5)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--threads', type=int, default=0)
    p.add_argument('--channels-last', action='store_true')
    a = p.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    widths = [int(v) for v in a.widths.split(',')]
    blocks = [int(v) for v in a.blocks.split(',')]
    backbone = ResNet(widths, blocks)
    d = backbone.feature_dim
    head = nn.Sequential(nn.Linear(d, 128, bias=False), nn.BatchNorm1d(128), nn.ReLU(), nn.Linear(128, 128))
    model = nn.Sequential(backbone, head)
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x1 = torch.randn(a.batch, 3, a.size, a.size).to(memory_format=fmt)
    x2 = torch.randn(a.batch, 3, a.size, a.size).to(memory_format=fmt)

    def step():
        opt.zero_grad(set_to_none=True)
        z = model(torch.cat([x1, x2]))
        loss = nt_xent(z[: a.batch], z[a.batch:], 0.5)
        loss.backward()
        opt.step()
        return float(loss)

    for _ in range(a.warmup):
        step()
    times = []
    cpu = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        c0 = time.process_time()
        step()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    times.sort()
    median = times[len(times) // 2]
    json.dump({
        'torch': torch.__version__, 'threads': torch.get_num_threads(), 'channels_last': a.channels_last,
        'batch': a.batch, 'steps': a.steps, 'ms_per_step': median * 1e3, 'best_ms': times[0] * 1e3,
        'img_per_s': a.batch / median, 'cpu_ms_per_step': sorted(cpu)[len(cpu) // 2] * 1e3,
    }, sys.stdout)
    print()


if __name__ == '__main__':
    main()
