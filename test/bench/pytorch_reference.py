"""PyTorch CPU reference for `npm run bench -- --against-pytorch`.

Times the same training steps as ecotrain's bench: CIFAR ResNet-20 and ResNet-8 (16/32/64 filters, identity
shortcuts, 1x1 conv + BN projections where the shape changes), batch 128, SGD with momentum 0.9 and weight
decay 5e-4, in NCHW and channels-last layouts; and the LSTM language model step (embedding, LSTM layers,
output layer, truncated BPTT window, SGD); and the CifarNet step (Caffe's cifar10_full: conv 5x5x32, max-pool 3/2,
ReLU, conv 5x5x32, ReLU, avg-pool 3/2, conv 5x5x64, ReLU, avg-pool 3/2, fc 10; pooling in ceil mode) with Adam at
the SmoothOut study's batches. Prints one JSON object on stdout.

With --regime-epoch ARCHIVE (CIFAR-10's official cifar-10-binary.tar.gz) it instead times one epoch of the E²-Train
lite regime's SGD baseline as a whole run does it: ResNet-8 channels-last, the 50,000 training images standardized per
channel, pad-4 random crops and horizontal flips drawn per image, 390 steps of 128 (SGD momentum 0.9, weight decay 5e-4,
cosine from 0.1 over the regime's 3,900 iterations), then top-1 on the 10,000 test images.

Usage: python pytorch_reference.py --threads 2 --steps 20 --cifarnet-batches 64,1250 --lstm vocab,embedding,hidden,steps,batch
       python pytorch_reference.py --threads 2 --regime-epoch cifar-10-binary.tar.gz
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.proj = None
        if stride != 1 or cin != cout:
            self.proj = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return F.relu(h + (self.proj(x) if self.proj is not None else x))


class ResNet(nn.Module):
    def __init__(self, depth, widths=(16, 32, 64), classes=10):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        blocks, cin = [], widths[0]
        for s, w in enumerate(widths):
            for i in range(n):
                blocks.append(Block(cin, w, 2 if s > 0 and i == 0 else 1))
                cin = w
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.blocks(F.relu(self.bn1(self.conv1(x))))
        return self.fc(x.mean((2, 3)))


class CifarNet(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 5, 1, 2)
        self.conv2 = nn.Conv2d(32, 32, 5, 1, 2)
        self.conv3 = nn.Conv2d(32, 64, 5, 1, 2)
        self.fc = nn.Linear(64 * 4 * 4, classes)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), 3, 2, ceil_mode=True))
        x = F.avg_pool2d(F.relu(self.conv2(x)), 3, 2, ceil_mode=True)
        x = F.avg_pool2d(F.relu(self.conv3(x)), 3, 2, ceil_mode=True)
        return self.fc(x.flatten(1))


class LstmLm(nn.Module):
    def __init__(self, vocab, emb, hidden):
        super().__init__()
        self.emb = nn.Embedding(vocab, emb)
        self.lstms = nn.ModuleList([nn.LSTM(emb if i == 0 else hidden[i - 1], h, batch_first=True) for i, h in enumerate(hidden)])
        self.out = nn.Linear(hidden[-1], vocab)

    def forward(self, ids):
        h = self.emb(ids)
        for l in self.lstms:
            h, _ = l(h)
        return self.out(h.reshape(-1, h.shape[-1]))


def time_steps(step, steps, warmup=3):
    for _ in range(warmup):
        step()
    out = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        out.append((time.perf_counter() - t0) * 1000)
    return statistics.median(out)


def image_step_ms(model, batch, channels_last, steps, optimizer):
    """Median ms of a cross-entropy training step of `model` on a fixed CIFAR-shaped batch (`optimizer` builds the optimizer)."""
    x = torch.randn(batch, 3, 32, 32)
    y = torch.arange(batch) % 10
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = optimizer(model.parameters())
    model.train()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        loss.item()

    return time_steps(step, steps)


def resnet_step_ms(depth, channels_last, steps, batch=128):
    torch.manual_seed(0)
    model = ResNet(depth)
    return image_step_ms(model, batch, channels_last, steps, lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=5e-4))


def cifarnet_step_ms(batch, channels_last, steps):
    torch.manual_seed(0)
    model = CifarNet()
    return image_step_ms(model, batch, channels_last, steps, lambda p: torch.optim.Adam(p, lr=0.001))


def lstm_step_ms(vocab, emb, hidden, bptt, batch, steps):
    torch.manual_seed(0)
    model = LstmLm(vocab, emb, hidden)
    ids = torch.randint(0, vocab, (batch, bptt))
    tgt = torch.randint(0, vocab, (batch * bptt,))
    opt = torch.optim.SGD(model.parameters(), lr=1.0)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(ids), tgt)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        loss.item()

    return time_steps(step, steps)


def cifar10(archive):
    """The CIFAR-10 binary batches of the official archive as uint8 NCHW images and int64 labels."""
    import tarfile

    parts = {"train": [], "test": []}
    with tarfile.open(archive, "r:gz") as tar:
        for m in tar.getmembers():
            name = m.name.rsplit("/", 1)[-1]
            if name.startswith("data_batch_") or name == "test_batch.bin":
                raw = torch.frombuffer(bytearray(tar.extractfile(m).read()), dtype=torch.uint8).reshape(-1, 3073)
                parts["test" if name == "test_batch.bin" else "train"].append((name, raw))
    out = {}
    for split, chunks in parts.items():
        raw = torch.cat([c for _, c in sorted(chunks, key=lambda t: t[0])])
        out[split] = (raw[:, 1:].reshape(-1, 3, 32, 32).clone(), raw[:, 0].long())
    return out


def regime_epoch(archive, threads):
    import math

    data = cifar10(archive)
    x, y = data["train"]
    xt, yt = data["test"]
    x = x.float() / 255
    xt = xt.float() / 255
    mean = x.mean((0, 2, 3), keepdim=True)
    std = x.std((0, 2, 3), keepdim=True)
    x = ((x - mean) / std).contiguous(memory_format=torch.channels_last)
    xt = ((xt - mean) / std).contiguous(memory_format=torch.channels_last)
    torch.manual_seed(0)
    model = ResNet(8).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    batch, steps, total = 128, x.shape[0] // 128, 10 * (x.shape[0] // 128)
    t0 = time.perf_counter()
    model.train()
    order = torch.randperm(x.shape[0])
    padded = F.pad(x, (4, 4, 4, 4))
    for it in range(steps):
        for g in opt.param_groups:
            g["lr"] = 0.1 * 0.5 * (1 + math.cos(math.pi * it / total))
        idx = order[it * batch:(it + 1) * batch]
        dx = torch.randint(0, 9, (batch,))
        dy = torch.randint(0, 9, (batch,))
        flip = torch.rand(batch) < 0.5
        xb = torch.stack([padded[i, :, a:a + 32, b:b + 32] for i, a, b in zip(idx.tolist(), dy.tolist(), dx.tolist())])
        xb = torch.where(flip[:, None, None, None], xb.flip(3), xb).contiguous(memory_format=torch.channels_last)
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xb), y[idx])
        loss.backward()
        opt.step()
        loss.item()
    t1 = time.perf_counter()
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, xt.shape[0], 1000):
            correct += (model(xt[i:i + 1000]).argmax(1) == yt[i:i + 1000]).sum().item()
    t2 = time.perf_counter()
    return {"seconds": t2 - t0, "trainSeconds": t1 - t0, "evalSeconds": t2 - t1, "steps": steps, "top1": correct / xt.shape[0],
            "layout": "channels_last", "threads": threads}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--regime-epoch", default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--lstm", default="10000,200,200-200,35,20")
    p.add_argument("--cifarnet-batches", default="64,1250")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.regime_epoch:
        print(json.dumps({"torch": torch.__version__, "regimeEpoch": regime_epoch(a.regime_epoch, torch.get_num_threads())}))
        return
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "resnet": {}, "cifarnet": {}, "lstm": {}}
    for depth in (20, 8):
        for layout, cl in (("nchw", False), ("channels_last", True)):
            ms = resnet_step_ms(depth, cl, a.steps)
            out["resnet"][f"resnet{depth}/{layout}"] = {"stepMs": ms, "imagesPerSecond": 128 * 1000 / ms}
    for batch in (int(b) for b in a.cifarnet_batches.split(",")):
        for layout, cl in (("nchw", False), ("channels_last", True)):
            ms = cifarnet_step_ms(batch, cl, max(5, min(a.steps, 2000 // batch)))
            out["cifarnet"][f"batch{batch}/{layout}"] = {"stepMs": ms, "imagesPerSecond": batch * 1000 / ms}
    vocab, emb, hidden, bptt, batch = a.lstm.split(",")
    hidden = [int(h) for h in hidden.split("-")]
    ms = lstm_step_ms(int(vocab), int(emb), hidden, int(bptt), int(batch), a.steps)
    out["lstm"] = {"stepMs": ms, "tokensPerSecond": int(batch) * int(bptt) * 1000 / ms, "config": a.lstm}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
