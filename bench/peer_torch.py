#!/usr/bin/env python3
"""The reference SimCLR training step in PyTorch, the peer the native backend is
measured against (same architecture, loss, optimizer and batch as bench/step.ts).

CIFAR-style ResNet (3x3 stem conv + BN + ReLU, basic blocks, 1x1 projection
shortcut when the shape changes, global average pool), projection head
Linear-BN-ReLU-Linear, NT-Xent at T=0.5 over the 2N views, SGD with momentum.
Prints one JSON object on stdout.

  python3 bench/peer_torch.py --widths 32,64,128 --blocks 1,1,1 --batch 128 --steps 5 --threads 2

With --e2e it runs the end-to-end loop instead (bench/e2e.ts): a DataLoader with --workers
processes reading --data (PNGs decoded per read, or selfsup's decode-cache file), torchvision
transforms making two views per image, the step, a metrics line every 10 steps, a final checkpoint.
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


def e2e(a, model, opt):
    """End-to-end: DataLoader + torchvision transforms (two views per image) + step + logging +
    a final checkpoint, timed from the first batch request to the saved checkpoint."""
    import os
    import numpy as np
    from PIL import Image
    import torchvision.transforms as T
    from torch.utils.data import DataLoader, Dataset

    # The simclr preset at 32x32 (augment/presets.ts): no blur below 64 px, as in the paper's CIFAR runs.
    aug = T.Compose([
        T.RandomResizedCrop(a.size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)),
        T.RandomHorizontalFlip(),
        T.RandomApply([T.ColorJitter(0.8, 0.8, 0.8, 0.2)], p=0.8),
        T.RandomGrayscale(p=0.2),
        T.ToTensor(),
        T.Normalize([0.5] * 3, [0.5] * 3),
    ])

    class Pngs(Dataset):
        """Decodes each PNG on every read (what torchvision's ImageFolder does)."""
        def __init__(self, root):
            self.files = sorted(os.path.join(root, f) for f in os.listdir(root) if f.endswith('.png'))

        def __len__(self):
            return len(self.files)

        def __getitem__(self, i):
            with Image.open(self.files[i]) as im:
                img = im.convert('RGB')
            return aug(img), aug(img)

    class Records(Dataset):
        """Reads decoded uint8 HWC records from a file (selfsup's decode cache), one memmap per worker."""
        def __init__(self, path):
            self.path, self.per = path, a.size * a.size * 3
            self.n = os.path.getsize(path) // self.per
            self.mm = None

        def __len__(self):
            return self.n

        def __getitem__(self, i):
            if self.mm is None:
                self.mm = np.memmap(self.path, dtype=np.uint8, mode='r').reshape(self.n, a.size, a.size, 3)
            img = Image.fromarray(np.array(self.mm[i]))
            return aug(img), aug(img)

    ds = Pngs(a.data) if a.source == 'png' else Records(a.data)
    kw = dict(persistent_workers=True, prefetch_factor=2) if a.workers > 0 else {}
    loader = DataLoader(ds, batch_size=a.batch, shuffle=True, drop_last=True, num_workers=a.workers, **kw)
    log = open(os.path.join(a.out, 'metrics.jsonl'), 'w')
    step, step_s, wait_s = 0, [], []
    t0 = time.perf_counter()
    while step < a.steps:
        it = iter(loader)
        while step < a.steps:
            w0 = time.perf_counter()
            try:
                x1, x2 = next(it)
            except StopIteration:
                break
            s0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            x = torch.cat([x1, x2])
            z = model(x.to(memory_format=torch.channels_last) if a.channels_last else x)
            loss = nt_xent(z[: a.batch], z[a.batch:], 0.5)
            loss.backward()
            opt.step()
            value = float(loss)
            step += 1
            if step % 10 == 0 or step == a.steps:
                log.write(json.dumps({'kind': 'train', 'step': step, 'loss': value, 'time': time.time()}) + '\n')
                log.flush()
            step_s.append(time.perf_counter() - s0)
            wait_s.append(s0 - w0)
    torch.save({'model': model.state_dict(), 'opt': opt.state_dict(), 'step': step}, os.path.join(a.out, 'ckpt.pt'))
    seconds = time.perf_counter() - t0
    log.close()
    med = lambda v: sorted(v)[len(v) // 2] * 1e3
    json.dump({
        'torch': torch.__version__, 'threads': torch.get_num_threads(), 'workers': a.workers, 'source': a.source,
        'batch': a.batch, 'steps': step, 'seconds': seconds, 'img_per_s': step * a.batch / seconds,
        'step_ms': med(step_s[2:] or step_s), 'wait_ms': med(wait_s[2:] or wait_s), 'loss': value,
    }, sys.stdout)
    print()


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
    p.add_argument('--e2e', action='store_true', help='end-to-end: DataLoader + torchvision two-view transforms + step')
    p.add_argument('--data', help='--e2e: folder of PNGs (--source png) or a uint8 HWC record file (--source cache)')
    p.add_argument('--source', choices=['png', 'cache'], default='png')
    p.add_argument('--workers', type=int, default=0)
    p.add_argument('--out', default='.', help='--e2e: folder for metrics.jsonl and ckpt.pt')
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
    if a.e2e:
        return e2e(a, model, opt)
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
