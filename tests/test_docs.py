"""The Python examples in docs/ run as written (a headless example per workflow)."""

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)
PAGES = sorted(p.name for p in DOCS.glob("*.md") if BLOCK.search(p.read_text()))


def test_every_workflow_page_has_a_python_example():
    assert {"io.md", "particle-sizing.md", "fibers.md", "batch-prediction.md",
            "interactive-training.md"} <= set(PAGES)


# bioimageio.spec/core (sharing.md) leave the package files they hash open until the garbage
# collector closes them: those ResourceWarnings are not about our code
@pytest.mark.filterwarnings("ignore::ResourceWarning",
                            "ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("page", PAGES)
def test_python_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    blocks = BLOCK.findall((DOCS / page).read_text())
    # every example checks what it shows, so a silently wrong result fails here
    assert any("assert " in code for code in blocks), f"{page}: example has no assert"
    for code in blocks:
        exec(compile(code, f"{page}", "exec"), {"__name__": "__docs__"})
