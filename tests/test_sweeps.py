"""Resumable sweeps (sc_jax.sweep, conf/*.yaml hydra.sweep) and experiments/aggregate.py.

Fast: a stand-in task composes conf/train.yaml under a real Hydra multirun (no training); the
entry points' resume wiring is checked on run dirs that already hold a results file (they return
before any work). The real `experiments/train.py -m` twice over is marked slow (~75 s on 2 cores).
"""
import importlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from tests.hydra_config import CONF_DIR, compose_config

from sc_jax.errors import ConfigError
from sc_jax.sweep import finished, resume_or_none

ROOT = Path(__file__).resolve().parents[1]
ENTRIES = {"train": ("results.json", []), "evaluate": ("evaluation.json", ["checkpoint=x"]),
           "hybrid": ("results.json", []), "reproduce_orgym": ("results.json", [])}

TASK = textwrap.dedent(f"""
    import os
    import hydra
    from sc_jax.config import register_configs, to_dict
    from sc_jax.runlog import hydra_run_dir, logger_from_cfg, write_json
    from sc_jax.sweep import resume_or_none

    register_configs()

    @hydra.main(config_path={str(CONF_DIR)!r}, config_name="train", version_base=None)
    def main(cfg):
        full = to_dict(cfg)
        run_dir = hydra_run_dir()
        if resume_or_none(full, run_dir, "results.json", "[fake]") is not None:
            return
        log = logger_from_cfg(run_dir, full["logger"], full)
        log.info(f"[fake] running seed={{full['seed']}} pid={{os.getpid()}}")
        log.log({{"train/x": 1.0}})
        write_json(run_dir / "results.json", {{"seed": full["seed"], "pid": os.getpid(),
                                               "eval": {{"mean_reward": -float(full["seed"]), "ci95": 0.5}}}})
        log.finish()

    main()
""")


