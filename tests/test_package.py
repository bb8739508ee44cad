"""Package-level contracts: cheap import, layering, manifest, CLI basics."""

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "; import sys; print(' '.join(sys.modules))"],
        capture_output=True, text=True, check=True,
    )
    return set(out.stdout.split())


HEAVY = {"torch", "napari", "qtpy", "PyQt6", "matplotlib", "cc3d", "sklearn", "dask"}


def test_import_is_cheap():
    loaded = _modules_after("import napari_sciseg, napari_sciseg.io, napari_sciseg.data")
    assert not HEAVY & loaded, f"heavy modules imported: {sorted(HEAVY & loaded)}"


def test_cli_help_and_version_do_not_import_torch():
    loaded = _modules_after(
        "import contextlib, io\n"
        "from napari_sciseg.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main([])"
    )
    assert "torch" not in loaded and "napari" not in loaded
    out = subprocess.run([sys.executable, "-m", "napari_sciseg.cli", "--version"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("napari-sciseg ")


def test_import_linter_contracts_hold():
    # run with this interpreter so the contracts are checked on the package under test
    code = (
        "import sys; from importlinter.cli import lint_imports; "
        "sys.exit(lint_imports(no_cache=True))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(r"Contracts: \d+ kept, 0 broken", out.stdout), out.stdout


def test_import_linter_contracts_cover_every_module():
    """A new top-level module or subpackage must be placed in the layering."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    covered = {m for c in config["contracts"] for m in c["source_modules"]}
    front_ends = {"napari_sciseg._napari", "napari_sciseg.cli"}
    package = ROOT / "src" / "napari_sciseg"
    found = {
        f"napari_sciseg.{p.stem}"
        for p in package.iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()
    }
    missing = sorted(found - covered - front_ends)
    assert not missing, f"modules outside every import-linter contract: {missing}"


def test_manifest_is_valid_and_points_into_napari_layer():
    npe2 = pytest.importorskip("npe2")
    manifest = npe2.PluginManifest.from_file(ROOT / "src" / "napari_sciseg" / "napari.yaml")
    for command in manifest.contributions.commands:
        if command.python_name:
            assert command.python_name.startswith("napari_sciseg._napari."), command.python_name
    assert manifest.contributions.readers and manifest.contributions.writers
    assert len(manifest.contributions.sample_data) == 6  # with the scattering pattern


def test_ruff_is_clean():
    ruff = pytest.importorskip("ruff")
    del ruff
    out = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "src", "tests", "benchmarks", "docs"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def _code_lines(func: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines of a function's body, its docstring left out."""
    body = func.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return body[-1].end_lineno - body[0].lineno + 1 if body else 0


def test_no_function_in_src_is_longer_than_80_lines():
    long = []
    for path in sorted((ROOT / "src").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                if _code_lines(node) > 80:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert not long, "split these functions (over 80 lines of code): " + ", ".join(long)


def test_no_import_cycles():
    """No two modules of the package import each other, directly or in a ring (imports
    inside functions count too)."""
    grimp = pytest.importorskip("grimp")  # installed with import-linter
    graph = grimp.build_graph("napari_sciseg", cache_dir=None)
    cycles = []
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            if imported.startswith("napari_sciseg") and module != imported:
                chain = graph.find_shortest_chain(importer=imported, imported=module)
                if chain and module < imported:
                    cycles.append(" -> ".join((module, *chain)))
    assert not cycles, "import cycles: " + "; ".join(cycles)


# tests that are about the whole project rather than one module of it
CROSS_CUTTING_TESTS = {"test_package.py", "test_docs.py"}


def test_tests_mirror_src():
    """tests/ mirrors src/napari_sciseg/: a test module sits in the folder of the package it
    tests (tests/dl/afm/ for napari_sciseg.dl.afm), and a test at the top of tests/ is named
    after a top-level module (test_tiling*.py for napari_sciseg.tiling)."""
    package = ROOT / "src" / "napari_sciseg"
    tests = ROOT / "tests"
    top_level = {p.stem for p in package.iterdir() if p.suffix == ".py" or p.is_dir()}
    stray = []
    for path in sorted(tests.rglob("test_*.py")):
        folder = path.parent.relative_to(tests)
        if folder.parts:
            if not (package / folder).is_dir():
                stray.append(str(path.relative_to(ROOT)))
        elif path.name not in CROSS_CUTTING_TESTS and not any(
            path.stem == f"test_{m}" or path.stem.startswith(f"test_{m}_") for m in top_level
        ):
            stray.append(str(path.relative_to(ROOT)))
    assert not stray, (
        "move these tests to the folder that mirrors the module they test "
        "(src/napari_sciseg/x/y.py -> tests/x/test_y.py): " + ", ".join(stray)
    )


def test_front_end_modules_are_short():
    """A front-end module over ~250 lines does more than translate and present: split it by
    responsibility (form, run, presentation) and move logic to the workflow layer."""
    package = ROOT / "src" / "napari_sciseg"
    long = [
        f"{path.relative_to(ROOT)} ({n} lines)"
        for front_end in ("cli", "_napari")
        for path in sorted((package / front_end).rglob("*.py"))
        if (n := len(path.read_text().splitlines())) > 250
    ]
    assert not long, "split these front-end modules (over 250 lines): " + ", ".join(long)


# the public API whose functions must say what they take and give (numpydoc)
DOCUMENTED_PACKAGES = ("io", "measure", "segment", "dl", "dl.afm", "dl.export", "classify",
                       "evaluate", "data", "annotation", "uncertainty", "tiling", "plot")
# the workflow functions of docs/architecture.md: each shows its use in a runnable example
WORKFLOW_FUNCTIONS = (
    "io.calibration.resolve_spacing", "measure.size_particles",
    "measure.fiber_workflow.measure_fibers", "measure.fiber_workflow.iter_measure_fibers",
    "dl.iter_train", "dl.iter_train_recipe", "dl.train", "dl.iter_predict", "dl.predict",
    "dl.predict_region", "dl.region.iter_predict_region", "classify.forest_engine.train_forest",
    "classify.forest_engine.predict_forest", "dl.afm.train_recipe", "dl.afm.predict_scan",
    "dl.afm.evaluate", "dl.afm.cross_validate", "evaluate.evaluate_segmentation",
    "evaluate.segmentation_scores", "evaluate.particle_scores", "evaluate.fiber_scores",
    "evaluate.classification_report",
)


def _sections(doc: str) -> set[str]:
    return set(re.findall(r"^\s*(Parameters|Returns|Yields)\n\s*-{3,}\s*$", doc, re.M))


def test_public_functions_have_numpydoc_parameters_and_returns():
    import importlib
    import inspect

    pytest.importorskip("torch")
    missing, seen = [], set()
    for name in DOCUMENTED_PACKAGES:
        module = importlib.import_module(f"napari_sciseg.{name}")
        public = getattr(module, "__all__", None) or [n for n in dir(module) if n[0] != "_"]
        for attr in public:
            func = getattr(module, attr)
            if not inspect.isfunction(func) or func in seen:
                continue
            seen.add(func)
            sections = _sections(inspect.getdoc(func) or "")
            signature = inspect.signature(func)
            need = []
            if signature.parameters and "Parameters" not in sections:
                need.append("Parameters")
            if signature.return_annotation not in (None, "None") and not (
                    {"Returns", "Yields"} & sections):
                need.append("Returns")
            if need:
                missing.append(f"{func.__module__}.{func.__name__} ({', '.join(need)})")
    assert len(seen) > 80, f"only {len(seen)} public functions found: is the API still exported?"
    assert not missing, "add the numpydoc sections: " + "; ".join(missing)


def test_workflow_functions_have_runnable_examples():
    """Each workflow function is called in ``>>>`` lines of its module (its own docstring, or
    the module's or its generator's), which the suite runs: pytest
    collects the package's doctests (``--doctest-modules`` over ``src/napari_sciseg``)."""
    import importlib
    import inspect

    pytest.importorskip("torch")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]
    options = config["ini_options"]
    assert "--doctest-modules" in options["addopts"]
    assert "src/napari_sciseg" in options["testpaths"]
    without = []
    for dotted in WORKFLOW_FUNCTIONS:
        module_name, attr = dotted.rsplit(".", 1)
        func = getattr(importlib.import_module(f"napari_sciseg.{module_name}"), attr)
        # its own docstring, or an example elsewhere in its module that calls it
        source = inspect.getsource(inspect.getmodule(func))
        called = re.search(rf"^\s*>>> .*\b{attr}\(", source, re.M)
        if ">>>" not in (inspect.getdoc(func) or "") and not called:
            without.append(dotted)
    assert not without, "give these workflow functions a runnable example: " + ", ".join(without)
