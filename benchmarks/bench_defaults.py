"""Benchmark at the product's defaults: `sciseg train`'s ensemble vs DLSIA 0.3.4, busy or not.

    python benchmarks/bench_defaults.py                  # ~10 min on 2 busy cores
    python benchmarks/bench_defaults.py --steps 4 --size 384 --threads 1   # quicker

Configurations (rows), 2 classes, crop 64, batch 2, 5 members:

- ``ours default``: what ``sciseg train`` makes (SMSNet depth 20, width 4, our defaults);
- ``DLSIA default``: ``construct_2dsms_ensembler`` at its defaults (20 layers, ~50k
  parameters per member);
- ``DLSIA matched``: DLSIA with 9 layers, about our default's parameter count (~7k);
- ``ours small`` / ``DLSIA small``: the earlier benchmarks' depth-5 configuration.
- ``ours 3D default`` / ``DLSIA 3D``: the 3D defaults (``--dim 3``: 3 members of depth 10,
  crop 32) against DLSIA's ``random_3DSMS_network`` at the same size (3 members, 10 layers,
  crop 32, batch 2), on a 96^3 volume (training only).

Cells (columns): 1 and 2 torch threads, alone and beside a CPU-bound process this script
starts itself (a Python busy loop). Each (row, cell) is a fresh process that trains
``--steps`` steps after one warm-up step (time per step from the 2nd step on; ours
trains all members in each step, DLSIA one member after another as its code does) and
predicts a ``--size``^2 image. Reported: wall and process CPU time, useful GFLOP/s (the
networks' convolution FLOPs counted by ``torch.utils.flop_counter``; a training step
counts 3 forward passes) and that rate as a fraction of a float32 matmul measured in the
same cell. DLSIA runs in ``.venv-dlsia`` (``pip install dlsia==0.3.4`` beside this
project's torch, plus plotly and einops; a stand-in torchvision). Results:
``benchmarks/results/defaults.md``, with the load average of every cell.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DLSIA_PYTHON = ROOT / ".venv-dlsia" / "bin" / "python"
RESULTS = ROOT / "benchmarks" / "results" / "defaults.md"
STUB = {
    "torchvision/__init__.py": "from . import transforms, utils, datasets\n",
    "torchvision/transforms/__init__.py": "from . import functional\n",
    "torchvision/transforms/functional.py": "",
    "torchvision/utils.py": "def save_image(*args, **kwargs):\n    raise NotImplementedError\n",
    "torchvision/datasets.py": "",
}
ROWS = {  # name: (side, ndim, depth or None for the default)
    "ours default": ("ours", 2, None),
    "DLSIA default": ("dlsia", 2, 20),
    "DLSIA matched": ("dlsia", 2, 9),
    "ours small": ("ours", 2, 5),
    "DLSIA small": ("dlsia", 2, 5),
    "ours 3D default": ("ours", 3, None),
    "DLSIA 3D": ("dlsia", 3, 10),
}

COMMON = r"""
import json, sys, time, statistics
import numpy as np, torch
from torch.utils.flop_counter import FlopCounterMode
cfg = json.loads(sys.argv[1])
torch.set_num_threads(cfg["threads"])
def matmul_gflops():
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    a @ b
    ts = []
    for _ in range(5):
        t0 = time.perf_counter(); a @ b; ts.append(time.perf_counter() - t0)
    return 2 * 1024 ** 3 / statistics.median(ts) / 1e9
def flops(fn):
    with FlopCounterMode(display=False) as c, torch.no_grad():
        fn()
    return c.get_total_flops()
rng = np.random.default_rng(0)
nd, crop, batch, members = cfg["ndim"], 64, 2, 5
size = cfg["size"] if nd == 2 else 96
shape = (size,) * nd
yy = np.indices(shape).sum(0)
image = (np.sin(yy / 7.0) + rng.normal(0, 0.3, shape)).astype(np.float32)
truth = np.sin(yy / 7.0) > 0.3
labels = np.where(rng.random(shape) < 0.02, truth.astype(np.uint8) + 1, 0).astype(np.uint8)
"""

OURS = COMMON + r"""
from napari_sciseg.dl import iter_train, predict
from napari_sciseg.dl.recipe import defaults_for
default = defaults_for("3" if nd == 3 else "2")  # what `sciseg train` uses
kw = dict(default["model_kwargs"]) if cfg["depth"] is None else {"depth": cfg["depth"]}
if cfg["depth"] == 5:
    kw.update(dilations=(1, 2, 3, 4), width=5)