def _multirun(tmp_path, sweep_dir, *overrides):
    task = tmp_path / "task.py"
    task.write_text(TASK)
    proc = subprocess.run([sys.executable, str(task), "-m", *overrides, f"hydra.sweep.dir={sweep_dir}"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _job_dirs(sweep_dir):
    return sorted(p.parent.parent for p in Path(sweep_dir).rglob(".hydra/overrides.yaml"))


def test_sweep_config_names_dirs_by_overrides():
    from hydra import compose, initialize_config_dir

    for entry, (_, extra) in ENTRIES.items():
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
            cfg = compose(config_name=entry, overrides=extra, return_hydra_config=True)
        assert cfg.resume is True
        from omegaconf import OmegaConf

        sweep = OmegaConf.to_container(cfg.hydra.sweep, resolve=False)
        assert sweep["subdir"] == "${hydra.job.override_dirname}" and sweep["dir"].startswith(f"multirun/{entry}/")
        assert "resume" in cfg.hydra.job.config.override_dirname.exclude_keys


def test_jobs_land_in_override_dirs_and_resume(tmp_path):
    """(a) different overrides -> different dirs; (b) a rerun into the same sweep dir skips the
    finished jobs (results file and metrics untouched) and redoes an unfinished one from scratch;
    progress lines reach the job log once and the console once."""
    sweep = tmp_path / "sweep"
    first = _multirun(tmp_path, sweep, "seed=0,1", "resume=true")
    dirs = _job_dirs(sweep)
    assert [d.name for d in dirs] == ["seed=0", "seed=1"]  # `resume` does not name the dir
    for seed, d in enumerate(dirs):
        assert json.loads((d / "results.json").read_text())["seed"] == seed
        log = (d / "task.log").read_text()
        assert log.count(f"[fake] running seed={seed}") == 1  # the job log holds the progress line
        assert first.stderr.count(f"[fake] running seed={seed}") == 1  # the console: once, not twice
        assert f"[fake] running seed={seed}" not in first.stdout
    # seed=1 died half-way: no results file, stale metrics lines
    (dirs[1] / "results.json").unlink()
    (dirs[1] / "metrics.jsonl").write_text('{"stale": 1}\n' * 3)
    done = dirs[0] / "results.json"
    before = (done.read_bytes(), done.stat().st_mtime_ns, (dirs[0] / "metrics.jsonl").stat().st_mtime_ns)
    again = _multirun(tmp_path, sweep, "seed=0,1,2")
    assert f"[fake] skipped: {dirs[0]} already holds results.json" in again.stderr
    assert "[fake] running seed=0" not in again.stderr
    assert (done.read_bytes(), done.stat().st_mtime_ns, (dirs[0] / "metrics.jsonl").stat().st_mtime_ns) == before
    assert "skipped" in (dirs[0] / "task.log").read_text()
    assert json.loads((dirs[1] / "results.json").read_text())["seed"] == 1  # redone
    assert (dirs[1] / "metrics.jsonl").read_text().splitlines() == ['{"train/x": 1.0}']  # fresh, not appended
    assert [d.name for d in _job_dirs(sweep)] == ["seed=0", "seed=1", "seed=2"]
    # resume=false redoes a finished job
    third = _multirun(tmp_path, sweep, "seed=0", "resume=false")
    assert "[fake] running seed=0" in third.stderr
    assert json.loads(done.read_text())["pid"] != json.loads(before[0])["pid"]


@pytest.mark.parametrize("entry", sorted(ENTRIES))
def test_entry_points_skip_a_finished_job(entry, tmp_path, capsys):
    """Each entry's run() returns the stored results of a finished run dir before any work (and
    without opening metrics.jsonl)."""
    name, extra = ENTRIES[entry]
    stored = {"stored": True, "eval": {"mean_reward": 1.5}}
    (tmp_path / name).write_text(json.dumps(stored))
    mtime = (tmp_path / name).stat().st_mtime_ns
    module = importlib.import_module(f"experiments.{entry}")
    assert module.run(compose_config(entry, extra), run_dir=tmp_path) == stored
    assert (tmp_path / name).stat().st_mtime_ns == mtime and not (tmp_path / "metrics.jsonl").exists()
    assert f"skipped: {tmp_path} already holds {name}" in capsys.readouterr().err


def test_finished_and_resume_flag(tmp_path):
    assert not finished(tmp_path)
    (tmp_path / "results.json").write_text('{"half": ')  # not parseable: not finished
    assert not finished(tmp_path) and resume_or_none({}, tmp_path) is None
    (tmp_path / "results.json").write_text('{"a": 1}')
    assert finished(tmp_path) and resume_or_none({"logger": {"console": False}}, tmp_path) == {"a": 1}
    assert resume_or_none({"resume": False}, tmp_path) is None
    with pytest.raises(ConfigError, match="'resume' must be true or false"):
        resume_or_none({"resume": "yes"}, tmp_path)


def _fake_job(root, overrides, results, name="results.json"):
    job = root / ",".join(overrides)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(list(overrides)))
    if results is not None:
        (job / name).write_text(json.dumps(results))
    return job


def test_aggregate_fake_multirun(tmp_path):
    """(c) rows = finished jobs, columns = overrides + flattened numeric results, CI error bars."""
    aggregate = importlib.import_module("experiments.aggregate")
    root = tmp_path / "multirun"
    for ratio in (10, 100):
        for seed in (0, 1, 2):
            _fake_job(root, [f"env.cost_ratio={ratio}", f"seed={seed}", "agent=ppo_safety"],
                      {"brain": "safety", "eval": {"mean_reward": ratio + seed, "ci95": 0.1 * ratio,
                                                   "per_sigma": [1, 2]},
                       "curve": {"episode_return": list(range(100))}, "compile_s": 1.0})
    _fake_job(root, ["env.cost_ratio=1000", "seed=0", "agent=ppo_safety"], None)  # unfinished
    summary = aggregate.aggregate(root, x="seed")
    assert summary["jobs"] == 6 and len(summary["unfinished"]) == 1
    assert summary["swept"] == ["env.cost_ratio", "seed"] and summary["x"] == "seed"
    assert summary["metric"] == "eval.mean_reward" and summary["ci"] == "eval.ci95"
    import csv

    rows = list(csv.DictReader((root / "aggregate.csv").open()))
    assert len(rows) == 6
    assert {"job", "env.cost_ratio", "seed", "agent", "eval.mean_reward", "eval.ci95", "eval.per_sigma.1",
            "compile_s"} <= set(rows[0]) and not any(c.startswith("curve") for c in rows[0])  # long lists left out
    assert sorted(float(r["eval.mean_reward"]) for r in rows) == [10, 11, 12, 100, 101, 102]
    md = (root / "aggregate.md").read_text()
    assert "| env.cost_ratio | seed | eval.mean_reward | eval.ci95 |" in md and "agent=ppo_safety" in md
    assert md.count("\n| 10 |") == 3
    assert (root / "aggregate.png").stat().st_size > 1000
    # the CLI, an --out folder and a chosen metric
    out = tmp_path / "out"
    assert aggregate.main([str(root), "--metric", "compile_s", "--out", str(out)]) == 0
    assert (out / "aggregate.png").exists() and "compile_s" in (out / "aggregate.md").read_text()
    # evaluate's evaluation.json is read too
    ev = tmp_path / "ev"
    _fake_job(ev, ["num_paths=10"], {"eval": {"mean_reward": 3.0, "ci95": 1.0}}, name="evaluation.json")
    _fake_job(ev, ["num_paths=20"], {"eval": {"mean_reward": 4.0, "ci95": 0.5}}, name="evaluation.json")
    assert aggregate.aggregate(ev)["jobs"] == 2


def test_aggregate_errors(tmp_path):
    aggregate = importlib.import_module("experiments.aggregate")
    with pytest.raises(ConfigError, match="is not a directory"):
        aggregate.aggregate(tmp_path / "missing")
    _fake_job(tmp_path, ["seed=0"], None)
    with pytest.raises(ConfigError, match="no finished jobs"):
        aggregate.aggregate(tmp_path)
    _fake_job(tmp_path, ["seed=1"], {"eval": {"mean_reward": 1.0}})
    with pytest.raises(ConfigError, match=r"unknown metric 'nope'; available: \['eval.mean_reward'\]"):
        aggregate.aggregate(tmp_path, metric="nope")
    with pytest.raises(ConfigError, match="unknown --x key"):
        aggregate.aggregate(tmp_path, x="lr")
    assert aggregate.main([str(tmp_path / "missing")]) == 2


def test_joblib_launcher_composes():
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        cfg = compose(config_name="train", overrides=["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
                      return_hydra_config=True)
    assert "joblib" in cfg.hydra.launcher._target_.lower() and cfg.hydra.launcher.n_jobs == 2


TINY_TRAIN = ["agent.ppo.num_envs=8", "agent.ppo.num_minibatches=2", "agent.ppo.update_epochs=1",
              "agent.ppo.hidden=[8]", "agent.ppo.total_timesteps=240", "eval.num_paths=8", "plot=false",
              "logger.progress_every_s=0"]


@pytest.mark.slow
def test_real_train_multirun_twice(tmp_path):
    """(d) experiments/train.py -m seed=0,1 on a tiny budget, then again: both jobs skipped."""
    sweep = tmp_path / "sweep"
    cmd = [sys.executable, str(ROOT / "experiments" / "train.py"), "-m", "seed=0,1", *TINY_TRAIN,
           f"hydra.sweep.dir={sweep}"]
    first = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-3000:]
    dirs = _job_dirs(sweep)
    assert len(dirs) == 2 and [d.name.split(",")[-1] for d in dirs] == ["seed=0", "seed=1"]
    stamps = [(d / "results.json").stat().st_mtime_ns for d in dirs]
    for d in dirs:
        assert "[train] done:" in (d / "train.log").read_text()
    second = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-3000:]
    assert second.stderr.count("[train] skipped:") == 2 and "[train] done:" not in second.stderr
    assert [(d / "results.json").stat().st_mtime_ns for d in dirs] == stamps


