#!/usr/bin/env python3
"""PyTorch side-by-side reference for selfsup's MoCo v2 on the embedded MNIST digits.

Mirrors recipes/mnist-mocov2.yaml: the CIFAR-stem ResNet [16,32,64]x[1,1,1], a
64->128->64 MLP head, the MoCo CIFAR demo's method (EMA key encoder, queue,
shuffled keys, split BN, symmetric loss), the `digits` augmentation (crop scale
0.5-1, brightness/contrast 0.4 with p=0.8), SGD + cosine, and a weighted k-NN
monitor (k=200, t=0.1) on the backbone features. It reads the split that
selfsup's loader makes, exported once as raw arrays (no data in the repo):

  npx tsx bench/moco-peer/export-mnist.ts /tmp/mnist_moco
  /usr/bin/python3 bench/moco-peer/moco_mnist.py --data /tmp/mnist_moco --epochs 5 --last-bn

Measured (2026-11-26, 5 epochs = 155 steps, k-NN top-1; random init 58.3%): the recipe's
settings 66.9%; with --last-bn (what selfsup's MoCo now does) 74.3%, and 69.6% with
--bn-splits 1, 71.8% with --crop-min 0.25; --lr 0.3 62.8%; --lr 0.3 --m 0.9 collapses (loss 2 ln(K+1) = 16.64, 57.8%).
"""
import argparse
import math
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def load(data, split):
    x = np.fromfile(f"{data}/{split}_x.u8", dtype=np.uint8).reshape(-1, 1, 28, 28)
    y = np.fromfile(f"{data}/{split}_y.i32", dtype=np.int32)
    return torch.from_numpy(x.astype(np.float32) / 255.0), torch.from_numpy(y.astype(np.int64))


class SplitBN(nn.BatchNorm2d):
    """The MoCo CIFAR demo's SplitBatchNorm: G slices of the batch normalized on their own."""

    def __init__(self, c, splits):
        super().__init__(c)
        self.splits = splits

    def forward(self, x):
        if not self.training or self.splits == 1:
            return super().forward(x)
        n, c, h, w = x.shape
        g = self.splits
        rm, rv = self.running_mean.repeat(g), self.running_var.repeat(g)
        out = F.batch_norm(x.view(-1, c * g, h, w), rm, rv, self.weight.repeat(g), self.bias.repeat(g),
                           True, self.momentum, self.eps).view(n, c, h, w)
        self.running_mean.data.copy_(rm.view(g, c).mean(0))
        self.running_var.data.copy_(rv.view(g, c).mean(0))
        return out


class Block(nn.Module):
    def __init__(self, cin, cout, stride, splits):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = SplitBN(cout, splits)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = SplitBN(cout, splits)
        self.sc = None
        if stride != 1 or cin != cout:
            self.sc = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), SplitBN(cout, splits))

    def forward(self, x):
        h = F.relu(self.b1(self.c1(x)))
        h = self.b2(self.c2(h))
        return F.relu(h + (self.sc(x) if self.sc is not None else x))


class Encoder(nn.Module):
    def __init__(self, widths, hidden, out, splits, head_bn=False, last_bn=False):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, widths[0], 3, 1, 1, bias=False), SplitBN(widths[0], splits), nn.ReLU())
        blocks, cin = [], widths[0]
        for i, w in enumerate(widths):
            blocks.append(Block(cin, w, 1 if i == 0 else 2, splits))
            cin = w
        self.blocks = nn.Sequential(*blocks)
        self.feature_dim = cin
        head = [nn.Linear(cin, hidden)]
        if head_bn:
            head.append(nn.BatchNorm1d(hidden))
        head += [nn.ReLU(), nn.Linear(hidden, out)]
        if last_bn:
            head.append(nn.BatchNorm1d(out, affine=False))
        self.head = nn.Sequential(*head)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def features(self, x):
        return self.blocks(self.stem(x)).mean((2, 3))

    def forward(self, x):
        return self.head(self.features(x))


def augment(x, g, scale=(0.5, 1.0), jitter=0.4, jitter_p=0.8):
    """The `digits` preset: random resized crop (bilinear), brightness/contrast jitter, normalize to [-1, 1]."""
    n = x.shape[0]
    area = torch.empty(n).uniform_(*scale, generator=g)
    logr = torch.empty(n).uniform_(math.log(3 / 4), math.log(4 / 3), generator=g)
    r = torch.exp(logr)
    w = torch.sqrt(area * r).clamp(max=1.0)
    h = torch.sqrt(area / r).clamp(max=1.0)
    cx = (torch.rand(n, generator=g) * 2 - 1) * (1 - w)
    cy = (torch.rand(n, generator=g) * 2 - 1) * (1 - h)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = w, cx, h, cy
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    v = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    on = (torch.rand(n, generator=g) < jitter_p).float().view(n, 1, 1, 1)
    b = torch.empty(n).uniform_(1 - jitter, 1 + jitter, generator=g).view(n, 1, 1, 1)
    c = torch.empty(n).uniform_(1 - jitter, 1 + jitter, generator=g).view(n, 1, 1, 1)
    vj = (v * b).clamp(0, 1)
    m = vj.mean((1, 2, 3), keepdim=True)
    vj = ((vj - m) * c + m).clamp(0, 1)
    v = on * vj + (1 - on) * v
    return (v - 0.5) / 0.5


