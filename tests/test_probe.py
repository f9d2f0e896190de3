"""agents.evaluation.probe: the behavioural statistics are what theory says on hand-built agents."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from agents.baselines.bandit import EpsilonGreedyAgent, MRunAgent, WinStayLoseShiftAgent
from agents.baselines.random_policy import RandomAgent
from agents.baselines.tabular_mdp import ModelGreedyAgent
from agents.evaluation import evaluate
from agents.evaluation.probe import make_agent, probe, ridge_r2

REPO = Path(__file__).resolve().parent.parent
BANDIT = {"num_arms": 5, "num_episodes": 100}


class NoiseMemoryAgent(RandomAgent):
    """Random play with a state that remembers nothing: pure noise."""

    @property
    def memory(self) -> np.ndarray:
        return self._rng.normal(size=(self._num_envs, 16))


def test_random_play_stays_one_time_in_k_and_has_no_memory() -> None:
    result = probe(RandomAgent(5), "MetaBandit-v0", BANDIT, num_tasks=400)
    stats = result.statistics
    assert stats["p_stay_after_win"] == pytest.approx(0.2, abs=0.01)
    assert stats["p_stay_after_loss"] == pytest.approx(0.2, abs=0.01)
    assert stats["arms_tried"] == pytest.approx(5.0, abs=0.01)
    assert stats["memory_r2"] is None
    assert len(result.curves["regret_per_pull"]) == 100


def test_win_stay_lose_shift_always_stays_after_a_win_and_shifts_at_random() -> None:
    stats = probe(WinStayLoseShiftAgent(5), "MetaBandit-v0", BANDIT, num_tasks=400).statistics
    assert stats["p_stay_after_win"] == 1.0
    assert stats["p_stay_after_loss"] == pytest.approx(0.2, abs=0.01)
    assert 0.4 < stats["late_best"] < 0.7  # the best arm only by luck


def test_m_run_switches_only_to_new_arms_and_stays_after_a_loss_only_from_m_successes() -> None:
    setting = {"num_arms": 50, "num_episodes": 40}  # too few pulls to try every arm
    result = probe(MRunAgent(50, m=4), "MetaBandit-v0", setting, num_tasks=300)
    assert result.statistics["p_switch_to_new"] == 1.0
    curve = result.curves["p_stay_after_loss_by_successes"]
    assert len(curve) == 16 and curve[:4] == [0.0] * 4 and all(c == 1.0 for c in curve[4:] if not np.isnan(c))
    # uniform random switching returns to a tried arm as often as there are tried arms
    random_switches = probe(RandomAgent(5), "MetaBandit-v0", BANDIT, num_tasks=200).statistics["p_switch_to_new"]
    assert random_switches < 0.1


def test_a_counting_agent_plays_the_empirically_best_arm_and_its_state_holds_the_counts() -> None:
    stats = probe(EpsilonGreedyAgent(5, epsilon=0.0), "MetaBandit-v0", BANDIT, num_tasks=200).statistics
    assert stats["late_best"] == 1.0
    assert stats["p_stay_after_win"] == 1.0
    assert stats["memory_r2_pulls"] == pytest.approx(1.0, abs=1e-4)
    assert stats["memory_r2_successes"] == pytest.approx(1.0, abs=1e-4)


def test_a_state_of_noise_explains_nothing() -> None:
    stats = probe(NoiseMemoryAgent(5), "MetaBandit-v0", BANDIT, num_tasks=200).statistics
    assert abs(stats["memory_r2"]) < 0.05


def test_regret_of_the_first_pull_is_the_expected_gap_to_the_best_arm() -> None:
    result = probe(RandomAgent(5), "MetaBandit-v0", BANDIT, num_tasks=1000)
    # E[max of 5 U(0,1)] - E[U(0,1)] = 5/6 - 1/2
    assert result.curves["regret_per_pull"][0] == pytest.approx(1 / 3, abs=0.02)


def test_the_greedy_mdp_baseline_is_optimal_for_its_own_empirical_model() -> None:
    greedy = probe(ModelGreedyAgent(tie_break="first"), "MetaTabularMDP-v0", num_tasks=100).statistics
    random = probe(RandomAgent(5), "MetaTabularMDP-v0", num_tasks=100).statistics
    assert greedy["model_optimal"] == 1.0
    assert random["model_optimal"] < 0.4
    assert greedy["memory_r2_visits"] > 0.99  # pairs seen once in training shrink a little


def test_the_probe_scores_the_same_trials_as_the_protocol() -> None:
    result = probe(WinStayLoseShiftAgent(5), "MetaBandit-v0", BANDIT, num_tasks=50, seed=3)
    plain = evaluate(WinStayLoseShiftAgent(5), "MetaBandit-v0", BANDIT, num_tasks=50, seed=3)
    np.testing.assert_array_equal(result.evaluation.trial_returns, plain.trial_returns)
    assert result.statistics["trial_return"] == plain.mean


def test_ridge_r2_is_one_for_a_linear_target_and_none_for_a_constant() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = x @ np.array([[1.0], [2.0], [-1.0]]) + 4.0
    assert ridge_r2(x[:100], y[:100], x[100:], y[100:], alpha=0.0) == pytest.approx(1.0)
    assert ridge_r2(x[:100], np.ones((100, 1)), x[100:], np.ones((100, 1))) is None


def test_bad_input_is_rejected_clearly() -> None:
    with pytest.raises(ValueError, match="knows"):
        probe(RandomAgent(3), "MetaMaze-v0")
    with pytest.raises(ValueError, match="num_tasks"):
        probe(RandomAgent(5), "MetaBandit-v0", BANDIT, num_tasks=1)
    with pytest.raises(ValueError, match="unknown agent 'gitins'.*gittins"):
        make_agent("gitins", "MetaBandit-v0", BANDIT)


def test_the_command_prints_the_table_and_rejects_unknown_agents(tmp_path: Path) -> None:
    command = [sys.executable, str(REPO / "scripts" / "probe_agent.py"), "--agent", "greedy",
               "--compare", "random,win_stay_lose_shift", "--env-kwargs", "num_arms=3,num_episodes=20",
               "--tasks", "20", "--out", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, check=True)
    assert "| win_stay_lose_shift |" in done.stdout and "late_best" in done.stdout
    assert (tmp_path / "probe.json").is_file() and (tmp_path / "probe.png").is_file()
    bad = subprocess.run(command[:3] + ["gitins"], capture_output=True, text=True, cwd=REPO)
    assert bad.returncode == 2 and "unknown agent 'gitins'" in bad.stderr
    few = subprocess.run(command[:4] + ["--tasks", "1"], capture_output=True, text=True, cwd=REPO)
    assert few.returncode == 2 and "--tasks must be at least 2" in few.stderr


def test_arm_preference_splits_pulls_and_stays_between_the_most_pulled_arms_and_the_rest() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("arm_preference", REPO / "scripts" / "studies" / "arm_preference.py")
    study = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(study)
    # arm 2 is pulled most; the agent mostly stays after its wins, never after arm 0's
    actions = np.array([[2, 2, 2, 0, 1], [2, 2, 0, 2, 2]])
    rewards = np.array([[1, 1, 0, 1, 0], [0, 1, 1, 1, 0]])
    rows = study.arm_preference(actions, rewards, num_arms=4, favourites=1)
    favourite, others = rows["favourites"], rows["others"]
    assert (favourite["arms"], others["arms"]) == (1, 3)
    assert favourite["pulls"] == pytest.approx(0.7) and favourite["first_pulls"] == 1.0
    assert favourite["switch_targets"] == pytest.approx(1 / 4)  # switches 2→0, 0→1, 2→0, 0→2
    assert favourite["p_stay_after_win"] == pytest.approx(3 / 4)  # its wins at (0,0), (0,1), (1,3) stay, (1,1) leaves
    assert others["p_stay_after_win"] == 0.0 and others["p_stay_after_loss"] != others["p_stay_after_loss"]  # NaN