def test_cluster_launchers_compose():
    """hydra/launcher=submitit_slurm and our slurm_gpu preset (extra "sweep"); ray when installed."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        slurm = compose(config_name="train", overrides=["hydra/launcher=submitit_slurm", "hydra.launcher.partition=gpu"],
                        return_hydra_config=True)
        gpu = compose(config_name="train", overrides=["hydra/launcher=slurm_gpu", "hydra.launcher.timeout_min=30"],
                      return_hydra_config=True)
    assert "submitit" in slurm.hydra.launcher._target_.lower() and slurm.hydra.launcher.partition == "gpu"
    assert "slurm" in gpu.hydra.launcher._target_.lower()
    assert gpu.hydra.launcher.gpus_per_node == 1 and gpu.hydra.launcher.timeout_min == 30
    try:
        import hydra_plugins.hydra_ray_launcher  # noqa: F401  (extra "ray": heavy, not in dev)
    except ImportError:
        return
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        ray = compose(config_name="train", overrides=["hydra/launcher=ray"], return_hydra_config=True)
    assert "ray" in ray.hydra.launcher._target_.lower()


def test_ctrl_c_during_compilation_stops_cleanly(tmp_path):
    """SIGINT while JAX traces/compiles: exit 130 with a message (was a segfault, exit 139), no
    results file, the message in the job log; the job is then simply redone by a rerun."""
    import signal
    import time

    run_dir = tmp_path / "run"
    cmd = [sys.executable, str(ROOT / "experiments" / "train.py"), f"hydra.run.dir={run_dir}",
           "agent.ppo.total_timesteps=30000", "eval.num_paths=8", "plot=false"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines = []
    for line in proc.stdout:  # the job announces itself just before it compiles
        lines.append(line)
        if "[train] brain=" in line:
            break
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=60)
    output = "".join(lines) + rest
    assert proc.returncode == 130, output[-3000:]
    assert "[train] interrupted (Ctrl-C): stopped" in output and "Segmentation" not in output
    assert not (run_dir / "results.json").exists()
    assert "[train] interrupted" in (run_dir / "train.log").read_text()


FAKE_WANDB = textwrap.dedent("""
    import json, os
    _LOG = os.environ["FAKE_WANDB_LOG"]

    class _Run:
        def __init__(self, kwargs):
            self.kwargs = kwargs
        def log(self, data, step=None):
            with open(_LOG, "a") as f:
                f.write(json.dumps({"log": sorted(data)}) + "\\n")
        def finish(self):
            pass

    def init(**kwargs):
        with open(_LOG, "a") as f:
            f.write(json.dumps({"init": {k: kwargs.get(k) for k in ("group", "name", "job_type", "mode")}}) + "\\n")
        return _Run(kwargs)

    class Table:
        def __init__(self, columns, data):
            self.columns, self.data = columns, data

    class Image:
        def __init__(self, path):
            self.path = path
