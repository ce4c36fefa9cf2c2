#!/usr/bin/python3
"""One training step of the seed CNN (or, with --model rnn, the fixtures' RnnModel on [batch, 20]
tokens) in PyTorch, timed for bench/train.ts.

Run by bench/train.ts with Debian's system python (PyTorch 1.13):
    /usr/bin/python3 bench/train_step_torch.py --batch 32 --iterations 20 --warmup 3
Same model (ImageClassifier), shapes (batch x 1 x 28 x 28, 10 classes), optimizer (Adam lr 1e-3),
loss (CrossEntropyLoss) and step (zero_grad, forward, loss, backward, step) as the Rosetta side, on
one thread (torch.set_num_threads(1)). Prints one JSON line: per-step times in ms and the median.
"""
import argparse, json, os, sys, time
import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
from seed_models import ImageClassifier, RnnModel  # noqa: E402  (the same modules as the fixtures)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--model", choices=["cnn", "rnn"], default="cnn")
    a = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    rnn = a.model == "rnn"
    model = (RnnModel() if rnn else ImageClassifier()).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    crit = nn.CrossEntropyLoss()
    x = torch.randint(0, 20, (a.batch, 20)) if rnn else torch.rand(a.batch, 1, 28, 28) * 2 - 1
    y = torch.randint(0, 3 if rnn else 10, (a.batch,))

    def step():
        opt.zero_grad()
        loss = crit(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(a.warmup):
        step()
    times = []
    for _ in range(a.iterations):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1000)
    s = sorted(times)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "batch": a.batch, "times_ms": times, "median_ms": s[len(s) // 2]}))


if __name__ == "__main__":
    main()
