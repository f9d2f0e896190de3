"""agents.training.run_folder: run specs, progress logs (with resume), device choice."""

import csv

import pytest
import torch

from agents.training.run_folder import MetricLogger, RunFolder, RunSpec, read_progress, resolve_device


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
