"""ModelHost: the models behind the app, and the work done on them off the UI thread.

A plain object, not a widget (architecture §2): it loads the pair, starts a run or a
re-score in a thread worker and hands back what they produce, and holds what decides
whether a result is still wanted: the run and re-score ids and the run's cancel token. A
run (a comparison, a nudged run, a URIAL ablation: one at a time, each cancellable with Esc)
puts its events through the `Inbox` (a bounded hand-off, tui/inbox.py); loading and
re-scores post one message each. Model work takes turns on the engine's
`Comparator.lock`, since a run, a re-score and diversity sampling share its scorers.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textual.message import Message

from alignterm.engine.errors import AlignTermError, failure_line
from alignterm.engine.events import LoadingStep
from alignterm.engine.values import CancelToken, DecodingParams, ModelSpec

from .inbox import Inbox

if TYPE_CHECKING:
    from textual.dom import DOMNode

    from alignterm.engine.ablation import Ablation
    from alignterm.engine.compare import Comparator, ComparisonRequest, Rescored
    from alignterm.engine.events import ComparisonResult
    from alignterm.engine.nudge import Nudger
    from alignterm.engine.samples import Sampler


def reserve_a_core_for_the_ui() -> None:
    """Leave one CPU core to the UI thread when torch computes on the CPU.

    torch's CPU threads spin between operations; with one per core, the UI thread that
    takes each token from the worker waits behind them and a run slows many-fold (seen:
    26 s instead of 1.2 s on two cores). Only called once torch is imported.
    """
    torch = sys.modules.get("torch")
    cores = os.cpu_count() or 1
    if torch is not None and cores > 1 and torch.get_num_threads() >= cores:
        torch.set_num_threads(cores - 1)


def _one_line(err: Exception) -> str:
    return f"{type(err).__name__}: {err}".splitlines()[0]


def demo_query(base: ModelSpec) -> str:
    """The demo query, when the base model is the bundled demo pair's."""
    try:
        from alignterm.engine import demo

        if Path(base.spec).expanduser().resolve() != demo.BASE_DIR.resolve():
            return ""
        queries = demo.demo_queries()
        return queries[0]["query"] if queries else ""
    except (ImportError, OSError, ValueError, KeyError):
        return ""  # no demo pair built yet: start with an empty query


@dataclass(frozen=True)
class AblationDone:
    """A URIAL ablation's one event (None: it was cancelled)."""

    ablation: Ablation | None


@dataclass(frozen=True)
class RunFailed:
    """A run stopped with an error (travels through the inbox after the run's events)."""

    message: str


class LoadStep(Message):
    """Loading reached a new step (the engine's `LoadingStep`: its words, which side, from where)."""

    def __init__(self, step: LoadingStep) -> None:
        super().__init__()
        self.step = step


class Loaded(Message):
    """Both models are loaded (`specs`: which pair, since another may have been asked for meanwhile)."""

    def __init__(self, comparator: Comparator, specs: tuple[ModelSpec, ModelSpec]) -> None:
        super().__init__()
        self.comparator, self.specs = comparator, specs


class LoadFailed(Message):
    """The models could not be loaded: one line saying why."""

    def __init__(self, message: str, specs: tuple[ModelSpec, ModelSpec]) -> None:
        super().__init__()
        self.message, self.specs = message, specs


class EventsWaiting(Message):
    """The inbox has events from a run (posted from the worker thread)."""


class RescoreDone(Message):
    """A re-score of the aligned answer under an edited URIAL prompt finished."""

    def __init__(self, rescore_id: int, rescored: Rescored) -> None:
        super().__init__()
        self.rescore_id, self.rescored = rescore_id, rescored


class RescoreFailed(Message):
    def __init__(self, rescore_id: int, message: str) -> None:
        super().__init__()
        self.rescore_id, self.message = rescore_id, message


class _Superseded(CancelToken):
    """A re-score's cancel token, cancelled as soon as a newer edit or run supersedes it."""

    def __init__(self, host: ModelHost, rescore_id: int) -> None:
        super().__init__()
        self._host, self._id = host, rescore_id

    @property
    def cancelled(self) -> bool:
        return super().cancelled or not self._host.is_current_rescore(self._id)


