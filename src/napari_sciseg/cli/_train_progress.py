"""``sciseg train`` in a terminal: Ctrl-C/SIGTERM handling, the progress bar, the summary line."""

from __future__ import annotations

import signal
import sys
import threading

__all__ = ["Interrupts", "run_loop", "summary"]


class Interrupts:
    """SIGINT/SIGTERM set ``event`` (stop after the step); a second one aborts at once."""

    event_factory = threading.Event  # tests stop a run at a chosen step through it

    def __init__(self):
        self.event = self.event_factory()
        self.signal: int | None = None
        self._old: dict = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.event.is_set():
            raise KeyboardInterrupt
        self.signal = signum
        self.event.set()
        print(f"\nsciseg train: {signal.Signals(signum).name}: stopping after this step to "
              "save the members trained so far (interrupt again to abort without saving)",
              file=sys.stderr, flush=True)

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)

    @property
    def exit_code(self) -> int:
        return 128 + int(self.signal or signal.SIGINT)


def run_loop(gen, arch: str, score: str = "val F1"):
    from tqdm import tqdm

    bar = None
    try:
        while True:
            p = next(gen)
            if bar is None:
                print(p.device)
                bar = tqdm(total=p.total_steps, initial=p.step - 1, unit="step",
                           desc=f"train {arch}")
            bar.update(p.step - bar.n)
            post = {"loss": f"{p.loss:.3f}"}
            if p.val_score is not None:
                post[score] = f"{p.val_score:.3f}"
            bar.set_postfix(post, refresh=False)
    except StopIteration as stop:
        return stop.value
    finally:
        if bar is not None:
            bar.close()


def summary(model, path) -> str:
    m = model.config.metrics
    score = m.get("val_f1")
    scored = f"validation F1 {score:.3f}" if score is not None else "no validation pixels"
    return (f"{scored} (validation loss {m.get('val_loss') or float('nan'):.3f}, "
            f"{m.get('steps_done')} steps, {len(model.network.members)} members) -> {path}")
