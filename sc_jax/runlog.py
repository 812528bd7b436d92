"""Run logging (named runlog so it never shadows the standard library's `logging`): console progress (throttled), metrics.jsonl and results files in the run
directory, and wandb when `logger.wandb.enabled` (imported only then).

Console lines (`RunLogger.info`/`progress`, `progress_callback`) also go to the Hydra job log
(`<run dir>/<job name>.log`) through the `logging` logger "sc_jax.runlog", which writes only to the
root logger's file handlers (never a second time to the console): see `log_to_job_file`.

Metrics are namespaced by the caller ("train/...", "eval/..."). `progress_callback` gives a
function that jitted code can call through `jax.debug.callback` to report progress at most every
`every_s` seconds without a print per step.
"""
from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np


JOB_LOG = logging.getLogger("sc_jax.runlog")
JOB_LOG.propagate = False  # the console line is printed by us; the root's console handler must not repeat it
JOB_LOG.setLevel(logging.INFO)


def _sync_job_file_handlers() -> None:
    """Point JOB_LOG at the root logger's current file handlers (Hydra's job log file). Hydra
    reconfigures logging for every job of a multirun, so a previous job's (closed) handler is
    dropped rather than reopened."""
    wanted = [h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)]
    for handler in list(JOB_LOG.handlers):
        if handler not in wanted:
            JOB_LOG.removeHandler(handler)
    for handler in wanted:
        if handler not in JOB_LOG.handlers:
            JOB_LOG.addHandler(handler)


def log_to_job_file(message: str) -> None:
    """`message` into the job log file(s) of the current Hydra run (nothing outside Hydra)."""
    _sync_job_file_handlers()
    if JOB_LOG.handlers:
        JOB_LOG.info(message)


def _jsonable(value):
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    arr = np.asarray(value) if hasattr(value, "shape") or isinstance(value, (np.generic,)) else None
    if arr is not None:
        return arr.item() if arr.ndim == 0 else arr.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def write_text_atomic(path, text: str) -> None:
    """Write `text` to `path` atomically: a reader (or a resumed sweep) sees the old file or the
    whole new one, never half of it (temporary file in the same folder, then os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_json(path, data) -> None:
    """`data` as indented JSON (NumPy/JAX arrays as lists), written atomically."""
    write_text_atomic(path, json.dumps(_jsonable(data), indent=2))


class RunLogger:
    """Console + JSON lines (+ wandb). Use as a context manager or call `finish()`."""

    def __init__(self, run_dir, cfg: Mapping[str, Any] | None = None, *, console: bool = True,
                 wandb_cfg: Mapping[str, Any] | None = None, progress_every_s: float = 5.0):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.console = console
        self.progress_every_s = progress_every_s
        # "w": a redone job (sc_jax.sweep: a finished one is skipped before its logger opens)
        # starts a fresh metrics.jsonl instead of appending to a half-written one
        self._metrics = open(self.run_dir / "metrics.jsonl", "w")
        self._last_progress = -float("inf")
        self._wandb = None
        wandb_cfg = dict(wandb_cfg or {})
        if wandb_cfg.get("enabled", False):
            import wandb  # only when asked: tests and quick starts never import it

            job = hydra_job()
            self._wandb = wandb.init(project=wandb_cfg.get("project", "sc_jax"),
                                     entity=wandb_cfg.get("entity"), mode=wandb_cfg.get("mode", "offline"),
                                     tags=list(wandb_cfg.get("tags", []) or []), dir=str(self.run_dir),
                                     group=wandb_cfg.get("group") or job.get("group"),
                                     name=wandb_cfg.get("name") or job.get("name"),
                                     job_type=job.get("job_type"), config=_jsonable(dict(cfg or {})))

    def log(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        record = _jsonable(dict(metrics))
        if step is not None:
            record["step"] = int(step)
        self._metrics.write(json.dumps(record) + "\n")
        self._metrics.flush()
        if self._wandb is not None:
            self._wandb.log({k: v for k, v in record.items() if k != "step"}, step=step)

    def info(self, message: str) -> None:
        """`message` on stderr (when `console`) and in the Hydra job log file (always)."""
        if self.console:
            print(message, file=sys.stderr, flush=True)
        log_to_job_file(message)

    def progress(self, message: str, force: bool = False) -> None:
        """Print at most every `progress_every_s` seconds."""
        now = time.monotonic()
        if force or now - self._last_progress >= self.progress_every_s:
            self._last_progress = now
            self.info(message)

    def finish(self) -> None:
        self._metrics.close()
        if self._wandb is not None:
            self._wandb.finish()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.finish()


def logger_from_cfg(run_dir, logger_cfg: Mapping[str, Any] | None, full_cfg=None) -> RunLogger:
    cfg = dict(logger_cfg or {})
    return RunLogger(run_dir, full_cfg, console=cfg.get("console", True), wandb_cfg=cfg.get("wandb"),
                     progress_every_s=float(cfg.get("progress_every_s", 5.0)))


def machine_name() -> str:
    """The CPU model and the cores this process may use (benchmarks record where they ran)."""
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cpu}, {cores} cores available"


def hydra_job() -> dict:
    """wandb's grouping of the current Hydra job: in a multirun, `group` = the sweep dir (one group
    per sweep) and `name` = the job's overrides (one run per job); `job_type` = the entry point.
    Empty outside Hydra."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hc = HydraConfig.get()
    except Exception:  # not inside a Hydra run
        return {}
    out = {"job_type": hc.job.name}
    if hc.mode == RunMode.MULTIRUN:
        out["group"] = f"{hc.job.name}:{Path(hc.sweep.dir).name}"
        out["name"] = hc.job.override_dirname or f"job{hc.job.num}"
    return out