members, crop = default["members"], default["crop"]
torch.optim.AdamW([torch.zeros(1, requires_grad=True)])  # one-off import cost, untimed
gen = iter_train(image, labels, members=members, steps=cfg["steps"] + 1, crop=crop,
                 batch=batch, dim="3" if nd == 3 else "2", device="cpu", model_kwargs=kw,
                 early_stopping=None, val_every=10 ** 6)
walls, cpus = [], []
t0, c0 = time.perf_counter(), time.process_time()
try:
    while True:
        next(gen)
        t1, c1 = time.perf_counter(), time.process_time()
        walls.append(t1 - t0); cpus.append(c1 - c0); t0, c0 = t1, c1
except StopIteration as stop:
    trained = stop.value
net = trained.network
params = [m.n_parameters() for m in net.members]
x = torch.zeros((batch, 1) + (crop,) * nd)
fwd = sum(flops(lambda m=m: m(x)) for m in net.members)
out = {"step_wall": statistics.median(walls[1:]), "step_cpu": statistics.median(cpus[1:]),
       "step_flops": 3 * fwd, "params": params}
if nd == 2:
    predict(trained, image[:128, :128], device="cpu")
    t0, c0 = time.perf_counter(), time.process_time()
    predict(trained, image, device="cpu")
    out.update(pred_wall=time.perf_counter() - t0, pred_cpu=time.process_time() - c0,
               pred_flops=flops(lambda: net(torch.zeros(1, 1, 256, 256))) * (size / 256) ** 2)
out["matmul"] = matmul_gflops()
print(json.dumps(out))
"""

DLSIA = COMMON + r"""
np.random.seed(0); torch.manual_seed(0)
if nd == 3:  # the same size as our 3D default: 3 members, 10 layers, 32^3 crops
    members, crop = 3, 32
if nd == 2:
    from dlsia.core.networks.construct_sms_ensemble import construct_2dsms_ensembler
    nets = construct_2dsms_ensembler(members, 1, 2, cfg["depth"], network_type="Classification")
else:
    from dlsia.core.networks.sms3d import random_3DSMS_network
    nets = [random_3DSMS_network(in_channels=1, out_channels=2, layers=cfg["depth"],
                                 dilation_choices=[1, 2, 3, 4]) for _ in range(members)]
