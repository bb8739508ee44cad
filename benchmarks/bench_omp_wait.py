"""Benchmark: OpenMP spin-waiting (torch's default) vs passive waiting on a busy machine.

Run from the repository root (``PYTHONPATH=src``)::

    python benchmarks/bench_omp_wait.py [--compete]

Each policy runs in a fresh interpreter (``OMP_WAIT_POLICY`` is read when torch loads
its OpenMP runtime): 2 torch threads, a 5-member depth-5 SMSNet ensemble predicting a
768^2 image, median of 3 (wall and process CPU time); ``--compete`` starts a CPU-bound
Python loop beside it. Two rounds, alternating the policies; prints one line per run
with the 1-minute load average.
"""
import json
import os
import subprocess
import sys

JOB = r'''
import time, json, numpy as np, torch, resource
from napari_sciseg.dl import create_model, Ensemble
from napari_sciseg.dl.prediction import predict
from types import SimpleNamespace
torch.set_num_threads(2)
members = [create_model("smsnet", ndim=2, in_channels=1, out_channels=2, depth=5, seed=s,
                        dilations=(1, 2, 3, 4), width=6) for s in range(5)]
net = Ensemble(members).eval()
cfg = SimpleNamespace(in_channels=1, n_classes=2, model_ndim=2, dim="2", slice_axis=0,
                      normalize=lambda x: x.astype("float32") / 255)
tr = SimpleNamespace(network=net, config=cfg)
img = np.random.default_rng(0).integers(0,255,(768,768)).astype(np.uint8)
predict(tr, img[:128,:128], device="cpu")
w, c = [], []
for _ in range(3):
    t0, c0 = time.perf_counter(), time.process_time()
    predict(tr, img, device="cpu")
    w.append(time.perf_counter()-t0); c.append(time.process_time()-c0)
print(json.dumps({"wall": sorted(w)[1], "cpu": sorted(c)[1]}))
'''
def run(policy):
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)
    env.pop("MKL_NUM_THREADS", None)
    env.pop("OMP_WAIT_POLICY", None)
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    out = subprocess.run([sys.executable, "-c", JOB], env=env, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])
comp = (subprocess.Popen([sys.executable, "-c", "while True: pass"])
        if "--compete" in sys.argv else None)
try:
    for _rep in range(2):
        for policy in (None, "PASSIVE"):
            print(policy, run(policy), os.getloadavg()[0], flush=True)
finally:
    if comp:
        comp.kill()
