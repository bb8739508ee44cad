"""DLSIA 0.3.4 side of bench_training.py; run by the .venv-dlsia interpreter.

    python _dlsia_training.py WORKDIR  (reads task.npz, writes dlsia.json)

Builds DLSIA's own SMSNet ensemble (construct_2dsms_ensembler: alpha = gamma = 0,
max degree = depth, IL = LO = 0.995, 3 x classes channels per edge, dilations
1-4) and trains each member in turn: Adam, cross-entropy with ignore_index -1,
random crops. Only the model, loss and optimizer are timed.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from dlsia.core.networks.construct_sms_ensemble import construct_2dsms_ensembler

work = Path(sys.argv[1])
task = np.load(work / "task.npz")
cfg = json.loads((work / "config.json").read_text())
torch.set_num_threads(cfg["threads"])
torch.manual_seed(cfg["seed"])
np.random.seed(cfg["seed"])  # DLSIA draws its graphs from numpy's global generator
rng = np.random.default_rng(cfg["seed"])
image = torch.from_numpy(task["image"])[None, None]
labels = torch.from_numpy(task["labels"].astype(np.int64) - 1)[None]  # -1 = unlabeled
nets = construct_2dsms_ensembler(cfg["members"], 1, 2, cfg["depth"],
                                 network_type="Classification")
crop, batch, ny, nx = cfg["crop"], cfg["batch"], image.shape[-2], image.shape[-1]
loss_fn = torch.nn.CrossEntropyLoss(ignore_index=-1)
seconds, cpu = [], []
for net in nets:
    opt = torch.optim.Adam(net.parameters(), lr=cfg["lr"])
    net.train()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(cfg["steps"]):
        ys = rng.integers(0, ny - crop + 1, batch)
        xs = rng.integers(0, nx - crop + 1, batch)
        x = torch.cat([image[..., y:y + crop, x0:x0 + crop] for y, x0 in zip(ys, xs)])
        t = torch.cat([labels[..., y:y + crop, x0:x0 + crop] for y, x0 in zip(ys, xs)])
        loss = loss_fn(net(x), t)
        opt.zero_grad()
        loss.backward()
        opt.step()
    seconds.append(time.perf_counter() - t0)
    cpu.append(time.process_time() - c0)
probs = []
with torch.no_grad():
    for net in nets:
        net.eval()  # DLSIA's BatchNorm keeps no running stats: still batch statistics
        probs.append(torch.softmax(net(image), 1))
pred = torch.stack(probs).mean(0)[0].argmax(0).numpy() == 1
truth = task["truth"]
f1 = 2 * np.sum(pred & truth) / (pred.sum() + truth.sum())
out = {"seconds": seconds, "cpu": cpu, "f1": float(f1),
       "params": [sum(p.numel() for p in n.parameters()) for n in nets]}
(work / "dlsia.json").write_text(json.dumps(out))