class ModelHost:
    """The model pair, loading it, and the runs and re-scores on it; messages go to `node`."""

    def __init__(self, node: DOMNode, base: ModelSpec, aligned: ModelSpec, params: DecodingParams,
                 top_k: int, comparator: Comparator | None) -> None:
        self._node = node  # where messages go and workers run (thread-safe post_message)
        self.base_spec, self.aligned_spec, self.params, self.top_k = base, aligned, params, top_k
        self.comparator = comparator
        self.loader: threading.Thread | None = None
        self.load_error: str | None = None
        self.load_started = time.monotonic()
        self.inbox = Inbox(lambda: node.post_message(EventsWaiting()))
        self._run_id = 0
        self._run_cancel: CancelToken | None = None
        self._rescore_id = 0
        self._sampler: tuple[Comparator, Sampler] | None = None  # diversity sampling, kept with its KV caches
        self._nudger: tuple[Comparator, Nudger] | None = None  # nudged runs, kept with their KV caches

    @property
    def specs(self) -> tuple[ModelSpec, ModelSpec]:
        return self.base_spec, self.aligned_spec

    @property
    def running(self) -> bool:
        return self._run_cancel is not None

    @property
    def loading(self) -> bool:
        return self.loader is not None and self.comparator is None and self.load_error is None

    # ---- loading ---------------------------------------------------------------------

    def use_models(self, base: ModelSpec, aligned: ModelSpec) -> None:
        """Another pair (an opened session's): forget the loaded one; it loads when a run needs it."""
        if (base, aligned) != self.specs:
            self.base_spec, self.aligned_spec = base, aligned
            self.comparator, self.loader, self.load_error = None, None, None

    def start_loading(self) -> None:
        self.load_started = time.monotonic()
        self.loader = threading.Thread(target=self._load, args=self.specs, name="alignterm-load", daemon=True)
        self.loader.start()

    def _load(self, base: ModelSpec, aligned: ModelSpec) -> None:
        """Load both models (a daemon thread, so quitting mid-load does not wait for it)."""
        # The engine's heavy modules (torch, transformers) are imported here, not at the
        # top of the app, so the first frame is drawn before they load.
        post = self._node.post_message
        try:
            post(LoadStep(LoadingStep("importing torch…")))
            from alignterm.engine.compare import Comparator

            def progress(step: LoadingStep) -> None:
                post(LoadStep(step))

            comparator = Comparator.load(base, aligned, top_k=self.top_k, progress=progress)
            reserve_a_core_for_the_ui()
        except AlignTermError as err:
            post(LoadFailed(str(err), (base, aligned)))
        except MemoryError:
            post(LoadFailed("out of memory while loading the models", (base, aligned)))
        except Exception as err:  # never a traceback on screen: one line, and the log has the rest
            post(LoadFailed(_one_line(err), (base, aligned)))
        else:
            post(Loaded(comparator, (base, aligned)))

    def loaded(self, message: Loaded) -> bool:
        """Take the loaded pair if it is still the one wanted."""
        if message.specs != self.specs:
            return False  # a session with other models was opened while these loaded
        self.comparator = message.comparator
        return True

    def load_failed(self, message: LoadFailed) -> bool:
        if message.specs != self.specs:
            return False
        self.load_error = message.message
        return True

    # ---- runs ------------------------------------------------------------------------

    def start_run(self, request: ComparisonRequest) -> None:
        """Run the comparison in a worker, replacing any run; its events arrive through the inbox."""
        self._start(lambda comparator, cancel: comparator.run(request, cancel))

    def start_nudge(self, query: str, urial: str | None, gamma: float, reference: ComparisonResult | None) -> None:
        """A nudged answer to `query` at `gamma` (engine/nudge.py) as a run: NudgedTokens, then NudgeFinished.
        Raises BadInput where the pair cannot nudge (a model that cannot score given tokens)."""
        nudger, params = self.nudger(), self.params
        self._start(lambda _, cancel: nudger.run(query, urial, params, gamma, cancel, reference))

    def start_ablation(self, result: ComparisonResult) -> None:
        """Score `result`'s aligned answer under each part of its URIAL prompt, as a run whose one
        event is AblationDone."""
        from alignterm.engine.ablation import ablate

        self._start(lambda comparator, cancel: (AblationDone(ablate(comparator, result, cancel)),))

    def _start(self, events: Callable[[Comparator, CancelToken], Iterable[object]]) -> None:
        """Run `events` in a worker, replacing any run."""
        self.drop()
        cancel = self._run_cancel = CancelToken()
        run_id = self._run_id
        self._node.run_worker(lambda: self._run(events, cancel, run_id), thread=True,
                              exit_on_error=False, group="model")

    def _run(self, events: Callable[[Comparator, CancelToken], Iterable[object]], cancel: CancelToken,
             run_id: int) -> None:
        comparator = self.comparator
        assert comparator is not None  # a run is only started with the models loaded
        with comparator.lock:  # a previous run or a re-score may still be finishing
            try:
                for event in events(comparator, cancel):
                    self.inbox.put((run_id, event), stop=lambda: cancel.cancelled)
            except AlignTermError as err:
                self.inbox.put((run_id, RunFailed(str(err))))
            except Exception as err:  # one line for the user, never a traceback
                self.inbox.put((run_id, RunFailed(failure_line(err))))

    def take_events(self) -> list[object]:
        """The current run's events waiting in the inbox (a superseded run's are dropped)."""
        return [event for run_id, event in self.inbox.take_all() if run_id == self._run_id]

    def cancel_run(self) -> bool:
        """Cancel the run at its next token (its partial result still arrives); False if none runs."""
        if self._run_cancel is None:
            return False
        self._run_cancel.cancel()
        return True

    def run_ended(self) -> None:
        self._run_cancel = None

    def drop(self) -> None:
        """Cancel the run and any re-score: what they would deliver is no longer wanted."""
        self.cancel_run()
        self._run_id += 1
        self._run_cancel = None
        self._rescore_id += 1

    # ---- re-scores -------------------------------------------------------------------

    def is_current_rescore(self, rescore_id: int) -> bool:
        return rescore_id == self._rescore_id

    def start_rescore(self, result: ComparisonResult, urial: str | None) -> None:
        """Score the aligned answer again under `urial`, superseding any earlier re-score."""
        self._rescore_id += 1
        rescore_id = self._rescore_id
        self._node.run_worker(lambda: self._rescore(result, urial, rescore_id), thread=True,
                              exit_on_error=False, group="rescore")

    def _rescore(self, result: ComparisonResult, urial: str | None, rescore_id: int) -> None:
        comparator = self.comparator
        assert comparator is not None  # start_rescore is only called with the models loaded
        with comparator.lock:
            stop = _Superseded(self, rescore_id)
            if stop.cancelled:
                return  # superseded while it waited for the models
            try:
                rescored = comparator.rescore_aligned(result, urial, stop)
            except AlignTermError as err:
                self._node.post_message(RescoreFailed(rescore_id, str(err)))
            except Exception as err:
                self._node.post_message(RescoreFailed(rescore_id, _one_line(err)))
            else:
                if rescored is not None:  # None: stopped half way for a newer edit
                    self._node.post_message(RescoreDone(rescore_id, rescored))

    # ---- diversity -------------------------------------------------------------------

    def sampler(self) -> Sampler:
        """The diversity sampler on the loaded pair (kept, with its KV caches, while the pair is)."""
        from alignterm.engine.samples import Sampler

        comparator = self.comparator
        assert comparator is not None
        if self._sampler is None or self._sampler[0] is not comparator:
            self._sampler = (comparator, Sampler(comparator.base, comparator.aligned))
        return self._sampler[1]

    def nudger(self) -> Nudger:
        """The nudged decoder on the loaded pair (kept, with its KV caches, while the pair is)."""
        from alignterm.engine.nudge import Nudger

        comparator = self.comparator
        assert comparator is not None
        if self._nudger is None or self._nudger[0] is not comparator:
            self._nudger = (comparator, Nudger(comparator))
        return self._nudger[1]

    def close(self) -> None:
        """The app is leaving: never make a worker wait, and stop what runs at its next token."""
        self.inbox.close()
        self.drop()
