"""Train an RL² or in-context learner on a meta_envs family, then score it against the random policy.

    python scripts/train.py --algo trpo_gru                      # MetaBandit-v0 defaults, a few minutes
    python scripts/train.py --algo trpo_gru --env MetaBandit-v0 --env-kwargs num_arms=10,num_episodes=100 \\
        --timesteps 20000000 --device cuda --out runs/bandit_k10_n100
    python scripts/train.py --resume runs/bandit_k10_n100 --timesteps 40000000
    python scripts/train.py --algo trpo_gru --help               # every hyperparameter flag
    python scripts/train.py --algo recurrent_ppo --env MetaTabularMDP-v0 --policy gru   # sb3-contrib RecurrentPPO
    python scripts/train.py --algo dpt --dataset datasets/bandit-k5-n100-v0   # DPT on a dataset of scripts/make_dataset.py

The run folder (``--out``; default ``runs/<algo>-<env>-seed<S>-<time>``) gets
``config.json``, ``progress.csv``, TensorBoard events, checkpoints,
``learning_curve.png`` and ``eval.json`` (the final evaluation on a held-out task set,
the learner under its algo name beside ``random``, with its behavioural statistics on bandits
and tabular MDPs, :mod:`agents.evaluation.probe`); see :mod:`agents.training.run_folder`.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import sys
import time

# OpenMP threads that spin while they wait for each other slow torch down 5-12x when
# other processes share the cores (measured on a 2-core machine); passive waiting does not.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch
from tqdm import tqdm

from meta_envs import env_setting
from agents.training.algorithms import ALGORITHMS, Algorithm
from agents.training.cli import add_dataclass_flags, add_threads_flag, given_fields, parse_env_kwargs
from agents.evaluation import format_table, write_results
from agents.training.run_folder import (
    DEVICES,
    InitFromError,
    RunFolder,
    RunSpec,
    StopSignal,
    evaluate_with_random,
    plot_run_curve,
    read_progress,
    resolve_device,
)

#: flags fixed by the run folder: a resumed run keeps them
RUN_FLAGS = ("env", "env_kwargs", "num_envs", "seed", "eval_tasks", "eval_seed")


def build_parser(algorithm: Algorithm | None) -> argparse.ArgumentParser:
    """The parser; with an algorithm, its hyperparameter flags too."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], epilog=__doc__.split("\n", 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--algo", default="trpo_gru", help=f"learner: {', '.join(ALGORITHMS)} (default: trpo_gru)")
    parser.add_argument("--env", default=None, help="a meta_envs ID (default: MetaBandit-v0)")
    parser.add_argument("--env-kwargs", default=None, help="the family's kwargs, e.g. num_arms=10,num_episodes=100")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--timesteps", type=int, help="env-step budget (dpt: targets trained on; default: the algo's quick-start budget)")
    budget.add_argument("--iterations", type=int, help="iteration budget instead of --timesteps")
    parser.add_argument("--num-envs", type=int, default=None, help="sub-envs stepped together (default: the algo's)")
    parser.add_argument("--seed", type=int, default=None, help="training seed (default: 0)")
    parser.add_argument("--device", choices=DEVICES, default=None, help="auto (CUDA if available), cpu or cuda")
    add_threads_flag(parser)
    parser.add_argument("--out", help="run folder (must not exist or be empty)")
    parser.add_argument(
        "--checkpoint-minutes", type=float, default=None, metavar="M",
        help="refresh checkpoints/latest at least every M minutes of wall time, besides every 25 iterations "
        "(default: 5; a kill loses at most that much)",
    )
    parser.add_argument("--resume", metavar="DIR", help="continue the run in DIR (to a new --timesteps/--iterations if given)")
    parser.add_argument(
        "--init-from", metavar="DIR",
        help="start a new run from the networks of DIR's latest checkpoint (a warm start, e.g. from a "
        "shorter-trial setting; same networks, any learner of the same engine; a --hidden-size or "
        "--value-hidden-size that is a whole multiple of DIR's widens its network)",
    )
    parser.add_argument(
        "--init-policy-only", action="store_true",
        help="with --init-from, take only DIR's policy network; the value baseline starts afresh, so it may "
        "differ from DIR's (e.g. --value-task-features)",
    )
    parser.add_argument("--eval-tasks", type=int, default=None, help="held-out tasks of the final evaluation (default: 1000)")
    parser.add_argument("--eval-seed", type=int, default=None, help="held-out task seed (default: 0)")
    if algorithm is not None:
        add_dataclass_flags(
            parser,
            algorithm.config_type,
            f"{algorithm.name} hyperparameters (per-family values override the defaults shown)",
            algorithm.quick_start,
        )
    return parser


def make_spec(args: argparse.Namespace, algorithm: Algorithm, parser: argparse.ArgumentParser) -> RunSpec:
    """A new run's spec. Hyperparameters: flags, else the env's defaults for the algo, else
    the algo's quick-start values, else the dataclass defaults."""
    env_id = args.env or "MetaBandit-v0"
    try:
        env_kwargs = parse_env_kwargs(args.env_kwargs or "")
        env_setting(env_id, env_kwargs)  # an unknown ID or kwarg: one line naming the known ones
        hyperparameters = algorithm.hyperparameters(env_id, env_kwargs, given_fields(algorithm.config_type, args))
        if algorithm.data_setting is not None:  # the dataset fixes the env
            data_env, data_kwargs = algorithm.data_setting(hyperparameters)
            if args.env is None and args.env_kwargs is None:
                env_id, env_kwargs = data_env, data_kwargs
            elif env_id != data_env or env_setting(env_id, env_kwargs) != env_setting(data_env, data_kwargs):
                raise ValueError(
                    f"the dataset was made on {data_env} {env_setting(data_env, data_kwargs)}, not on {env_id} "
                    f"{env_setting(env_id, env_kwargs)}; leave out --env/--env-kwargs to train on the dataset's setting"
                )
    except (ValueError, TypeError, FileNotFoundError) as err:
        parser.error(str(err))
    timesteps = args.timesteps if args.iterations is None else None
    return RunSpec(
        algo=algorithm.name,
        env_id=env_id,
        env_kwargs=env_kwargs,
        seed=0 if args.seed is None else args.seed,
        num_envs=algorithm.default_num_envs if args.num_envs is None else args.num_envs,
        device=args.device or "auto",
        timesteps=algorithm.default_timesteps if timesteps is None and args.iterations is None else timesteps,
        iterations=args.iterations,
        hyperparameters=hyperparameters,
        eval_tasks=1000 if args.eval_tasks is None else args.eval_tasks,
        eval_seed=0 if args.eval_seed is None else args.eval_seed,
        checkpoint_minutes=5.0 if args.checkpoint_minutes is None else args.checkpoint_minutes,
        init_from=args.init_from,
        init_policy_only=args.init_policy_only,
    )


def session_record(
    argv: list[str], args: argparse.Namespace, spec: RunSpec, seconds: float, status: str, last: dict[str, float]
) -> dict[str, object]:
    """What ``sessions.json`` keeps of one invocation: the command, where and how long it ran.

    :param status: ``running`` (rewritten every iteration; a session left ``running`` with no
        process behind it was killed, and resumes from its last checkpoint, at most
        ``--checkpoint-minutes`` before its last iteration), ``stopped`` (Ctrl-C or SIGTERM,
        with a checkpoint) or ``completed`` (its budget spent, then evaluated).
    :param last: the last iteration's metrics (``iteration`` and ``env_steps``; empty before the first).
    """
    return {
        "command": shlex.join(["python", "scripts/train.py", *argv]),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "wall_seconds": round(seconds, 3),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}",
        "device": resolve_device(spec.device).type,
        "threads": args.threads,
        "iterations": int(last.get("iteration", 0)),
        "env_steps": int(last.get("env_steps", 0)),
        "stopped": status == "stopped",
        "status": status,
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    pre = argparse.ArgumentParser(add_help=False)  # which algo's flags to add
    pre.add_argument("--algo", default="trpo_gru")
    pre.add_argument("--resume")
    pre, _ = pre.parse_known_args(argv)
    resume = RunFolder(pre.resume) if pre.resume else None
    try:
        name = resume.read_spec().algo if resume else pre.algo
    except FileNotFoundError as err:
        build_parser(None).error(f"--resume: {err} (a run folder holds config.json; start one with --out DIR)")
    if name not in ALGORITHMS:
        build_parser(None).error(f"unknown --algo {name!r}; known: {', '.join(sorted(ALGORITHMS))}")
    algorithm = ALGORITHMS[name]
    if resume:
        resume = RunFolder(resume.path, algorithm.checkpoint_suffix)
    parser = build_parser(algorithm)
    args = parser.parse_args(argv)
    if args.checkpoint_minutes is not None and not args.checkpoint_minutes >= 0:
        parser.error(f"--checkpoint-minutes must be a number >= 0, got {args.checkpoint_minutes}")
    torch.set_num_threads(args.threads)

    if resume:
        spec = resume.read_spec()
        if not resume.latest_checkpoint.is_file():
            parser.error(f"{resume.latest_checkpoint} not found: nothing to resume (start a new run instead)")
        fixed = [f for f in RUN_FLAGS if getattr(args, f) is not None] + list(given_fields(algorithm.config_type, args))
        if fixed or "--algo" in argv or args.out or args.init_from or args.init_policy_only:
            parser.error(f"--resume keeps the run's settings; only --timesteps/--iterations/--device/--checkpoint-minutes may be given, got {fixed or ['--algo/--out/--init-from/--init-policy-only']}")
        if args.timesteps is not None or args.iterations is not None:
            spec.timesteps, spec.iterations = args.timesteps, args.iterations
        spec.device = args.device or spec.device
        if args.checkpoint_minutes is not None:
            spec.checkpoint_minutes = args.checkpoint_minutes
        folder = resume
        folder.write_spec(spec)
    else:
        if args.init_policy_only and not args.init_from:
            parser.error("--init-policy-only says what to take from --init-from DIR; give --init-from too")
        if args.init_from and not algorithm.warm_start:
            warm = sorted(name for name, a in ALGORITHMS.items() if a.warm_start)
            parser.error(f"--init-from: {algorithm.name} has no warm start; learners with one: {', '.join(warm)}")
        spec = make_spec(args, algorithm, parser)
        default_out = f"runs/{spec.algo}-{spec.env_id}-seed{spec.seed}-{time.strftime('%Y%m%d-%H%M%S')}"
        folder = RunFolder(args.out or default_out, algorithm.checkpoint_suffix)
        try:
            folder.create(spec)
        except FileExistsError as err:
            parser.error(str(err))

    budget = spec.iterations if spec.iterations is not None else spec.timesteps
    unit = "it" if spec.iterations is not None else "step"
    print(f"{spec.algo} on {spec.env_id} {spec.env_kwargs}: budget {budget:,} {unit}s, run folder {folder.path}")
    start = time.perf_counter()
    last: dict[str, float] = {}
    session: int | None = None  # this invocation's entry in sessions.json, from its first iteration on
    with tqdm(total=budget, unit=unit, unit_scale=True, dynamic_ncols=True) as bar:

        def progress(metrics: dict[str, float]) -> None:
            nonlocal session
            last.update(iteration=metrics["iteration"], env_steps=metrics["env_steps"])
            record = session_record(argv, args, spec, time.perf_counter() - start, "running", last)
            session = folder.record_session(record, session)
            bar.n = int(metrics["iteration"] if unit == "it" else min(metrics["env_steps"], budget))
            # what the learner logs: every RL² learner a KL, an in-context learner a loss
            shown = {"trial_return": ("mean_trial_return", ".3f"), "kl": ("kl", ".4f"), "loss": ("loss", ".4f")}
            bar.set_postfix({name: f"{metrics[key]:{spec_}}" for name, (key, spec_) in shown.items() if key in metrics},
                            refresh=False)
            bar.refresh()

        with StopSignal() as stop:
            try:
                agent = algorithm.train(folder, spec, progress, resume is not None, stop=stop.requested)
            except InitFromError as err:
                shutil.rmtree(folder.path)  # the new run never started: leave no half-made folder
                parser.error(str(err))
    train_seconds = time.perf_counter() - start
    if not last and folder.progress.is_file():  # no iteration ran: the budget was spent already
        last = {key: values[-1] for key, values in read_progress(folder).items() if key in ("iteration", "env_steps")}
    status = "stopped" if stop.requested() else "completed"
    folder.record_session(session_record(argv, args, spec, train_seconds, status, last), session)
    if stop.requested():
        plot_run_curve(folder, spec)
        print(f"stopped after {train_seconds:.0f} s with a checkpoint; continue with: "
              f"python scripts/train.py --resume {folder.path}")
        return 130
    plot_run_curve(folder, spec)
    document = evaluate_with_random(agent, spec.algo, spec.env_id, spec.env_kwargs, spec.eval_tasks, spec.eval_seed,
                                    probe=True)
    write_results(folder.eval, document)
    print(format_table(document))
    print(f"training took {train_seconds:.0f} s; run folder {folder.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
