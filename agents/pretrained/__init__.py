"""Shipped reference agents (RL², and in-context DPT): the trained run folders and the recipe behind each.

Every setting the project trains a reference agent for has a :class:`Recipe`
(:data:`RECIPES`): the ``scripts/train.py`` command that trains it (learner, env, kwargs,
hyperparameters, budget), for an in-context learner the ``scripts/make_dataset.py``
command that makes its dataset first, and its run folder, ``agents/pretrained/<name>/``. A trained
recipe ships that folder: ``config.json``, ``sessions.json`` (every command that trained
it and its wall time), ``progress.csv``, ``learning_curve.png``, ``eval.json`` and
``checkpoints/latest.pt``, the whole training state, so that
``python scripts/train.py --resume agents/pretrained/<name> --timesteps N`` trains it on.

    import agents
    agent = agents.load_pretrained("MetaBandit-v0", num_arms=5, num_episodes=10)
    result = agents.evaluation.evaluate(agent, "MetaBandit-v0", {"num_arms": 5, "num_episodes": 10})
    dpt = agents.load_pretrained("MetaBandit-v0", algo="dpt", num_arms=5, num_episodes=100)

Settings are compared with :func:`meta_envs.env_setting`, so kwargs left at their defaults
may be omitted.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agents.evaluation import Agent
from agents.training.cli import format_kwargs
from meta_envs.settings import env_setting

#: where the shipped run folders live (inside the package)
PRETRAINED_DIR = Path(__file__).resolve().parent

#: ``algo="rl2"`` asks for a setting's RL² reference agent, whichever update rule of the RL²
#: engine (:mod:`agents.rl2`) trained it: TRPO (the paper's) where it reaches the paper,
#: PPO where it learned more at equal steps (docs/rl2_ablation.md)
RL2 = "rl2"
RL2_LEARNERS = ("trpo_gru", "ppo_gru")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How one shipped reference agent is trained.

    :param name: the run folder's name under :data:`PRETRAINED_DIR`.
    :param env_id: a registered meta_envs ID.
    :param env_kwargs: the setting's kwargs.
    :param flags: the other ``scripts/train.py`` flags (hyperparameters, budget, envs).
    :param algo: the learner (a key of ``agents.training.algorithms.ALGORITHMS``).
    :param note: why these hyperparameters, where they differ from the paper's.
    :param tested_on: other settings ``(env_id, env_kwargs)`` the agent is the reference for
        without retraining, as in the paper (trained on small mazes, tested on large ones).
    :param dataset: for a learner trained on a dataset (``dpt``), the ``scripts/make_dataset.py``
        arguments that make it (its ``--out`` is the ``--dataset`` of :attr:`flags`); empty otherwise.
    :param temperature: for an in-context agent (``dpt``), the temperature it plays at
        (``InContextAgent.temperature``), chosen after training on tasks the benchmark does not
        use; ``None``: the run's own.
    """

    name: str
    env_id: str
    env_kwargs: Mapping[str, Any]
    flags: tuple[str, ...]
    algo: str = "trpo_gru"
    note: str = ""
    tested_on: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    dataset: tuple[str, ...] = ()
    temperature: float | None = None

    def __post_init__(self) -> None:
        if self.temperature is not None and self.algo != "dpt":
            raise ValueError(f"recipe {self.name}: a play temperature is for in-context (dpt) agents, not {self.algo}")

    @property
    def path(self) -> Path:
        """The run folder."""
        return PRETRAINED_DIR / self.name

    @property
    def checkpoint(self) -> Path:
        """The checkpoint :func:`load_pretrained` reads."""
        from agents.training.algorithms import ALGORITHMS

        return self.path / "checkpoints" / f"latest{ALGORITHMS[self.algo].checkpoint_suffix}"

    @property
    def trained(self) -> bool:
        """Whether the run is shipped: its checkpoint and the evaluation of that checkpoint
        (``eval.json``) are there. A run still training has no ``eval.json`` yet."""
        return self.checkpoint.is_file() and (self.path / "eval.json").is_file()

    def eval_path(self, env_id: str, env_kwargs: Mapping[str, Any]) -> Path:
        """Where the run folder keeps its agent's evaluation on a setting it serves: ``eval.json``
        for its training setting, ``eval-<what differs>.json`` for one of :attr:`tested_on`
        (e.g. ``eval-num_episodes=500.json``, ``eval-MetaMazeLarge-v0.json``), each written by
        ``scripts/evaluate.py --probe`` (:meth:`evaluate_command`).

        :raises ValueError: for a setting this recipe does not serve.
        """
        if not self.matches(env_id, env_kwargs, self.algo):
            raise ValueError(f"recipe {self.name} does not serve {env_id} {dict(env_kwargs)}")
        changed = self._changed_kwargs(env_id, env_kwargs)
        if env_id == self.env_id and not changed:
            return self.path / "eval.json"
        parts = [*([env_id] if env_id != self.env_id else []), *(f"{key}={value}" for key, value in changed.items())]
        return self.path / f"eval-{'-'.join(parts)}.json"

    def _changed_kwargs(self, env_id: str, env_kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """The kwargs of ``(env_id, env_kwargs)`` that ``scripts/evaluate.py --env-kwargs`` must give:
        those that differ from the run's own setting (same env) or from ``env_id``'s defaults."""
        base = env_setting(self.env_id, self.env_kwargs) if env_id == self.env_id else env_setting(env_id, {})
        return {key: value for key, value in env_setting(env_id, env_kwargs).items() if base[key] != value}

    def evaluate_command(self, env_id: str, env_kwargs: Mapping[str, Any]) -> str:
        """The ``scripts/evaluate.py`` command that writes :meth:`eval_path` (1000 held-out tasks, seed 0)."""
        path, changed = self.eval_path(env_id, env_kwargs), self._changed_kwargs(env_id, env_kwargs)
        other = [*(["--env", env_id] if env_id != self.env_id else []),
                 *(["--env-kwargs", format_kwargs(changed)] if changed else [])]
        folder = Path("agents") / "pretrained" / self.name
        return shlex.join(["python", "scripts/evaluate.py", str(folder), *other, "--tasks", "1000", "--seed", "0",
                           "--probe", "--json", str(folder / path.name)])

    def fingerprint(self) -> str | None:
        """SHA-256 of the shipped checkpoint (``None`` if not trained): results computed
        from an agent record it, so that they can tell when the agent has changed."""
        return hashlib.sha256(self.checkpoint.read_bytes()).hexdigest() if self.trained else None

    def train_argv(self, out: Path | None = None) -> list[str]:
        """``scripts/train.py`` arguments that train this recipe from scratch into ``out``
        (default: its own run folder; :meth:`resume_argv` continues a started one)."""
        kwargs = format_kwargs(self.env_kwargs)
        return ["--algo", self.algo, "--env", self.env_id, *(["--env-kwargs", kwargs] if kwargs else []), *self.flags,
                "--out", str(self.path if out is None else out)]

    def resume_argv(self) -> list[str]:
        """``scripts/train.py`` arguments that continue the run in its folder to its recipe's budget."""
        budget = [flag for flag in ("--timesteps", "--iterations") if flag in self.flags]
        return ["--resume", str(self.path), *(f for flag in budget for f in (flag, self.flags[self.flags.index(flag) + 1]))]

    @property
    def command(self) -> str:
        """The training command, run from the repository root."""
        argv = self.train_argv(Path("agents") / "pretrained" / self.name)
        return shlex.join(["python", "scripts/train.py", *argv])

    @property
    def dataset_command(self) -> str | None:
        """The command that makes the recipe's dataset, run from the repository root (``None`` if it has none)."""
        return shlex.join(["python", "scripts/make_dataset.py", *self.dataset]) if self.dataset else None

    def matches(self, env_id: str, env_kwargs: Mapping[str, Any], algo: str) -> bool:
        """Whether this recipe's ``algo`` agent (:data:`RL2`: any RL² learner's) is the reference
        for ``(env_id, env_kwargs)``: its training setting or one of :attr:`tested_on`."""
        setting = env_setting(env_id, env_kwargs)
        learner = algo == self.algo or (algo == RL2 and self.algo in RL2_LEARNERS)
        return learner and any(
            env_id == other_id and setting == env_setting(other_id, other_kwargs)
            for other_id, other_kwargs in ((self.env_id, self.env_kwargs), *self.tested_on)
        )


def _bandit(arms: int, pulls: int, *flags: str, note: str = "", also_serves: tuple[int, ...] = ()) -> Recipe:
    """The k-armed, n-pull bandit recipe; ``also_serves``: longer trials its agent plays without retraining."""
    return Recipe(f"trpo_gru-bandit-k{arms}-n{pulls}", "MetaBandit-v0",
                  {"num_arms": arms, "num_episodes": pulls}, flags, note=note,
                  tested_on=tuple(("MetaBandit-v0", {"num_arms": arms, "num_episodes": n}) for n in also_serves))


#: how the DPT agents' play temperatures were chosen (the README's table has the numbers)
_TEMPERATURE_NOTE = (
    " Plays at the temperature that scored best of 1, 0.5 and 0.25 on 1000 tasks of seed 7 (not the benchmark's "
    "seed 0): `python scripts/evaluate.py agents/pretrained/NAME --tasks 1000 --seed 7 --temperature T`; sampling "
    "DPT's predicted optimal arm as is explores more than 100 pulls repay."
)


def _dpt(arms: int, *flags: str, note: str, temperature: float) -> Recipe:
    """DPT on the k-armed, 100-pull bandit, from trials of DPT's own roll-in policy."""
    dataset = f"datasets/bandit-k{arms}-n100-dirichlet-v0"
    return Recipe(
        f"dpt-bandit-k{arms}-n100", "MetaBandit-v0", {"num_arms": arms, "num_episodes": 100},
        ("--dataset", dataset, *flags, "--threads", "1"),
        algo="dpt",
        note="trials of random_dirichlet, DPT's roll-in (each trial its own lean, from even pulls to all on one "
             "arm), so that the training histories look like the agent's own. " + note + _TEMPERATURE_NOTE,
        temperature=temperature,
        dataset=("--env", "MetaBandit-v0", "--env-kwargs", f"num_arms={arms},num_episodes=100",
                 "--sources", "random_dirichlet", "--tasks", "50000", "--seed", "1", "--out", dataset),
    )


#: the n=100 bandit learner that learns to count (docs/rl2_ablation.md)
_COUNTING = ("--num-envs", "500", "--steps-per-iteration", "50000", "--entropy-coef", "0.01", "--gae-lambda", "0.95",
             "--cell", "layernorm_gru", "--update-gate-bias", "1.0", "--value-task-features", "--timesteps", "100000000",
             "--threads", "1")

#: why an n=100 bandit agent is also the n=500 reference
_SERVES_500 = ("It is also the n=500 reference, not retrained: nothing in its input depends on the trial's length, "
               "and it meets the paper's n=500 number as it is (README)")

#: the tabular-MDP learner (docs/rl2_ablation.md, "MDP n=10")
_MDP = ("--steps-per-iteration", "50000", "--entropy-coef", "0.01", "--gae-lambda", "0.3", "--cell", "layernorm_gru",
        "--update-gate-bias", "1.0", "--threads", "1")


def _mdp(episodes: int, trials: int, timesteps: int, *flags: str, note: str,
         also_serves: tuple[int, ...] = ()) -> Recipe:
    """The tabular-MDP recipe for ``episodes`` episodes per trial: PPO with :data:`_MDP`,
    ``trials`` trials per iteration, ``timesteps`` env steps; ``flags``: more (a warm start);
    ``also_serves``: longer trials its agent plays without retraining."""
    return Recipe(f"ppo_gru-mdp-n{episodes}", "MetaTabularMDP-v0", {"num_episodes": episodes},
                  (*_MDP, "--num-envs", str(trials), "--timesteps", str(timesteps), *flags), algo="ppo_gru", note=note,
                  tested_on=tuple(("MetaTabularMDP-v0", {"num_episodes": n}) for n in also_serves))


#: every shipped (or to-be-trained) reference agent
RECIPES: tuple[Recipe, ...] = (
    _bandit(5, 10, "--timesteps", "2000000", "--threads", "1"),
    _bandit(10, 10, "--timesteps", "4000000", "--threads", "1"),
    _bandit(50, 10, "--num-envs", "2000", "--steps-per-iteration", "20000", "--timesteps", "10000000", "--threads", "1",
            note="2,000 trials per iteration: at k=50 the Bayes-optimal policy is only 0.05 above greedy"),
    _bandit(5, 100, *_COUNTING,
            note="the layer-normalised GRU with a memory-biased update gate, GAE λ 0.95, a 0.01 entropy bonus, "
                 "50,000 steps (500 trials) per iteration and a value baseline that also sees the task's arm "
                 "probabilities (the policy does not): with the paper's GRU and λ 0.3 the agent settled at 67 "
                 "without keeping per-arm counts; each change, at equal steps, is in docs/rl2_ablation.md. "
                 + _SERVES_500, also_serves=(500,)),
    _bandit(10, 100, *_COUNTING, note="the k=5,n=100 recipe (docs/rl2_ablation.md). " + _SERVES_500,
            also_serves=(500,)),
    _bandit(50, 100, *_COUNTING, note="the k=5,n=100 recipe (docs/rl2_ablation.md)"),
    _mdp(10, 500, 300_000_000,
         note="the PPO rule on the RL² engine with the layer-normalised GRU, GAE λ 0.3 and a 0.01 entropy bonus: "
              "at equal steps it led TRPO with the same network by 4 at 6M steps (116.7 against 112.7; the "
              "paper's GRU under TRPO: 112.7), and it kept rising where TRPO's had flattened; shipped at "
              "141.8M steps, still gaining about 0.1 per million (docs/rl2_ablation.md)"),
    _mdp(25, 200, 150_000_000, "--init-from", "agents/pretrained/ppo_gru-mdp-n10",
         note="the n=10 recipe with as many steps per iteration (200 trials of 250 steps), warm-started from the "
              "n=10 run's checkpoint at 107M steps (before that run was shipped at 141.8M: the network is the "
              "same for every n); flat at 434-435 held-out from 100M steps on, 2.6% below the paper "
              "(docs/rl2_ablation.md)"),
    _mdp(50, 100, 100_000_000, "--init-from", "agents/pretrained/ppo_gru-mdp-n25",
         note="the n=25 recipe with as many steps per iteration (100 trials of 500 steps), warm-started from the "
              "n=25 run's checkpoint at 100M steps (before it was shipped at 105.2M); shipped at 5.65M steps, "
              "917.5 held-out, at the edge of 2% below the paper; continued to 23.1M it did not improve "
              "(docs/ablations/ppo_ln_mdp50_continued_to_23M, docs/rl2_ablation.md)"),
    _mdp(75, 67, 100_000_000, "--init-from", "agents/pretrained/ppo_gru-mdp-n50",
         note="the n=50 recipe with as many steps per iteration (67 trials of 750 steps: 50,250), warm-started from "
              "the n=50 run's checkpoint at 5.65M steps (the one first shipped). It is also the n=100 reference, "
              "not retrained: nothing in its input depends on the trial's length (docs/rl2_ablation.md)",
         also_serves=(100,)),
    Recipe("trpo_gru-maze", "MetaMaze-v0", {},
           ("--num-envs", "200", "--timesteps", "100000000", "--threads", "1"),
           note="the paper's navigation settings (GAE λ 0.99, 50,000 steps per iteration; agents.rl2.config."
                "paper_defaults); tested on the large maze without retraining, as in the paper",
           tested_on=(("MetaMazeLarge-v0", {}),)),
    _dpt(5, "--step-init-std", "1.0", "--timesteps", "60000000",
         note="Trained before the step embedding's 0.02 start (the flag keeps the command its run's); pilots "
              "on the 5-source dataset: 65.1 from the uniform random source's trials, 60.9 from all five "
              "sources (the learners' own choices point at the best arm, evidence that is circular once the "
              "choices are the agent's)", temperature=0.5),
    _dpt(10, "--timesteps", "40000000",
         note="With the step embedding's PyTorch start (std 1) the loss sat at chance for ~19M targets; from "
              "std 0.02 it left chance after ~1.6M (docs/ablations/dpt_k10_step_init)", temperature=0.25),
)


def find_recipe(env_id: str, algo: str = RL2, **env_kwargs: Any) -> Recipe:
    """The recipe of a setting's ``algo`` agent (default: its RL² reference, :data:`RL2`).

    :raises ValueError: if no recipe trains ``algo`` on this setting (the message lists them).
    """
    for recipe in RECIPES:
        if recipe.matches(env_id, env_kwargs, algo):
            return recipe
    raise ValueError(
        f"no reference agent ({algo}) for {env_id} {env_kwargs}; recipes exist for:\n" + describe_recipes()
    )


def describe_recipes() -> str:
    """One line per recipe: its algo, env, kwargs and whether its checkpoint is shipped."""
    return "\n".join(
        f"  {r.algo} {r.env_id} {dict(r.env_kwargs)}: {'shipped' if r.trained else 'not trained yet'}"
        for r in RECIPES
    )


def load_pretrained(
    env_id: str, algo: str = RL2, device: str = "cpu", greedy: bool = False, **env_kwargs: Any
) -> Agent:
    """The shipped reference agent of a setting and learner, ready for :func:`agents.evaluation.evaluate`.

    For a setting the paper tests an agent on without retraining (``MetaMazeLarge-v0``),
    that agent (``Recipe.tested_on``).

    :param env_id: a registered meta_envs ID, e.g. ``"MetaBandit-v0"``.
    :param algo: the learner that trained it: :data:`RL2` (default) for the setting's RL²
        reference, whichever RL² rule trained it (the recipe says), or ``trpo_gru``,
        ``ppo_gru``, ``dpt`` (the in-context agent).
    :param device: where the policy runs (``cpu``, ``cuda`` or ``auto``).
    :param greedy: act by the argmax instead of sampling (sampling, the default, is the
        RL² convention and how the shipped results were measured).
    :param env_kwargs: the setting, e.g. ``num_arms=5, num_episodes=10``.
    :raises ValueError: if the setting has no recipe, or its checkpoint is not shipped (the
        message lists what exists and the command that trains the missing one).
    """
    from agents.training.algorithms import ALGORITHMS
    from agents.training.run_folder import RunFolder, resolve_device

    recipe = find_recipe(env_id, algo, **env_kwargs)
    if not recipe.trained:
        if recipe.dataset_command is None:
            how = f"train it with\n  {recipe.command}\nor `python scripts/reproduce.py --train`. Recipes:\n"
        else:
            how = f"make its dataset and train it with\n  {recipe.dataset_command}\n  {recipe.command}\nRecipes:\n"
        raise ValueError(
            f"the {algo} reference agent for {env_id} {env_kwargs} is not trained yet "
            f"({recipe.checkpoint if not recipe.checkpoint.is_file() else recipe.path / 'eval.json'} is missing);"
            f" {how}" + describe_recipes()
        )
    algorithm = ALGORITHMS[recipe.algo]
    folder = RunFolder(recipe.path, algorithm.checkpoint_suffix)
    agent = algorithm.load_agent(folder, folder.read_spec(), resolve_device(device), greedy=greedy)
    if recipe.temperature is not None:
        agent.temperature = recipe.temperature
    return agent


def make_dpt_agent(env_id: str, env_kwargs: Mapping[str, Any], seed: int) -> Agent:
    """The shipped DPT agent of a setting, as an agent factory for ``scripts/benchmark.py``::

        python scripts/benchmark.py --agent agents.pretrained:make_dpt_agent --suite rl2-bandits-v0 \\
            --cell k=5,n=100 --cell k=10,n=100 --name dpt

    :param seed: unused (the agent is seeded by ``reset``).
    :raises ValueError: for a setting without a shipped DPT agent (see :func:`load_pretrained`).
    """
    return load_pretrained(env_id, algo="dpt", **env_kwargs)
