"""The shared evaluation protocol."""

import json

import numpy as np
import pytest

from agents.baselines import RandomAgent
from agents.evaluation import evaluate, format_table, results_document, write_results


class FirstArmAgent:
    """Always pulls arm 0; its trial return is then the sum of arm 0's Bernoulli draws."""

    def reset(self, num_envs, seed):
        self.num_envs = num_envs

    def act(self, observation):
        assert observation["prev_action"].shape == (self.num_envs, 3)
        return np.zeros(self.num_envs, np.int64)


def test_random_agent_scores_half_a_point_per_pull():
    result = evaluate(RandomAgent(5), "MetaBandit-v0", {"num_episodes": 10}, num_tasks=2000, seed=1)
    assert result.trial_returns.shape == (2000,) and result.episode_returns.shape == (2000, 10)
    assert abs(result.mean - 5.0) < 1.5 * result.ci95  # about 3 standard errors
    assert len(result.per_episode) == 10
    np.testing.assert_allclose(result.trial_returns, result.episode_returns.sum(axis=1))


def test_scores_follow_the_held_out_tasks_and_are_reproducible():
    import meta_envs

    kwargs = {"num_arms": 3, "num_episodes": 200}
    tasks = meta_envs.held_out_tasks("MetaBandit-v0", 50, seed=4, **kwargs)
    result = evaluate(FirstArmAgent(), "MetaBandit-v0", kwargs, num_tasks=50, seed=4, batch_size=16)
    expected = np.array([t.arm_probs[0] for t in tasks]) * 200
    assert np.abs(result.trial_returns - expected).max() < 4 * np.sqrt(200 * 0.25) + 1
    again = evaluate(FirstArmAgent(), "MetaBandit-v0", kwargs, num_tasks=50, seed=4, batch_size=16)
    np.testing.assert_array_equal(result.trial_returns, again.trial_returns)


def test_results_document_layout_and_table(tmp_path):
    result = evaluate(RandomAgent(2), "MetaBandit-v0", {"num_arms": 2}, num_tasks=10, seed=0)
    doc = results_document("MetaBandit-v0", {"num_arms": 2}, 10, 0, {"random": result})
    path = tmp_path / "eval.json"
    write_results(path, doc)
    loaded = json.loads(path.read_text())
    assert set(loaded) == {"env_id", "env_kwargs", "num_tasks", "seed", "results"}
    assert set(loaded["results"]["random"]) == {"mean", "ci95", "per_episode", "per_episode_ci95"}
    assert "random" in format_table(loaded)


def test_per_episode_ci95_is_the_normal_half_width_over_tasks_of_each_episode_index():
    result = evaluate(RandomAgent(3), "MetaBandit-v0", {"num_arms": 3, "num_episodes": 4}, num_tasks=7, seed=2)
    returns = result.episode_returns
    expected = []
    for j in range(4):  # by hand: the sample standard deviation of episode j's returns over the 7 tasks
        column = [float(returns[i, j]) for i in range(7)]
        mean = sum(column) / 7
        std = (sum((x - mean) ** 2 for x in column) / 6) ** 0.5
        expected.append(1.96 * std / 7 ** 0.5)
    assert max(expected) > 0  # a random agent's pulls differ between tasks
    assert result.summary()["per_episode_ci95"] == pytest.approx(expected, rel=1e-12)
    assert len(result.summary()["per_episode_ci95"]) == len(result.summary()["per_episode"])
    single = evaluate(RandomAgent(3), "MetaBandit-v0", {"num_arms": 3, "num_episodes": 4}, num_tasks=1, seed=2)
    assert np.isnan(single.per_episode_ci95).all()  # one task: no spread to estimate, as for ci95


def test_bad_arguments_are_rejected():
    with pytest.raises(TypeError, match="reset"):
        evaluate(object(), "MetaBandit-v0")
    with pytest.raises(ValueError, match="num_tasks"):
        evaluate(RandomAgent(5), "MetaBandit-v0", num_tasks=0)


def test_episode_lengths_last_rewards_and_family_metrics_are_recorded():
    bandit = evaluate(RandomAgent(3), "MetaBandit-v0", {"num_arms": 3, "num_episodes": 4}, num_tasks=20, seed=0)
    # a bandit episode is one pull: its length is 1 and its last reward is its return
    np.testing.assert_array_equal(bandit.episode_lengths, np.ones((20, 4)))
    np.testing.assert_array_equal(bandit.final_rewards, bandit.episode_returns)
    assert "metrics" not in bandit.summary()
    maze = evaluate(RandomAgent(3), "MetaMaze-v0", {"horizon": 30}, num_tasks=20, seed=0, batch_size=7)
    assert maze.episode_lengths.shape == (20, 2) and (maze.episode_lengths <= 30).all()
    reached = maze.final_rewards > 0
    assert (maze.episode_lengths[~reached] == 30).all()  # an episode ends early only at the goal
    assert maze.summary()["metrics"]["success_rate"] == reached.mean(axis=0).tolist()