class MoCo(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.a = a
        mk = lambda: Encoder(a.widths, a.hidden, a.out, a.bn_splits, a.head_bn, a.last_bn)
        self.q, self.k = mk(), mk()
        for pq, pk in zip(self.q.parameters(), self.k.parameters()):
            pk.data.copy_(pq.data)
            pk.requires_grad = False
        self.register_buffer("queue", F.normalize(torch.randn(a.K, a.out), dim=1))
        self.ptr = 0

    @torch.no_grad()
    def momentum_update(self, m):
        for pq, pk in zip(self.q.parameters(), self.k.parameters()):
            pk.data.mul_(m).add_(pq.data, alpha=1 - m)

    @torch.no_grad()
    def keys(self, x):
        if self.a.bn_splits > 1:
            perm = torch.randperm(x.shape[0])
            return F.normalize(self.k(x[perm]), dim=1)[torch.argsort(perm)]
        return F.normalize(self.k(x), dim=1)

    def contrast(self, xq, xk):
        q = F.normalize(self.q(xq), dim=1)
        k = self.keys(xk)
        logits = torch.cat([(q * k).sum(1, keepdim=True), q @ self.queue.clone().detach().t()], 1) / self.a.T
        return F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long)), k

    def forward(self, x1, x2, m):
        self.momentum_update(m)
        l12, k2 = self.contrast(x1, x2)
        l21, k1 = self.contrast(x2, x1)
        k = torch.cat([k1, k2])
        n = len(k)
        self.queue[self.ptr:self.ptr + n] = k
        self.ptr = (self.ptr + n) % self.a.K
        return l12 + l21


@torch.no_grad()
def knn(enc, xtr, ytr, xte, yte, k=200, t=0.1):
    enc.eval()
    f = lambda x: torch.cat([F.normalize(enc.features((c - 0.5) / 0.5), dim=1) for c in x.split(500)])
    ftr, fte = f(xtr), f(xte)
    enc.train()
    sim = fte @ ftr.t()
    w, idx = sim.topk(k, dim=1)
    votes = torch.zeros(len(xte), 10).scatter_add_(1, ytr[idx], (w / t).exp())
    return (votes.argmax(1) == yte).float().mean().item()


@torch.no_grad()
def health(enc, x):
    """Collapse signs: share of the head's hidden ReLUs dead on every image, mean cosine between embeddings."""
    enc.eval()
    f = enc.features((x[:500] - 0.5) / 0.5)
    lin = [i for i, m in enumerate(enc.head) if isinstance(m, nn.Linear)][-1]
    hid = enc.head[:lin](f)
    z = F.normalize(enc.head[lin:](hid), dim=1)
    enc.train()
    dead = (hid.max(0).values <= 0).float().mean().item()
    return dead, (z @ z.t()).mean().item()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="/tmp/mnist_moco")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--max-steps", type=int, default=0)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--lr", type=float, default=0.06, help="per 256 images")
    p.add_argument("--wd", type=float, default=5e-4)
    p.add_argument("--K", type=int, default=4096)
    p.add_argument("--m", type=float, default=0.99)
    p.add_argument("--T", type=float, default=0.1)
    p.add_argument("--bn-splits", type=int, default=8)
    p.add_argument("--head-bn", action="store_true")
    p.add_argument("--last-bn", action="store_true", help="BN (no affine) on the head output, as MoCo v3's projector")
    p.add_argument("--widths", type=int, nargs="+", default=[16, 32, 64])
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--out", type=int, default=64)
    p.add_argument("--crop-min", type=float, default=0.5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log-every", type=int, default=5)
    p.add_argument("--knn-every", type=int, default=1, help="epochs")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    g = torch.Generator().manual_seed(a.seed)
    xtr, ytr = load(a.data, "train")
    xte, yte = load(a.data, "test")
    model = MoCo(a)
    print(f"knn random-init {knn(model.q, xtr, ytr, xte, yte):.4f}", flush=True)
    opt = torch.optim.SGD(model.q.parameters(), lr=a.lr * a.batch / 256, momentum=0.9, weight_decay=a.wd)
    per_epoch = len(xtr) // a.batch
    total = a.epochs * per_epoch
    stop = a.max_steps or total
    step, t0 = 0, time.time()
    for ep in range(a.epochs):
        order = torch.randperm(len(xtr), generator=g)
        for b in range(per_epoch):
            if step >= stop:
                break
            lr = a.lr * a.batch / 256 * 0.5 * (1 + math.cos(math.pi * step / total))
            for pg in opt.param_groups:
                pg["lr"] = lr
            x = xtr[order[b * a.batch:(b + 1) * a.batch]]
            loss = model(augment(x, g, (a.crop_min, 1.0)), augment(x, g, (a.crop_min, 1.0)), a.m)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if step % a.log_every == 0:
                print(f"step {step} loss {loss.item():.4f} lr {lr:.4f} {step * a.batch / (time.time() - t0):.0f} img/s", flush=True)
        if (ep + 1) % a.knn_every == 0 or ep + 1 == a.epochs or step >= stop:
            dead, cos = health(model.q, xte)
            print(f"epoch {ep + 1} step {step} knn {knn(model.q, xtr, ytr, xte, yte):.4f}"
                  f" dead_hidden {dead:.2f} mean_cos {cos:.3f}", flush=True)
        if step >= stop:
            break


if __name__ == "__main__":
    main()
