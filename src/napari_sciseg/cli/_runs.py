"""One output folder per run: locked, checked for clashes, resumable, with ``run.json``.

:func:`output_run` wraps a subcommand's loop over its inputs::

    with output_run(out, "predict", planned, args, options=..., model=...) as run:
        for source in run.todo:
            ...write the outputs of source atomically...
            run.done(source, outputs)          # or run.failed(source, message)

It takes the folder's lock (a second run into the folder is refused), refuses
existing outputs unless ``--overwrite`` (or skips complete ones with
``--resume``), writes ``run.json`` as "running" and, at the end, as
"complete", "failed" or "interrupted". On Ctrl-C it prints which inputs
finished and how to continue.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path


class InterruptReported(KeyboardInterrupt):
    """Ctrl-C, already explained to the user (``main`` adds nothing)."""


class OutputRun:
    """The inputs still to do, and the bookkeeping of the ones done (see :func:`output_run`)."""

    def __init__(self, command: str, manifest, planned: dict, skipped: list):
        self.command = command
        self.manifest = manifest
        self.planned = planned
        self.skipped = skipped
        self.todo = [src for src in planned if src not in set(skipped)]
        self.n_failed = 0

    def done(self, source, outputs, record: dict | None = None) -> None:
        """``source`` is finished: its ``outputs`` are in place."""
        self.manifest.add(source, outputs, record=record)

    def failed(self, source, message: str) -> None:
        self.n_failed += 1
        self.manifest.add(source, [], error=message)

    def records(self) -> dict:
        """{source: record} of every finished input, earlier runs' included."""
        return self.manifest.records()


def _clash_error(out: Path, existing: list[Path]) -> FileExistsError:
    shown = ", ".join(p.name for p in existing[:3])
    more = f" and {len(existing) - 3} more" if len(existing) > 3 else ""
    return FileExistsError(
        f"{len(existing)} output(s) exist in {out} ({shown}{more}); pass --overwrite to replace "
        "them, --resume to keep the complete ones and do the rest, or choose another -o."
    )


def _complete(source, outputs: list[Path], previous: dict | None) -> bool:
    if not all(p.exists() for p in outputs):
        return False
    if previous is None:  # a folder written before run.json existed: trust whole files
        return True
    return str(source) in (previous.get("outputs") or {})


@contextlib.contextmanager
def output_run(
    out: Path,
    command: str,
    planned: dict,
    args,
    *,
    options: dict,
    model: Path | None = None,
    shared: tuple[Path, ...] = (),
) -> Iterator[OutputRun]:
    """Run ``command`` into the folder ``out``; ``planned`` is {input: [its output paths]}.

    ``args.overwrite`` and ``args.resume`` choose what happens to existing
    outputs; ``shared`` are outputs of the whole run (e.g. ``summary.csv``),
    rewritten by every run.
    """
    from ..io.outputs import RunManifest, acquire_folder_lock, read_manifest

    lock = acquire_folder_lock(out, command=f"sciseg {command}")
    status = "failed"
    try:
        if lock.took_over:
            print(f"sciseg {command}: {lock.took_over}", file=sys.stderr)
        previous = read_manifest(out)
        resume = getattr(args, "resume", False)
        manifest = RunManifest(out, command, options=options, model=model,
                               previous=previous if resume else None)  # fmt: skip
        skipped: list = []
        if resume:
            why = manifest.same_run(previous) if previous else None
            if why:
                raise ValueError(
                    f"--resume: the outputs in {out} come from another run ({why}); pass "
                    "--overwrite to replace them, or choose another -o."
                )
            skipped = [s for s, outs in planned.items() if _complete(s, outs, previous)]
        elif not args.overwrite:
            paths = [p for outs in planned.values() for p in outs] + list(shared)
            existing = [p for p in paths if p.exists()]
            if existing:
                raise _clash_error(out, existing)
        manifest.start(list(planned))
        run = OutputRun(command, manifest, planned, skipped)
        if skipped:
            print(f"sciseg {command}: --resume: {len(skipped)} of {len(planned)} input(s) "
                  "already complete, skipped", file=sys.stderr)  # fmt: skip
        try:
            yield run
        except KeyboardInterrupt:
            status = "interrupted"
            finished = sorted(Path(s).name for s in manifest.finished())
            names = ", ".join(finished) if finished else "none"
            print(
                f"sciseg {command}: interrupted; {len(finished)} of {len(planned)} input(s) "
                f"finished ({names}), their outputs are complete. Rerun the same command with "
                "--resume to do the rest.",
                file=sys.stderr,
            )
            raise InterruptReported from None
        status = "failed" if run.n_failed else "complete"
    finally:
        with contextlib.suppress(Exception):
            if "manifest" in locals() and "run" in locals():
                manifest.finish(status)
        lock.release()