params = [sum(p.numel() for p in n.parameters()) for n in nets]
img = torch.from_numpy(image)[None, None]
lab = torch.from_numpy(labels.astype(np.int64) - 1)[None]
loss_fn = torch.nn.CrossEntropyLoss(ignore_index=-1)
walls, cpus = [], []
for net in nets:
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    net.train()
    for step in range(cfg["steps"] + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        starts = [rng.integers(0, s - crop + 1, batch) for s in shape]
        xs = torch.cat([img[(..., *[slice(st[i], st[i] + crop) for st in starts])]
                        for i in range(batch)])
        ys = torch.cat([lab[(..., *[slice(st[i], st[i] + crop) for st in starts])]
                        for i in range(batch)])
        loss = loss_fn(net(xs), ys)
        opt.zero_grad(); loss.backward(); opt.step()
        if step:
            walls.append(time.perf_counter() - t0); cpus.append(time.process_time() - c0)
x = torch.zeros((batch, 1) + (crop,) * nd)
fwd = sum(flops(lambda n=n: n(x)) for n in nets)
per = len(nets)  # member-steps per ensemble step
out = {"step_wall": statistics.median(walls) * per, "step_cpu": statistics.median(cpus) * per,
       "step_flops": 3 * fwd, "params": params}
if nd == 2:
    from dlsia.core.networks.baggins import model_baggin
    for n in nets:
        n.eval()
    bag = model_baggin(nets, model_type="classification")
    bag(img[..., :128, :128], device="cpu", return_std=True)
    t0, c0 = time.perf_counter(), time.process_time()
    bag(img, device="cpu", return_std=True)
    out.update(pred_wall=time.perf_counter() - t0, pred_cpu=time.process_time() - c0,
               pred_flops=sum(flops(lambda n=n: n(torch.zeros(1, 1, 256, 256))) for n in nets)
               * (size / 256) ** 2)
out["matmul"] = matmul_gflops()
print(json.dumps(out))
"""


def _run(row: str, threads: int, steps: int, size: int, stub: Path) -> dict:
    side, ndim, depth = ROWS[row]
    cfg = {"threads": threads, "steps": steps, "size": size, "ndim": ndim, "depth": depth}
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               PYTHONWARNINGS="ignore", OMP_WAIT_POLICY="PASSIVE")
    if side == "ours":
        python, code = sys.executable, OURS
        env["PYTHONPATH"] = str(ROOT / "src")
    else:
        python, code = str(DLSIA_PYTHON), DLSIA
        env["PYTHONPATH"] = str(stub)
    proc = subprocess.run([python, "-c", code, json.dumps(cfg)], capture_output=True,
                          text=True, env=env)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1][:200]}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["load"] = os.getloadavg()[0]
    return out


def _cell(r: dict) -> str:
    if "error" in r:
        return f"error: {r['error']}"
    gf = r["step_flops"] / r["step_wall"] / 1e9
    text = (f"train {r['step_wall']:.2f} s / {r['step_cpu']:.2f} CPU s per step, {gf:.1f} "
            f"GFLOP/s ({gf / r['matmul']:.0%})")
    if "pred_wall" in r:
        pg = r["pred_flops"] / r["pred_wall"] / 1e9
        text += (f"; predict {r['pred_wall']:.2f} s / {r['pred_cpu']:.2f} CPU s, {pg:.1f} "
                 f"GFLOP/s ({pg / r['matmul']:.0%})")
    return text + f"; load {r['load']:.1f}"


def _ratios(results: dict, cells: list[str]) -> list[str]:
    lines = ["", "Ours / DLSIA time ratios (DLSIA time divided by ours; > 1 = ours faster), "
             "train step wall / CPU, predict wall / CPU:", "",
             "| ours vs | " + " | ".join(cells) + " |", "|---|" + "---|" * len(cells)]
    for ours, theirs in (("ours default", "DLSIA default"), ("ours default", "DLSIA matched"),
                         ("ours small", "DLSIA small"), ("ours 3D default", "DLSIA 3D")):
        row = []
        for c in cells:
            a, b = results.get((ours, c), {}), results.get((theirs, c), {})
            if "step_wall" not in a or "step_wall" not in b:
                row.append("-")
                continue
            text = (f"{b['step_wall'] / a['step_wall']:.1f}x / "
                    f"{b['step_cpu'] / a['step_cpu']:.1f}x")
            if "pred_wall" in a and "pred_wall" in b:
                text += (f"; {b['pred_wall'] / a['pred_wall']:.1f}x / "
                         f"{b['pred_cpu'] / a['pred_cpu']:.1f}x")
            row.append(text)
        lines.append(f"| {ours} vs {theirs} | " + " | ".join(row) + " |")
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=4, help="timed training steps (after 1 warm-up)")
    p.add_argument("--size", type=int, default=512, help="2D image edge (training and predict)")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args(argv)
    if not DLSIA_PYTHON.exists():
        print(f"{DLSIA_PYTHON} missing: DLSIA rows are skipped (see the docstring).")
        args.rows = [r for r in args.rows if ROWS[r][0] == "ours"]
    results, cells = {}, []
    start = f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()}"
    with tempfile.TemporaryDirectory() as tmp:
        stub = Path(tmp)
        for rel, text in STUB.items():
            (stub / rel).parent.mkdir(parents=True, exist_ok=True)
            (stub / rel).write_text(text)
        for compete in (False, True):
            hog = (subprocess.Popen([sys.executable, "-c", "while True: pass"])
                   if compete else None)
            try:
                for threads in args.threads:
                    cell = f"{threads} thread{'s' * (threads > 1)}, " + (
                        "with a competing process" if compete else "alone")
                    cells.append(cell)
                    for row in args.rows:
                        results[(row, cell)] = _run(row, threads, args.steps, args.size, stub)
                        print(row, "|", cell, "|", _cell(results[(row, cell)]), flush=True)
            finally:
                if hog is not None:
                    hog.kill()
                    hog.wait()
    lines = ["# Default configurations vs DLSIA 0.3.4 (`python benchmarks/bench_defaults.py`)",
             "", f"Started {start}; ended load {os.getloadavg()}. 2 cores shared with other "
             f"jobs. Command: `python benchmarks/bench_defaults.py "
             f"{' '.join(argv if argv is not None else sys.argv[1:])}`. "
             f"Training: crop 64, batch 2, 5 members, median of {args.steps} steps; predict "
             f"{args.size}^2 (2D). See the script's docstring for the rows.", "",
             "| configuration | params per member | " + " | ".join(cells) + " |",
             "|---|---|" + "---|" * len(cells)]
    for row in args.rows:
        params = next((r["params"] for (name, _), r in results.items()
                       if name == row and "params" in r), [])
        lines.append(f"| {row} | {min(params, default=0)}-{max(params, default=0)} | "
                     + " | ".join(_cell(results[(row, c)]) for c in cells) + " |")
    lines += _ratios(results, cells)
    raw = {f"{k[0]} | {k[1]}": v for k, v in results.items()}
    lines += ["", f"Raw: `{json.dumps(raw)}`", ""]
    text = "\n".join(lines)
    if not args.no_write:
        RESULTS.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
