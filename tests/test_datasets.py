"""Learning-history datasets (agents.in_context): generation, Minari round trip, labels, loader, errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

minari = pytest.importorskip("minari")

import meta_envs  # noqa: E402
from agents.in_context import labels, loader  # noqa: E402
from agents.in_context.generation import excluded_tasks, generate_dataset  # noqa: E402
from agents.in_context.loader import InContextWindows, load_histories, load_tasks  # noqa: E402
from meta_envs.maze import MazeDynamics, generate_mazes, goal_action_table  # noqa: E402
from meta_envs.maze.generation import FORWARD, HEADING_STEPS, NEXT_HEADING  # noqa: E402
from meta_envs.planning import greedy_policy, stack_tasks, value_iteration  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: one tiny setting per family, with sources that behave differently
FAMILIES = {
    "bandit": ("MetaBandit-v0", {"num_arms": 3, "num_episodes": 8}, ["thompson", "random"]),
    "mdp": ("MetaTabularMDP-v0", {"num_states": 4, "num_actions": 3, "horizon": 3, "num_episodes": 3},
            ["psrl", "random"]),
    "maze": ("MetaMaze-v0", {"size": 3, "horizon": 30}, ["oracle", "explorer", "random"]),
}
NUM_TASKS = 6


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """family -> (folder, env_id, env_kwargs, sources) of a tiny dataset; batches of 4 trials."""
    root = tmp_path_factory.mktemp("datasets")
    made = {}
    for family, (env_id, env_kwargs, sources) in FAMILIES.items():
        folder = root / f"{family}-v0"
        generate_dataset(folder, env_id, env_kwargs, sources, NUM_TASKS, seed=3, batch_size=4, progress=False)
        made[family] = (folder, env_id, env_kwargs, sources)
    return made


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_round_trips_through_minari_and_the_loader(family, datasets, monkeypatch):
    folder, env_id, env_kwargs, sources = datasets[family]
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(folder.parent))
    dataset = minari.load_dataset(folder.name)
    assert dataset.total_episodes == NUM_TASKS * len(sources)
    env = dataset.recover_environment()  # the setting travels with the dataset
    assert env.unwrapped.num_episodes == meta_envs.env_setting(env_id, env_kwargs)["num_episodes"]
    histories = load_histories(folder, cache=False)
    episodes = list(dataset.iterate_episodes())
    metadata = list(dataset.storage.get_episode_metadata(range(dataset.total_episodes)))
    tasks = meta_envs.training_tasks(env_id, NUM_TASKS, 3, exclude=excluded_tasks(env_id, env_kwargs), **env_kwargs)
    assert load_tasks(folder) == tasks
    for i, (episode, meta) in enumerate(zip(episodes, metadata)):
        length = len(episode)
        assert set(episode.observations) == set(meta_envs.OBSERVATION_KEYS)
        assert all(len(values) == length + 1 for values in episode.observations.values())
        assert episode.terminations.tolist() == [False] * (length - 1) + [True] and not episode.truncations.any()
        # the RL² observation carries the previous action and reward
        assert (episode.observations["prev_action"][1:].argmax(axis=1) == episode.actions).all()
        np.testing.assert_allclose(episode.observations["prev_reward"][1:, 0], episode.rewards, rtol=1e-6)
        assert episode.infos["optimal_action"][-1] == labels.NO_ACTION
        assert meta["source"] == sources[i // NUM_TASKS] and meta["task_index"] == i % NUM_TASKS
        assert type(tasks[0]).from_dict(json.loads(meta["task"])) == tasks[meta["task_index"]]
        # the loader's flat arrays are the same steps
        start = histories.starts[i]
        assert histories.lengths[i] == length and histories.sources[i] == sources.index(meta["source"])
        np.testing.assert_array_equal(histories.actions[start:start + length], episode.actions)
        np.testing.assert_array_equal(histories.optimal_actions[start:start + length],
                                      episode.infos["optimal_action"][:-1])
        for key in meta_envs.OBSERVATION_KEYS:
            np.testing.assert_array_equal(histories.observations[key][start:start + length],
                                          episode.observations[key][:-1])


def test_the_arrow_backend_holds_the_same_trials(datasets, tmp_path):
    folder, env_id, env_kwargs, sources = datasets["bandit"]
    arrow = tmp_path / "bandit-arrow-v0"
    generate_dataset(arrow, env_id, env_kwargs, sources, NUM_TASKS, seed=3, batch_size=4, data_format="arrow",
                     progress=False)
    assert loader.dataset_metadata(arrow)["data_format"] == "arrow"
    ours, theirs = load_histories(folder, cache=False), load_histories(arrow, cache=False)
    for key in meta_envs.OBSERVATION_KEYS:
        np.testing.assert_array_equal(ours.observations[key], theirs.observations[key])
    np.testing.assert_array_equal(ours.optimal_actions, theirs.optimal_actions)
    np.testing.assert_array_equal(ours.rewards, theirs.rewards)


def test_bandit_labels_are_the_best_arm(datasets):
    folder = datasets["bandit"][0]
    histories, tasks = load_histories(folder), load_tasks(folder)
    for start, length, task in zip(histories.starts, histories.lengths, histories.task_indices):
        assert (histories.optimal_actions[start:start + length] == tasks[task].arm_probs.argmax()).all()


def test_mdp_labels_are_the_planners_action_in_the_state_and_step(datasets):
    folder, _, env_kwargs, _ = datasets["mdp"]
    histories, tasks = load_histories(folder), load_tasks(folder)
    policy = greedy_policy(value_iteration(*stack_tasks(tasks)[:2], env_kwargs["horizon"])[0])
    for start, length, task in zip(histories.starts, histories.lengths, histories.task_indices):
        states = histories.observations["obs"][start:start + length].argmax(axis=1)
        steps = np.arange(length) % env_kwargs["horizon"]
        np.testing.assert_array_equal(histories.optimal_actions[start:start + length], policy[task, steps, states])
    # the planner's actions are not all the same action (the check above can fail)
    assert len(np.unique(histories.optimal_actions)) > 1


def test_maze_labels_are_the_map_knowing_oracles_actions(datasets):
    folder, _, _, sources = datasets["maze"]
    histories = load_histories(folder)
    oracle = histories.trials_of(["oracle"])
    rows = np.concatenate([np.arange(s, s + n) for s, n in zip(histories.starts[oracle], histories.lengths[oracle])])
    # in a perfect maze the fewest-action path is unique up to turning around, where both
    # the oracle and the labels turn left
    np.testing.assert_array_equal(histories.optimal_actions[rows], histories.actions[rows])
    explorer = histories.trials_of(["explorer"])
    rows = np.concatenate([np.arange(s, s + n) for s, n in zip(histories.starts[explorer], histories.lengths[explorer])])
    assert (histories.optimal_actions[rows] != histories.actions[rows]).any()  # an explorer explores


def test_goal_action_table_walks_the_fewest_actions_from_every_start():
    batch = generate_mazes(40, 4, np.random.default_rng(0))
    distances, actions = goal_action_table(batch.walls, batch.goal)
    everyone = np.arange(40)
    np.testing.assert_array_equal(distances[everyone, batch.start[:, 0], batch.start[:, 1], batch.start_heading],
                                  batch.optimal_episode_length)
    for i in range(40):
        (row, col), heading, steps = batch.start[i], batch.start_heading[i], 0
        while (row, col) != tuple(batch.goal[i]):
            action = actions[i, row, col, heading]
            if action == FORWARD:
                row, col = row + HEADING_STEPS[heading, 0], col + HEADING_STEPS[heading, 1]
            heading, steps = NEXT_HEADING[action, heading], steps + 1
        assert steps == batch.optimal_episode_length[i]
    assert (actions[batch.walls] == -1).all() and (distances[batch.walls] == -1).all()
    with pytest.raises(ValueError, match="goals must have shape"):
        goal_action_table(batch.walls, batch.goal[:3])
    with pytest.raises(ValueError, match="free square"):
        goal_action_table(batch.walls[:1], np.array([[0, 0]]))


def test_maze_dynamics_poses_are_every_agents_state():
    dynamics = MazeDynamics(5, size=3)
    rng = np.random.default_rng(1)
    dynamics.sample_tasks(np.arange(5), rng)
    dynamics.start_episodes(np.arange(5), rng)
    for _ in range(7):
        dynamics.step(rng.integers(0, 3, 5), rng)
    assert dynamics.poses().tolist() == [list(dynamics.agent_state(i)) for i in range(5)]


def test_training_tasks_leave_out_the_held_out_tasks():
    env_kwargs = {"size": 3}  # few distinct mazes: two task streams collide by chance
    held_out = set(meta_envs.held_out_tasks("MetaMaze-v0", 1000, 0, **env_kwargs))
    raw = meta_envs.training_tasks("MetaMaze-v0", 300, 0, **env_kwargs)
    assert set(raw) & held_out  # what would happen without the exclusion
    assert held_out <= excluded_tasks("MetaMaze-v0", env_kwargs)
    tasks = meta_envs.training_tasks("MetaMaze-v0", 300, 0, exclude=excluded_tasks("MetaMaze-v0", env_kwargs),
                                     **env_kwargs)
    assert len(tasks) == 300 and not set(tasks) & held_out
    assert tasks == meta_envs.training_tasks("MetaMaze-v0", 300, 0, exclude=held_out, **env_kwargs)
    every_tiny_maze = set(meta_envs.training_tasks("MetaMaze-v0", 5000, 1, size=2))  # all 192 of them
    with pytest.raises(ValueError, match="too small for them; ask for fewer tasks"):
        meta_envs.training_tasks("MetaMaze-v0", 50, 0, exclude=every_tiny_maze, size=2)


def test_datasets_of_a_suite_setting_avoid_its_held_out_tasks(datasets):
    folder, env_id, env_kwargs, _ = datasets["bandit"]
    suite_cell = {"num_arms": 5, "num_episodes": 10}  # rl2-bandits-v0's k=5,n=10
    excluded = excluded_tasks(env_id, suite_cell)
    assert set(meta_envs.held_out_tasks(env_id, 1000, 0, **suite_cell)) == excluded
    assert not set(load_tasks(folder)) & excluded_tasks(env_id, env_kwargs)


def test_the_same_seed_gives_the_same_data_and_a_source_does_not_depend_on_the_others(datasets, tmp_path):
    folder, env_id, env_kwargs, sources = datasets["bandit"]
    alone = tmp_path / "alone-v0"
    generate_dataset(alone, env_id, env_kwargs, sources[::-1][:1], NUM_TASKS, seed=3, batch_size=4, progress=False)
    both, one = load_histories(folder, cache=False), load_histories(alone, cache=False)
    mine = both.trials_of([sources[-1]])
    rows = np.concatenate([np.arange(s, s + n) for s, n in zip(both.starts[mine], both.lengths[mine])])
    np.testing.assert_array_equal(both.actions[rows], one.actions)
    np.testing.assert_array_equal(both.rewards[rows], one.rewards)
    other = tmp_path / "other-seed-v0"
    generate_dataset(other, env_id, env_kwargs, sources[-1:], NUM_TASKS, seed=4, batch_size=4, progress=False)
    assert not np.array_equal(load_histories(other, cache=False).actions, one.actions)


def test_windows_carry_the_dpt_or_ad_targets_and_are_drawn_from_a_seed(datasets):
    histories = load_histories(datasets["maze"][0])
    dpt = InContextWindows(histories, "dpt")
    assert len(dpt) == len(histories.lengths) and dpt.context_length == histories.lengths.max()
    item = dpt[1]
    start, length = histories.starts[1], histories.lengths[1]
    assert item["mask"].sum() == length and (item["targets"][length:] == -1).all()
    np.testing.assert_array_equal(item["targets"][:length], histories.optimal_actions[start:start + length])
    np.testing.assert_array_equal(item["tokens"][:length], histories.tokens(np.arange(start, start + length)))
    ad = InContextWindows(histories, "ad", context_length=4, trials=np.array([1]))
    assert len(ad) == length - 3
    last = ad[len(ad) - 1]
    np.testing.assert_array_equal(last["positions"], np.arange(length - 4, length))
    np.testing.assert_array_equal(last["targets"], histories.actions[start + length - 4:start + length])
    a = ad.sample(16, torch.Generator().manual_seed(5))
    b = ad.sample(16, torch.Generator().manual_seed(5))
    c = ad.sample(16, torch.Generator().manual_seed(6))
    assert all(torch.equal(a[key], b[key]) for key in a) and not torch.equal(a["positions"], c["positions"])
    assert a["tokens"].shape == (16, 4, histories.tokens(np.array([0])).shape[-1])


def test_the_cache_is_read_back_and_refreshed_when_the_dataset_changes(datasets, tmp_path, monkeypatch):
    folder, env_id, env_kwargs, sources = datasets["bandit"]
    copy = tmp_path / "copy-v0"
    generate_dataset(copy, env_id, env_kwargs, sources, NUM_TASKS, seed=3, batch_size=4, progress=False)
    first = load_histories(copy)
    assert (copy / loader.CACHE_NAME).is_file()
    original, reads = loader._read_minari, []

    def counting(*args):
        reads.append(1)
        return original(*args)

    monkeypatch.setattr(loader, "_read_minari", counting)
    np.testing.assert_array_equal(load_histories(copy).actions, first.actions)
    assert reads == []  # read from the cache
    minari.MinariDataset(copy.resolve() / "data").storage.update_metadata({"description": "changed"})
    np.testing.assert_array_equal(load_histories(copy).actions, first.actions)
    assert reads == [1]  # Minari's metadata changed: read again


def test_a_family_without_labels_has_no_dpt_target(datasets, tmp_path, monkeypatch):
    folder, env_id, env_kwargs, sources = datasets["bandit"]
    monkeypatch.delitem(labels.LABELED_FAMILIES, "meta_envs.bandit:MetaBanditVectorEnv")
    with pytest.raises(ValueError, match="MetaBandit-v0 has no optimal_action labels; the IDs with labels are"):
        labels.optimal_actions(env_id, env_kwargs, [], np.zeros((0, 1, 1)), np.zeros((0, 0), int),
                               np.zeros((0, 0), bool), np.zeros(0, int))
    unlabelled = tmp_path / "unlabelled-v0"
    generate_dataset(unlabelled, env_id, env_kwargs, sources[:1], 2, seed=0, progress=False)
    histories = load_histories(unlabelled)
    assert histories.optimal_actions is None and not loader.dataset_metadata(unlabelled)["optimal_action"]
    InContextWindows(histories, "ad")  # AD needs no labels
    with pytest.raises(ValueError, match="has no optimal_action labels .* train the ad target instead"):
        InContextWindows(histories, "dpt")


def test_bad_requests_are_one_line_errors(datasets, tmp_path):
    folder, env_id, env_kwargs, sources = datasets["bandit"]
    with pytest.raises(ValueError, match="unknown agent 'gitins' for MetaBandit-v0; give one of"):
        generate_dataset(tmp_path / "a-v0", env_id, env_kwargs, ["gitins"], 2, 0, progress=False)
    assert not (tmp_path / "a-v0").exists()  # nothing written before the sources are known
    with pytest.raises(ValueError, match="must look like NAME-vN"):
        generate_dataset(tmp_path / "no-version", env_id, env_kwargs, sources, 2, 0, progress=False)
    with pytest.raises(ValueError, match="already exists"):
        generate_dataset(folder, env_id, env_kwargs, sources, 2, 0, progress=False)
    with pytest.raises(ValueError, match="sources must be distinct"):
        generate_dataset(tmp_path / "b-v0", env_id, env_kwargs, ["random", "random"], 2, 0, progress=False)
    with pytest.raises(FileNotFoundError, match="no dataset folder .*make_dataset.py"):
        load_histories(tmp_path / "missing-v0")
    with pytest.raises(ValueError, match=r"was made on MetaBandit-v0 .* not on MetaBandit-v0 \{'num_arms': 4"):
        loader.check_setting(folder, env_id, {"num_arms": 4, "num_episodes": 8})
    with pytest.raises(ValueError, match=r"has no source\(s\) \['gittins'\]; its sources are \['thompson', 'random'\]"):
        load_histories(folder).trials_of(["gittins"])
    with pytest.raises(ValueError, match="target must be one of"):
        InContextWindows(load_histories(folder), "bc")


def test_the_readme_loading_example_runs_as_written(tmp_path, monkeypatch):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme[readme.index("## Learning-history datasets (Minari)\n"):]
    section = section[: section.index("\n## ", 1)]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MINARI_DATASETS_PATH", raising=False)
    generate_dataset("datasets/bandit-k5-n100-v0", "MetaBandit-v0", {"num_arms": 5, "num_episodes": 100},
                     ["gittins", "random"], 3, seed=0, progress=False)
    namespace: dict = {}
    exec(compile(code, "README loading example", "exec"), namespace)
    assert namespace["env"].unwrapped.num_episodes == 100 and len(namespace["episode"].actions) == 100
    batch = namespace["batch"]
    assert batch["tokens"].shape == (32, 100, 8) and batch["targets"].shape == (32, 100)
    assert len(namespace["ad"]) == 3 * (100 - 50 + 1) and len(namespace["tasks"]) == 3