def hydra_run_dir(default: str = ".") -> Path:
    """The Hydra run directory when called inside @hydra.main, else `default`."""
    try:
        from hydra.core.hydra_config import HydraConfig

        return Path(HydraConfig.get().runtime.output_dir)
    except Exception:  # not inside a Hydra run (tests call run functions directly)
        return Path(default)


def progress_callback(every_s: float = 5.0, stream=sys.stderr, prefix: str = "[train]"):
    """A host function for `jax.debug.callback(fn, step, total, **scalars)`, throttled.

    The throttle lives on the host, so jitted code calls it every update at negligible cost."""
    state = {"last": -float("inf"), "start": None}

    def report(step, total, **scalars):
        now = time.monotonic()
        if state["start"] is None:
            state["start"] = now
        step, total = int(np.asarray(step).max()), int(np.asarray(total).max())
        if now - state["last"] < every_s and step < total:
            return
        state["last"] = now
        parts = " ".join(f"{k}={float(np.mean(np.asarray(v))):.4g}" for k, v in scalars.items())
        line = f"{prefix} {step}/{total} {parts} ({now - state['start']:.1f}s)"
        print(line, file=stream, flush=True)
        log_to_job_file(line)

    return report


INTERRUPTED_EXIT_CODE = 130  # the shell's code for "stopped by SIGINT"


def stop_cleanly_on_interrupt(prefix: str = "[sc_jax]") -> None:
    """Ctrl-C (SIGINT) stops the job at once with exit code 130 and a one-line message, wherever
    it lands. Python's default KeyboardInterrupt is unsafe here: raised while XLA compiles
    (C++ threads still running), the interpreter's shutdown then crashes with a segfault (exit
    139, measured on JAX 0.10.2). Nothing finished is lost: results files are written last and
    atomically, so the interrupted job has none and a rerun (resume) redoes only it. Log files
    are flushed first. Call from an entry point's `main` (main thread only; elsewhere a no-op)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def stop(signum, frame):
        message = (f"{prefix} interrupted (Ctrl-C): stopped; finished results are kept and a rerun "
                   "into the same dir redoes only unfinished jobs")
        print("\n" + message, file=sys.stderr, flush=True)
        log_to_job_file(message)
        for handler in logging.getLogger().handlers + JOB_LOG.handlers:
            try:
                handler.flush()
            except Exception:  # a closed stream must not block the stop
                pass
        sys.stdout.flush()
        os._exit(INTERRUPTED_EXIT_CODE)

    signal.signal(signal.SIGINT, stop)
