"""The shipped RL² reference agents (agents.pretrained) and their place in the reproduction."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest

import agents
import agents.pretrained as pretrained
from agents.baselines import RandomAgent
from agents.baselines.registry import FAMILIES
from agents.evaluation import evaluate
from agents.evaluation.paper_tables import PACKAGED_TABLES, PaperTable, load_paper_table
from agents.evaluation.reproduction import agent_source, format_comparison, run_table
from meta_envs.settings import env_setting

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SHIPPED = [recipe for recipe in pretrained.RECIPES if recipe.trained]


def test_recipes_are_found_by_setting_with_defaults_omitted():
    recipe = pretrained.find_recipe("MetaBandit-v0", num_arms=5, num_episodes=10)
    assert recipe is pretrained.find_recipe("MetaBandit-v0")  # the env's defaults
    assert recipe.command.startswith("python scripts/train.py --algo trpo_gru --env MetaBandit-v0 ")
    assert recipe.command.endswith("--out agents/pretrained/trpo_gru-bandit-k5-n10")
    with pytest.raises(ValueError, match=r"no reference agent \(rl2\) .* recipes exist for:\n  trpo_gru MetaBandit-v0"):
        pretrained.find_recipe("MetaBandit-v0", num_arms=7)
    with pytest.raises(ValueError, match="has no kwarg"):
        pretrained.find_recipe("MetaBandit-v0", arms=5)


def test_the_rl2_reference_of_a_setting_is_whichever_rl2_rule_trained_it():
    # the MDP agents are trained by the PPO rule of the RL² engine, the bandit agents by TRPO;
    # "rl2" (the default) finds either, a learner's own name only its own
    mdp = pretrained.find_recipe("MetaTabularMDP-v0", num_episodes=10)
    assert mdp.algo == "ppo_gru" and mdp is pretrained.find_recipe("MetaTabularMDP-v0", "ppo_gru", num_episodes=10)
    assert pretrained.find_recipe("MetaBandit-v0", "trpo_gru").algo == "trpo_gru"
    with pytest.raises(ValueError, match=r"no reference agent \(trpo_gru\) for MetaTabularMDP-v0"):
        pretrained.find_recipe("MetaTabularMDP-v0", "trpo_gru", num_episodes=10)
    with pytest.raises(ValueError, match=r"no reference agent \(dpt\) for MetaTabularMDP-v0"):
        pretrained.find_recipe("MetaTabularMDP-v0", "dpt", num_episodes=10)


def test_each_served_setting_has_its_own_evaluation_file_and_command():
    bandit = pretrained.find_recipe("MetaBandit-v0", num_arms=5, num_episodes=100)
    assert bandit.eval_path("MetaBandit-v0", {"num_arms": 5, "num_episodes": 100}) == bandit.path / "eval.json"
    longer = {"num_arms": 5, "num_episodes": 500}
    assert bandit.eval_path("MetaBandit-v0", longer) == bandit.path / "eval-num_episodes=500.json"
    assert bandit.evaluate_command("MetaBandit-v0", longer) == (
        "python scripts/evaluate.py agents/pretrained/trpo_gru-bandit-k5-n100 --env-kwargs num_episodes=500 "
        "--tasks 1000 --seed 0 --probe --json agents/pretrained/trpo_gru-bandit-k5-n100/eval-num_episodes=500.json")
    maze = pretrained.find_recipe("MetaMaze-v0")
    assert maze.eval_path("MetaMazeLarge-v0", {}) == maze.path / "eval-MetaMazeLarge-v0.json"
    assert "--env MetaMazeLarge-v0 --tasks" in maze.evaluate_command("MetaMazeLarge-v0", {})
    with pytest.raises(ValueError, match="does not serve MetaBandit-v0"):
        bandit.eval_path("MetaBandit-v0", {"num_arms": 5, "num_episodes": 200})


def test_a_recipe_without_its_checkpoint_says_how_to_train_it(tmp_path, monkeypatch):
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", tmp_path)
    assert not any(recipe.trained for recipe in pretrained.RECIPES)
    with pytest.raises(ValueError, match=r"not trained yet .*\n  python scripts/train.py --algo trpo_gru"):
        agents.load_pretrained("MetaBandit-v0", num_arms=5, num_episodes=10)
    agents_, unavailable = agent_source("rl2")("MetaBandit-v0", {"num_arms": 5, "num_episodes": 10})
    assert agents_ == {} and "reproduce.py --train" in unavailable["rl2"]
    assert agent_source("rl2")("MetaBandit-v0", {"num_arms": 7, "num_episodes": 10})[1] == {
        "rl2": "no RL² reference recipe for this setting"
    }


def test_some_reference_agents_are_shipped():
    assert len(SHIPPED) >= 1


@pytest.mark.parametrize("recipe", SHIPPED, ids=[recipe.name for recipe in SHIPPED])
def test_shipped_agents_load_and_beat_random_on_held_out_tasks(recipe):
    agent = agents.load_pretrained(recipe.env_id, recipe.algo, **recipe.env_kwargs)
    ours = evaluate(agent, recipe.env_id, recipe.env_kwargs, num_tasks=200, seed=3)
    num_actions = int(gym.make(recipe.env_id, **recipe.env_kwargs).action_space.n)
    random = evaluate(RandomAgent(num_actions), recipe.env_id, recipe.env_kwargs, num_tasks=200, seed=3)
    assert ours.mean - ours.ci95 > random.mean + random.ci95
    # the run folder carries what the README promises
    for name in ("config.json", "sessions.json", "progress.csv", "learning_curve.png", "eval.json"):
        assert (recipe.path / name).is_file(), name
    sessions = json.loads((recipe.path / "sessions.json").read_text())
    assert sessions and all(s["command"].startswith("python scripts/train.py") for s in sessions)


#: (recipe, env ID, kwargs): each setting a shipped RL² agent is the reference for, where greedy plays it
GREEDY_JUDGED = [
    (recipe, env_id, dict(env_kwargs))
    for recipe in SHIPPED if recipe.algo in pretrained.RL2_LEARNERS
    for env_id, env_kwargs in ((recipe.env_id, recipe.env_kwargs), *recipe.tested_on)
    if env_id in FAMILIES and "greedy" in FAMILIES[env_id].names
]


def _long_trial(env_id: str, env_kwargs: dict) -> bool:
    """Trials long enough for exploration to pay: at n=10 pulls greedy is within noise of Bayes-optimal."""
    return env_id != "MetaBandit-v0" or env_setting(env_id, env_kwargs)["num_episodes"] >= 100


@pytest.mark.parametrize(
    ("recipe", "env_id", "env_kwargs"),
    GREEDY_JUDGED,
    ids=[f"{r.name}@{','.join(f'{k}={v}' for k, v in kw.items())}" for r, _, kw in GREEDY_JUDGED],
)
def test_shipped_agents_match_greedy_and_beat_it_on_long_trials(recipe, env_id, env_kwargs):
    """Paired by task (500 held-out tasks): never below greedy beyond noise, and above it
    where trials are long enough for exploring to pay; in every setting the agent serves
    (the n=100 bandit agents also play n=500)."""
    agent = agents.load_pretrained(env_id, recipe.algo, **env_kwargs)
    greedy = FAMILIES[env_id].make("greedy", env_kwargs)
    ours, theirs = (evaluate(a, env_id, env_kwargs, num_tasks=500, seed=3) for a in (agent, greedy))
    difference = ours.trial_returns - theirs.trial_returns
    margin = 2 * difference.std(ddof=1) / np.sqrt(len(difference))
    assert difference.mean() > -margin, (ours.mean, theirs.mean)
    if _long_trial(env_id, env_kwargs):
        assert difference.mean() > margin, (ours.mean, theirs.mean)


@pytest.mark.skipif(not any(r.env_id == "MetaBandit-v0" for r in SHIPPED), reason="no shipped bandit agent")
def test_the_rl2_column_is_filled_from_the_shipped_agents():
    shipped = next(r for r in SHIPPED if r.env_id == "MetaBandit-v0")
    full = load_paper_table("bandit", PACKAGED_TABLES)
    cell = full.cell_name(shipped.env_kwargs)
    table = PaperTable("bandit", full.layout, {cell: full.cells[cell]}, full.source)
    grid = run_table(table, agent_source("all"), num_tasks=20, seed=0, progress=False)
    assert {"rl2", "gittins", "random"} <= set(grid["cells"][0]["results"])
    assert "RL² reference agents against the paper's RL² (target: within 2%)" in format_comparison(table, grid)
