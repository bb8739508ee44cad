"""Benchmark: tiled ensemble prediction vs DLSIA 0.3.4, and a 512^3 zarr volume.

Run from the repository root::

    python benchmarks/bench_predict.py            # full run (a few minutes on 2 cores)
    python benchmarks/bench_predict.py --volume 256 --repeat 1   # quicker

Each measurement runs in its own subprocess, so peak RSS (``ru_maxrss``) is the
peak of that job alone (Python + torch + the prediction). Times are medians.

1. A 1024^2 image, a 5-member SMSNet ensemble of the training benchmark's size
   (depth 5, dilations 1-4, 2 classes; ~2-4k parameters per member, random
   weights: prediction time does not depend on training), CPU.
   DLSIA: ``construct_2dsms_ensembler`` (depth 5, its defaults) wrapped in
   ``model_baggin`` with ``return_std=True``, run in ``/work/main/.venv-dlsia``
   when that environment exists; otherwise SCIENCE.md's measurement (6.8 s,
   2.6 GB) is quoted and the table says so.
2. Our throughput as a fraction of this machine's float32 matmul GFLOP/s
   (FLOPs counted by ``torch.utils.flop_counter`` on the untiled network).
3. A 512^3 uint8 zarr volume (64^3 chunks) predicted slice by slice by a 2.5D
   ensemble of the same members, written to a zarr group chunk by chunk:
   peak RSS and voxels/s.

Results go to ``benchmarks/results/predict.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DLSIA_PYTHON = ROOT / ".venv-dlsia" / "bin" / "python"
RESULTS = ROOT / "benchmarks" / "results" / "predict.md"
SCIENCE_DLSIA = {"time_s": 6.8, "peak_rss_mb": 2600.0}

MEMBERS, DEPTH, CLASSES = 5, 5, 2


def _rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _ensemble(ndim: int = 2, members: int = MEMBERS, depth: int = DEPTH):
    """Our SMSNet ensemble (default: the benchmark's 5 x depth 5) and a TrainedModel-like
    wrapper."""
    from types import SimpleNamespace

    from napari_sciseg.dl import Ensemble, create_model

    members = [
        create_model("smsnet", ndim=ndim, in_channels=1, out_channels=CLASSES, depth=depth,
                     seed=s, dilations=(1, 2, 3, 4), width=3 * CLASSES)
        for s in range(members)
    ]
    net = Ensemble(members).eval()
    cfg = SimpleNamespace(in_channels=1, n_classes=CLASSES, model_ndim=ndim, dim="2.5",
                          slice_axis=0, normalize=lambda x: x.astype("float32") / 255.0)
    return SimpleNamespace(network=net, config=cfg), [m.n_parameters() for m in members]


def job_ours(size: int, repeat: int) -> dict:
    import numpy as np
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from napari_sciseg.dl.prediction import predict

    trained, params = _ensemble()
    image = np.random.default_rng(0).integers(0, 255, (size, size)).astype(np.uint8)
    base = _rss_mb()
    predict(trained, image[:128, :128], device="cpu")  # warm-up
    times, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        result = predict(trained, image, device="cpu")
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    assert result.mean.shape == (CLASSES, size, size)
    peak = _rss_mb()
    # FLOPs of the untiled network (counted after the peak was taken)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        trained.network(torch.zeros(1, 1, 256, 256))
    flops = counter.get_total_flops() * (size / 256) ** 2
    return {"time_s": statistics.median(times), "times": times, "peak_rss_mb": peak,
            "cpu_s": statistics.median(cpu),
            "rss_after_import_mb": base, "params": params, "flops": flops,
            "threads": torch.get_num_threads()}


def job_matmul() -> dict:
    import torch

    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return {"gflops": 2 * n**3 / statistics.median(times) / 1e9}


def job_volume(size: int, device: str, members: int, depth: int) -> dict:
    import numpy as np
    import zarr

    from napari_sciseg.dl.prediction import iter_predict

    trained, _ = _ensemble(members=members, depth=depth)
    with tempfile.TemporaryDirectory() as tmp:
        vol = zarr.create_array(f"{tmp}/in.zarr", shape=(size,) * 3, chunks=(64, 64, 64),
                                dtype="uint8")
        rng = np.random.default_rng(0)
        for z in range(0, size, 64):
            vol[z:z + 64] = rng.integers(0, 255, (min(64, size - z), size, size), dtype=np.uint8)
        base = _rss_mb()
        t0 = time.perf_counter()
        gen = iter_predict(trained, vol, out=f"{tmp}/out.zarr", device=device)
        for _ in gen:
            pass
        elapsed = time.perf_counter() - t0
        out = zarr.open_group(f"{tmp}/out.zarr", mode="r")
        assert out["mean"].shape == (CLASSES, size, size, size)
    return {"time_s": elapsed, "voxels_per_s": size**3 / elapsed, "peak_rss_mb": _rss_mb(),
            "rss_before_mb": base, "size": size, "members": members, "depth": depth}


_DLSIA_JOB = r"""
import json, random, resource, statistics, sys, time
import numpy as np, torch
MEMBERS, CLASSES, DEPTH, THREADS = (int(v) for v in sys.argv[3:7])
torch.set_num_threads(THREADS)
from dlsia.core.networks import construct_sms_ensemble
from dlsia.core.networks.baggins import model_baggin
size, repeat = int(sys.argv[1]), int(sys.argv[2])
x = torch.from_numpy(np.random.default_rng(0).random((1, 1, size, size), dtype=np.float32))
times, cpu, params = [], [], []
for r in range(repeat):
    # DLSIA draws its graphs from numpy's global generator: seed it, one ensemble per
    # repeat (seeds 0, 1, ...), so the runs are reproducible and sizes are sampled
    np.random.seed(r); random.seed(r); torch.manual_seed(r)
    nets = construct_sms_ensemble.construct_2dsms_ensembler(
        MEMBERS, 1, CLASSES, DEPTH, network_type="Classification")
    nets = [n.eval() for n in nets]
    params.append([sum(p.numel() for p in n.parameters()) for n in nets])
    bag = model_baggin(nets, model_type="classification")
    bag(x[..., :128, :128], device="cpu", return_std=True)
    t0, c0 = time.perf_counter(), time.process_time()
    mean, std = bag(x, device="cpu", return_std=True)
    times.append(time.perf_counter() - t0)
    cpu.append(time.process_time() - c0)
print(json.dumps({"time_s": statistics.median(times), "times": times,
                  "cpu_s": statistics.median(cpu), "cpus": cpu,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "params": params, "threads": torch.get_num_threads()}))
"""


def _subprocess(args: list[str], python: str = sys.executable, extra_env=None) -> dict:
    env = dict(os.environ, PYTHONWARNINGS="ignore", **(extra_env or {}))
    proc = subprocess.run([python, *args], capture_output=True, text=True, env=env, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"{args[:2]} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _torchvision_stub(folder: Path) -> None:
    """DLSIA imports torchvision at import time; none of its SMSNet code uses it (and
    the PyPI wheel is a CUDA build that does not load here): a stand-in package."""
    pkg = folder / "torchvision"
    (pkg / "transforms").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from . import transforms, utils, datasets\n")
    (pkg / "transforms" / "__init__.py").write_text("from . import functional\n")
    (pkg / "transforms" / "functional.py").write_text("")
    (pkg / "utils.py").write_text("def save_image(*a, **k):\n    raise NotImplementedError\n")
    (pkg / "datasets.py").write_text("ImageFolder = None\n")


def _dlsia(size: int, repeat: int, threads: int) -> tuple[dict, str]:
    if not DLSIA_PYTHON.exists():
        return dict(SCIENCE_DLSIA), "SCIENCE.md (no .venv-dlsia here)"
    with tempfile.TemporaryDirectory() as tmp:
        job = Path(tmp) / "dlsia_job.py"
        job.write_text(_DLSIA_JOB)
        probe = subprocess.run([str(DLSIA_PYTHON), "-c", "import torchvision"],
                               capture_output=True)
        env = {}
        if probe.returncode != 0:
            _torchvision_stub(Path(tmp) / "stub")
            env["PYTHONPATH"] = str(Path(tmp) / "stub")
        args = [str(job), str(size), str(repeat), str(MEMBERS), str(CLASSES), str(DEPTH),
                str(threads)]
        return _subprocess(args, str(DLSIA_PYTHON), env), "measured"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--volume", type=int, default=512, help="edge of the zarr volume (0: skip)")
    p.add_argument("--device", default="cpu", help="device for the volume run")
    p.add_argument("--volume-members", type=int, default=1,
                   help="ensemble size for the volume run (activations per tile are what "
                   "memory depends on; a light ensemble keeps the run to minutes on 2 cores)")
    p.add_argument("--volume-depth", type=int, default=1)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads for both DLSIA and ours (1: fair on a shared machine)")
    p.add_argument("--baseline", help="also time this src folder (e.g. an exported older "
                   "commit) with the same job, as 'before'")
    p.add_argument("--job", help=argparse.SUPPRESS)
    p.add_argument("--no-write", action="store_true", help="do not write the results file")
    args = p.parse_args(argv)
    if args.job:  # inside a subprocess
        import torch

        torch.set_num_threads(args.threads)
        result = {"ours": lambda: job_ours(args.size, args.repeat), "matmul": job_matmul,
                  "volume": lambda: job_volume(args.volume, args.device, args.volume_members,
                                             args.volume_depth)}[args.job]()
        print(json.dumps(result))
        return 0
    me = [str(Path(__file__).resolve())]
    common = ["--size", str(args.size), "--repeat", str(args.repeat),
              "--threads", str(args.threads)]
    matmul = _subprocess(me + ["--job", "matmul", "--threads", str(args.threads)])
    dlsia, dlsia_source = _dlsia(args.size, args.repeat, args.threads)
    ours = _subprocess(me + ["--job", "ours", *common])
    before = None
    if args.baseline:
        before = _subprocess(me + ["--job", "ours", *common],
                             extra_env={"PYTHONPATH": str(Path(args.baseline).resolve())})
    volume = None
    if args.volume:
        volume = _subprocess(me + ["--job", "volume", "--volume", str(args.volume),
                                   "--device", args.device,
                                   "--volume-members", str(args.volume_members),
                                   "--volume-depth", str(args.volume_depth)])
    gflops = ours["flops"] / ours["time_s"] / 1e9
    lines = [
        "# Prediction benchmark (`python benchmarks/bench_predict.py`)",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
        f"torch threads {ours['threads']}; float32 matmul (2048^2): "
        f"{matmul['gflops']:.1f} GFLOP/s; load average at the end "
        f"{os.getloadavg()[0]:.1f} (other jobs share the cores: compare within one run).",
        f"{args.size}^2 image, {MEMBERS}-member SMSNet ensemble, depth {DEPTH}, {CLASSES} classes, "
        f"CPU, {args.threads} torch thread(s) for both, median of {args.repeat}. "
        f"DLSIA numbers: {dlsia_source}. Command: `python benchmarks/bench_predict.py "
        f"{' '.join(argv if argv is not None else sys.argv[1:])}`.",
        "",
        "| | wall time (s) | CPU time (s) | peak RSS (MB) | params per member |",
        "|---|---:|---:|---:|---|",
        f"| DLSIA 0.3.4 | {dlsia['time_s']:.2f} | {dlsia.get('cpu_s', float('nan')):.2f} | "
        f"{dlsia['peak_rss_mb']:.0f} | {dlsia.get('params', '-')} (one ensemble per "
        "repeat, numpy seeds 0, 1, ...) |",
        f"| napari-sciseg | {ours['time_s']:.2f} | {ours['cpu_s']:.2f} | "
        f"{ours['peak_rss_mb']:.0f} | {ours['params']} |",
    ]
    if before:
        lines.insert(-1, f"| napari-sciseg before (`--baseline`) | {before['time_s']:.2f} | "
                     f"{before.get('cpu_s', float('nan')):.2f} | {before['peak_rss_mb']:.0f} | "
                     f"{before['params']} |")
    lines += [
        "",
        f"Speed-up {dlsia['time_s'] / ours['time_s']:.1f}x in wall time, "
        f"{dlsia.get('cpu_s', float('nan')) / ours['cpu_s']:.1f}x in CPU time (less "
        "sensitive to other jobs on the machine; target >= 4x); peak memory "
        f"{ours['peak_rss_mb'] / dlsia['peak_rss_mb']:.2f} of DLSIA's (target <= 0.25); "
        f"our RSS after importing torch and building the models: "
        f"{ours['rss_after_import_mb']:.0f} MB.",
        f"Our useful conv work: {ours['flops'] / 1e9:.1f} GFLOP in {ours['time_s']:.2f} s = "
        f"{gflops:.1f} GFLOP/s = {gflops / matmul['gflops']:.1%} of the measured matmul rate.",
    ]
    if volume:
        lines += [
            "",
            f"{volume['size']}^3 uint8 zarr volume (64^3 chunks) -> zarr group, 2.5D ensemble "
            f"of {volume['members']} SMSNets of depth {volume['depth']} (slice by slice), "
            f"{args.device}: {volume['time_s']:.1f} s, "
            f"{volume['voxels_per_s'] / 1e6:.2f} Mvoxel/s, peak RSS {volume['peak_rss_mb']:.0f} MB "
            "(target < 2048 MB).",
        ]
    lines += ["", "Raw: `" + json.dumps({"dlsia": dlsia, "ours": ours, "before": before,
                                          "volume": volume, "matmul": matmul}) + "`", ""]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
