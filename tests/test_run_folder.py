"""agents.training.run_folder: run specs, progress logs (with resume), crash-safe checkpoints, device choice."""

import csv

import numpy as np

import pytest
import torch

from agents.training.run_folder import (
    CheckpointSchedule,
    MetricLogger,
    RunFolder,
    RunSpec,
    atomic_write,
    read_progress,
    resolve_device,
    wall_time_axis,
)


def spec(**changes):
    base = dict(algo="trpo_gru", env_id="MetaBandit-v0", env_kwargs={"num_arms": 2}, seed=0, num_envs=4,
                device="cpu", timesteps=100, iterations=None, hyperparameters={"max_kl": 0.01})
    return RunSpec(**{**base, **changes})


def test_spec_round_trip_and_budget(tmp_path):
    folder = RunFolder(tmp_path / "run")
    folder.create(spec())
    assert folder.read_spec() == spec()
    assert not spec().done(3, 99) and spec().done(3, 100)
    assert spec(timesteps=None, iterations=2).done(2, 0)
    with pytest.raises(FileExistsError, match="--resume"):
        folder.create(spec())


def test_logger_drops_rows_after_the_resumed_checkpoint(tmp_path):
    folder = RunFolder(tmp_path)
    logger = MetricLogger(folder)
    for i in range(1, 4):
        logger.log({"iteration": i, "env_steps": 10 * i, "mean_trial_return": float(i)})
    logger.close()
    resumed = MetricLogger(folder, resume_iteration=2, resume_env_steps=20)
    resumed.log({"iteration": 3, "env_steps": 30, "mean_trial_return": 9.0})
    resumed.close()
    assert read_progress(folder) == {"iteration": [1.0, 2.0, 3.0], "env_steps": [10.0, 20.0, 30.0],
                                     "mean_trial_return": [1.0, 2.0, 9.0]}
    with folder.progress.open() as f:
        assert next(csv.reader(f)) == ["iteration", "env_steps", "mean_trial_return"]


def test_logger_drops_a_row_cut_short_by_a_kill(tmp_path):
    folder = RunFolder(tmp_path)
    logger = MetricLogger(folder)
    for i in range(1, 3):
        logger.log({"iteration": i, "env_steps": 10 * i, "mean_trial_return": float(i)})
    logger.close()
    with folder.progress.open("a") as f:
        f.write("1")  # the first byte of iteration 10's row, say
    MetricLogger(folder, resume_iteration=2, resume_env_steps=20).close()
    assert read_progress(folder)["iteration"] == [1.0, 2.0]


def test_a_save_interrupted_mid_write_leaves_the_previous_checkpoint_loadable(tmp_path):
    path = tmp_path / "latest.pt"
    atomic_write(path, lambda p: torch.save({"iteration": 1}, p))

    def killed_mid_write(p):
        torch.save({"iteration": 2, "weights": torch.zeros(10_000)}, p)
        with p.open("r+b") as f:
            f.truncate(p.stat().st_size // 2)
        raise KeyboardInterrupt  # the kill

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, killed_mid_write)
    assert torch.load(path, weights_only=True) == {"iteration": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["latest.pt"]  # no partial file left behind
    atomic_write(path, lambda p: torch.save({"iteration": 3}, p))
    assert torch.load(path, weights_only=True) == {"iteration": 3}


def test_checkpoint_schedule_by_iterations_wall_time_and_end():
    now = [0.0]
    schedule = CheckpointSchedule(every_iterations=25, minutes=5, clock=lambda: now[0])
    assert not schedule.due(1, final=False)
    now[0] = 299.0
    assert not schedule.due(2, final=False)
    now[0] = 300.0
    assert schedule.due(3, final=False) and not schedule.snapshot(3)
    now[0] = 400.0
    assert not schedule.due(4, final=False)  # the clock restarted at the last save
    assert schedule.due(5, final=True)
    assert schedule.due(25, final=False) and schedule.snapshot(25)
    with pytest.raises(ValueError, match="minutes >= 0"):
        CheckpointSchedule(every_iterations=25, minutes=-1)


def test_a_killed_trpo_run_resumes_from_its_wall_time_checkpoint_without_duplicate_rows(tmp_path):
    from agents.training.algorithms import ALGORITHMS
    from agents.rl2 import trainer

    hyperparameters = ALGORITHMS["trpo_gru"].hyperparameters(
        "MetaBandit-v0", {"num_arms": 2}, {"steps_per_iteration": 40, "hidden_size": 8, "value_hidden_size": 8}
    )
    run = spec(env_kwargs={"num_arms": 2, "num_episodes": 5}, num_envs=8, timesteps=None, iterations=5,
               hyperparameters=hyperparameters, checkpoint_minutes=0.0)
    folder = RunFolder(tmp_path / "run")
    folder.create(run)

    def killed_at_iteration_3(metrics):
        if metrics["iteration"] == 3:
            raise KeyboardInterrupt  # after iteration 3 is logged, before its checkpoint

    with pytest.raises(KeyboardInterrupt):
        trainer.train(folder, run, killed_at_iteration_3)
    # checkpoint_every is 25: only the wall-time refresh (every 0 minutes here) wrote latest
    assert torch.load(folder.latest_checkpoint, weights_only=True)["iteration"] == 2
    assert read_progress(folder)["iteration"] == [1.0, 2.0, 3.0]
    trainer.train(folder, run, lambda metrics: None, resume=True)
    assert read_progress(folder)["iteration"] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert torch.load(folder.latest_checkpoint, weights_only=True)["iteration"] == 5


def test_device_choice():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="device must be one of"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            resolve_device("cuda")


def test_stop_signal_asks_once_then_interrupts():
    import os
    import signal

    from agents.training.run_folder import StopSignal

    before = signal.getsignal(signal.SIGINT)
    with StopSignal() as stop:
        assert not stop.requested()
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.requested()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGINT) is before


def test_wall_time_axis_sums_each_iterations_own_time_and_maps_back():
    # two iterations of 1000 steps: 1 s at 1000 steps/s, then 2 s at 500 steps/s
    to_hours, to_steps = wall_time_axis([1000, 2000], [1000, 500])
    assert to_hours(np.array([1000.0, 2000.0])) * 3600 == pytest.approx([1.0, 3.0])
    assert to_hours(np.array([3000.0])) * 3600 == pytest.approx([5.0])  # linear past the end, at the last rate
    x = np.array([-500.0, 0.0, 400.0, 1500.0, 2600.0])
    assert to_steps(to_hours(x)) == pytest.approx(x)
    for steps, rates in (([1000], [1000]), ([1000, 1000], [1000, 500]), ([1000, 2000], [1000, 0]),
                         ([1000, 2000], [1000, float("nan")]), ([1000, 2000], [1000])):
        with pytest.raises(ValueError, match="wall-time axis"):
            wall_time_axis(steps, rates)