""")


def test_wandb_one_group_per_sweep_one_run_per_job(tmp_path, monkeypatch):
    """With logger.wandb.enabled, each job of a multirun is one run named by its overrides in one
    group per sweep (offline by default), and aggregate.py --wandb logs the table into that group.
    A stand-in `wandb` module records the calls (tests never import the real one)."""
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "wandb.py").write_text(FAKE_WANDB)
    record = tmp_path / "wandb.jsonl"
    monkeypatch.setenv("FAKE_WANDB_LOG", str(record))
    monkeypatch.setenv("PYTHONPATH", f"{fake}{os.pathsep}{ROOT}")
    sweep = tmp_path / "sweep"
    task = tmp_path / "task.py"
    task.write_text(TASK)
    proc = subprocess.run([sys.executable, str(task), "-m", "seed=0,1", "logger.wandb.enabled=true",
                           f"hydra.sweep.dir={sweep}"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    inits = [json.loads(line)["init"] for line in record.read_text().splitlines() if "init" in line]
    assert [i["name"] for i in inits] == ["seed=0", "seed=1"]
    assert {i["group"] for i in inits} == {"task:sweep"} and {i["mode"] for i in inits} == {"offline"}
    monkeypatch.syspath_prepend(str(fake))
    monkeypatch.delitem(sys.modules, "wandb", raising=False)
    aggregate = importlib.import_module("experiments.aggregate")
    assert aggregate.main([str(sweep), "--wandb"]) == 0
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert lines[-2]["init"] == {"group": "task:sweep", "name": "aggregate", "job_type": "aggregate", "mode": "offline"}
    assert lines[-1]["log"] == ["aggregate", "aggregate_plot"]


def test_joblib_launcher_runs_jobs_in_parallel_processes(tmp_path):
    """A real multirun with hydra/launcher=joblib: each job in its own worker process and its own
    override dir; a rerun skips both (resume works under the parallel launcher too)."""
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    sweep = tmp_path / "sweep"
    _multirun(tmp_path, sweep, "seed=0,1", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    dirs = _job_dirs(sweep)
    results = [json.loads((d / "results.json").read_text()) for d in dirs]
    assert [d.name for d in dirs] == ["seed=0", "seed=1"] and [r["seed"] for r in results] == [0, 1]
    assert len({r["pid"] for r in results} | {os.getpid()}) == 3  # two workers, neither this process
    again = _multirun(tmp_path, sweep, "seed=0,1", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    assert again.stderr.count("[fake] skipped:") == 2
