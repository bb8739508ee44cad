"""benchmarks/gpu_check.py (the dl engine on CUDA): a no-op without CUDA, a CPU dry run."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


def _run(*args, hide_gpus=False):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1")
    if hide_gpus:
        env["CUDA_VISIBLE_DEVICES"] = ""
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=600)  # fmt: skip


def test_without_cuda_it_is_a_no_op_with_a_clear_message(tmp_path):
    out = tmp_path / "gpu.md"
    proc = _run("--out", out, hide_gpus=True)
    assert proc.returncode == 0, proc.stderr
    assert "gpu_check: nothing to check: no CUDA device" in proc.stdout
    assert "left as it was" in proc.stdout
    assert not out.exists()


def test_cpu_dry_run_checks_autocast_within_the_stated_tolerance(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "gpu.md"
    proc = _run("--quick", "--device", "cpu", "--out", out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    assert "CPU dry run" in text and "**All within tolerance.**" in text
    assert text.count("| yes |") == 4  # 2D and 3D, float32 and half precision


@pytest.mark.gpu
def test_quick_gpu_check_on_cuda(tmp_path):
    out = tmp_path / "gpu.md"
    proc = _run("--quick", "--out", out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "**All within tolerance.**" in out.read_text()
