"""Errors that say what to do, in one line: env kwargs, unknown IDs, --resume, --agent."""

import importlib.util
import textwrap
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import meta_envs
from agents.benchmark.scoring import load_factory
from agents.evaluation import check_agent

ROOT = Path(__file__).resolve().parents[1]


def load_train():
    spec = importlib.util.spec_from_file_location("train", ROOT / "scripts" / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: gym.make("MetaBandit-v0", num_arm=5),
         "unknown MetaBanditEnv keyword argument(s) ['num_arm'] (did you mean 'num_arms'?); "
         "known: num_arms, num_episodes, render_mode"),
        (lambda: gym.make_vec("MetaTabularMDP-v0", num_envs=2, states=3),
         "unknown MetaTabularMDPVectorEnv keyword argument(s) ['states'] (did you mean 'num_states'?); known: num_envs, "
         "num_states, num_actions, horizon, num_episodes, initial_state, autoreset_mode, render_mode"),
        (lambda: meta_envs.MetaMazeEnv(sise=3), "unknown MetaMazeEnv keyword argument(s) ['sise'] (did you mean 'size'?)"),
    ],
)
def test_an_unknown_env_kwarg_names_the_ones_the_id_takes(make, message):
    with pytest.raises(TypeError) as error:
        make()
    assert message in str(error.value) and "\n" not in str(error.value)


def test_train_with_an_unknown_env_id_suggests_the_nearest_and_lists_the_known_ones(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        load_train().main(["--env", "MetaBandits-v0", "--out", str(tmp_path / "run")])
    assert exit_.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].endswith(
        "error: 'MetaBandits-v0' is not a registered env ID (did you mean 'MetaBandit-v0'?); "
        "meta_envs IDs: MetaBandit-v0, MetaMaze-v0, MetaMazeLarge-v0, MetaTabularMDP-v0"
    )
    assert not (tmp_path / "run").exists()  # refused before the run folder is made


def test_train_resume_of_a_missing_folder_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        load_train().main(["--resume", str(tmp_path / "does_not_exist")])
    assert exit_.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "error: --resume: " in error and "is not a run folder" in error
    assert "Traceback" not in error


def test_train_refuses_a_negative_checkpoint_interval(tmp_path, capsys):
    with pytest.raises(SystemExit):
        load_train().main(["--checkpoint-minutes", "-1", "--out", str(tmp_path / "run")])
    assert "--checkpoint-minutes must be a number >= 0, got -1.0" in capsys.readouterr().err


def test_agent_factory_loads_from_a_file_path_outside_the_repository(tmp_path):
    file = tmp_path / "my_agent.py"
    file.write_text(textwrap.dedent('''
        import dataclasses
        import numpy as np

        @dataclasses.dataclass
        class FirstArm:
            num_envs: int = 0

            def reset(self, num_envs, seed):
                self.num_envs = num_envs

            def act(self, observation):
                return np.zeros(self.num_envs, np.int64)

        def make_agent(env_id, env_kwargs, seed):
            return FirstArm()
    '''))
    agent = check_agent(load_factory(f"{file}:make_agent")("MetaBandit-v0", {}, 0))
    agent.reset(3, seed=0)
    np.testing.assert_array_equal(agent.act({}), [0, 0, 0])


@pytest.mark.parametrize(
    "path, message",
    [
        ("/nowhere/my_agent.py:make_agent", "could not import '/nowhere/my_agent.py' for --agent "
         "'/nowhere/my_agent.py:make_agent' (FileNotFoundError: no file /nowhere/my_agent.py)"),
        ("no_such_package.agent:make_agent", "(ModuleNotFoundError: No module named 'no_such_package')"),
        ("my_agent.py", "--agent must look like"),
    ],
)
def test_an_agent_that_does_not_load_says_which_forms_are_accepted(path, message):
    with pytest.raises(ValueError) as error:
        load_factory(path)
    assert message in str(error.value)
    assert "'module.path:factory' (e.g. examples.bayes_ucb_agent:make_agent) or 'path/to/file.py:factory'" in str(error.value)
