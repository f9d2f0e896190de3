"""The update rules of the RL² engine: the TRPO step and its pieces (conjugate gradient,
Fisher-vector products), GAE, and the PPO-clip rule, alone and against TRPO."""

import gymnasium as gym
import numpy as np
import pytest
import torch

import meta_envs  # noqa: F401
from agents.rl2.config import PPOConfig, TRPOConfig
from agents.rl2.policy import Observations, RecurrentNet
from agents.rl2.ppo import PPORule, clipped_surrogate
from agents.rl2.rollout import TrialCollector
from agents.rl2.trials import TrialData, compute_gae, masked_mean
from agents.rl2.trpo import (
    FisherVectorProduct,
    assign_flat_parameters_,
    categorical_kl,
    conjugate_gradient,
    flat_parameters,
    line_search,
    natural_gradient_step,
    surrogate,
    surrogate_gradient,
    trpo_step,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BANDIT = {"num_arms": 3, "num_episodes": 6}


def small_policy(dtype=torch.float64, seed=0) -> RecurrentNet:
    space = gym.make("MetaBandit-v0", **BANDIT).observation_space
    torch.manual_seed(seed)
    # head_gain 1: a far-from-uniform policy, so the Fisher matrix is not nearly 0
    return RecurrentNet(space, BANDIT["num_arms"], hidden_size=6, embedding_size=4, head_gain=1.0).to(dtype)


def random_trials(dtype=torch.float64) -> TrialData:
    """Five trials of different lengths (padding included) with RL²-shaped inputs."""
    g = torch.Generator().manual_seed(1)
    length, trials, k = BANDIT["num_episodes"], 5, BANDIT["num_arms"]
    actions = torch.randint(0, k, (length, trials), generator=g)
    prev = torch.nn.functional.one_hot(actions, k).to(dtype)
    prev = torch.cat([torch.zeros(1, trials, k, dtype=dtype), prev[:-1]])
    reward = torch.rand(length, trials, 1, generator=g, dtype=dtype).round()
    vector = torch.cat([torch.ones(length, trials, 1, dtype=dtype), prev, reward, torch.ones_like(reward)], -1)
    lengths = torch.tensor([6, 6, 4, 3, 5])
    mask = (torch.arange(length)[:, None] < lengths[None, :]).to(dtype)
    return TrialData(Observations(vector, None, lengths), actions, reward.squeeze(-1) * mask, mask)


def exact_kl_hessian(policy: RecurrentNet, data: TrialData) -> torch.Tensor:
    """The Hessian of the mean KL(old ‖ θ) at θ_old, built independently with torch.func."""
    names = [n for n, _ in policy.named_parameters()]
    shapes = [p.shape for p in policy.parameters()]
    theta = flat_parameters(policy)
    with torch.no_grad():
        old = policy(data.observations)[0]

    def kl_of(flat):
        params, offset = {}, 0
        for name, shape in zip(names, shapes):
            n = int(np.prod(shape))
            params[name] = flat[offset : offset + n].view(shape)
            offset += n
        logits = torch.func.functional_call(policy, params, (data.observations,))[0]
        return masked_mean(categorical_kl(old, logits), data.mask)

    return torch.autograd.functional.hessian(kl_of, theta, vectorize=True)


def test_surrogate_gradient_in_chunks_of_trials_is_the_whole_batch_gradient(monkeypatch):
    # the CPU runs the pass two trials at a time here (a padded trial among them); each
    # chunk is weighted by its steps, so the result is the one-pass mean over the batch
    policy, data = small_policy(), random_trials()
    advantages = torch.randn(data.mask.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    monkeypatch.setattr("agents.rl2.policy.CPU_COLUMN_CHUNK", 2)
    gradient, old_logits, old_log_prob, value = surrogate_gradient(policy, data, advantages, entropy_coef=0.1)
    logits = policy(data.observations)[0]
    reference = surrogate(logits, data, old_log_prob, advantages, entropy_coef=0.1)
    expected = torch.cat([g.reshape(-1) for g in torch.autograd.grad(reference, list(policy.parameters()))])
    torch.testing.assert_close(gradient, expected)
    assert value == pytest.approx(reference.item())
    steps = data.mask.bool()
    torch.testing.assert_close(old_logits[steps], logits.detach()[steps])
    taken = torch.log_softmax(logits.detach(), -1).gather(-1, data.actions.unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(old_log_prob[steps], taken[steps])


def test_conjugate_gradient_solves_spd_system():
    g = torch.Generator().manual_seed(0)
    m = torch.randn(20, 20, generator=g, dtype=torch.float64)
    a = m @ m.T + 0.5 * torch.eye(20, dtype=torch.float64)
    b = torch.randn(20, generator=g, dtype=torch.float64)
    solution = torch.linalg.solve(a, b)
    x = conjugate_gradient(lambda v: a @ v, b, iterations=60, residual_tol=1e-26)
    torch.testing.assert_close(x, solution, rtol=1e-9, atol=1e-9)
    # each iteration lowers the error in the A-norm (CG minimises it over a growing space)
    errors = []
    for k in range(1, 15):
        e = conjugate_gradient(lambda v: a @ v, b, iterations=k) - solution
        errors.append(float(e @ a @ e))
    assert all(later < earlier for earlier, later in zip(errors, errors[1:]))


@pytest.fixture(scope="module")
def reference():
    """A small float64 GRU policy, trials with padding, and the exact Hessian of the KL."""
    policy, data = small_policy(), random_trials()
    return policy, data, exact_kl_hessian(policy, data)


@pytest.mark.parametrize("route", ["jacobian", "kl_grad_diff", "exact"])
def test_fisher_vector_product_matches_exact_kl_hessian(route, reference):
    policy, data, hessian = reference
    fvp = FisherVectorProduct(policy, data, route, damping=0.0, fd_eps=1e-5)
    g = torch.Generator().manual_seed(2)
    for _ in range(3):
        v = torch.randn(hessian.shape[0], generator=g, dtype=torch.float64)
        torch.testing.assert_close(fvp(v), hessian @ v, rtol=1e-6, atol=1e-9)
    # damping adds λv
    v = torch.randn(hessian.shape[0], generator=g, dtype=torch.float64)
    damped = FisherVectorProduct(policy, data, route, damping=0.1, fd_eps=1e-5)
    torch.testing.assert_close(damped(v), hessian @ v + 0.1 * v, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("route", ["jacobian", "kl_grad_diff"])
def test_float32_finite_difference_fvp_is_close_to_exact(route, reference):
    """The routes the GPU runs, in float32 with the default step, against float64 exact."""
    _, data, hessian = reference
    policy32 = small_policy(torch.float32)
    data32 = TrialData(
        Observations(data.observations.vector.float(), None, data.observations.lengths),
        data.actions, data.rewards.float(), data.mask.float()
    )
    fvp = FisherVectorProduct(policy32, data32, route, damping=0.0, fd_eps=TRPOConfig.fvp_fd_eps)
    v = torch.randn(hessian.shape[0], generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    exact = hessian @ v
    error = (fvp(v.float()).double() - exact).norm() / exact.norm()
    assert error < 1e-3  # measured: ~4e-5 for both routes


def test_unknown_fvp_route_is_an_error():
    with pytest.raises(ValueError, match="unknown fvp route"):
        FisherVectorProduct(small_policy(), random_trials(), "hessian", 0.0)


def test_gae_runs_through_inner_episode_boundaries_and_stops_at_trial_end():
    # one trial of 2 inner episodes of 2 steps each (the boundary is after step 1),
    # beside a trial of 3 steps with one padding step
    gamma, lam = 0.9, 0.5
    rewards = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0], [0.0, 0.0]])
    values = torch.tensor([[0.5, 0.2], [1.0, 0.3], [0.3, 0.4], [2.0, 9.0]])
    mask = torch.tensor([[1.0, 1.0], [1.0, 1.0], [1.0, 1.0], [1.0, 0.0]])
    a = compute_gae(rewards, values, mask, gamma, lam)
    # by hand, trial 0: δ_t = r_t + γ V_{t+1} - V_t, V_4 = 0 (trial over)
    d = [1 + 0.9 * 1.0 - 0.5, 0 + 0.9 * 0.3 - 1.0, 2 + 0.9 * 2.0 - 0.3, 0 + 0.0 - 2.0]
    gl = gamma * lam
    expected0 = [
        d[0] + gl * d[1] + gl**2 * d[2] + gl**3 * d[3],
        d[1] + gl * d[2] + gl**2 * d[3],  # the inner episode ends here: the sum goes on
        d[2] + gl * d[3],
        d[3],
    ]
    # trial 1 ends at step 2: the padded value 9.0 must not leak in
    e = [0 + 0.9 * 0.3 - 0.2, 1 + 0.9 * 0.4 - 0.3, 1 + 0.0 - 0.4]
    expected1 = [e[0] + gl * e[1] + gl**2 * e[2], e[1] + gl * e[2], e[2], 0.0]
    torch.testing.assert_close(a, torch.tensor([expected0, expected1]).T)


def _batch(num_envs=24, seed=0):
    policy = small_policy(torch.float32, seed)
    collector = TrialCollector("MetaBandit-v0", BANDIT, num_envs, seed, torch.device("cpu"))
    rollout = collector.collect(policy, num_envs * BANDIT["num_episodes"], torch.Generator().manual_seed(seed))
    collector.close()
    return policy, rollout.data


@pytest.mark.parametrize("fvp_subsample", [1.0, 0.5, 0.1])
def test_policy_step_stays_within_kl_bound_on_the_whole_batch_and_improves_surrogate(fvp_subsample):
    # with a subsample the Fisher matrix and the line search's screening see only a few
    # trials; the accepted step must still satisfy the bound on every trial of the batch
    policy, data = _batch()
    advantages = torch.randn(data.actions.shape, generator=torch.Generator().manual_seed(4)) * data.mask
    with torch.no_grad():
        old_logits = policy(data.observations)[0]
    config = TRPOConfig(max_kl=0.005, fvp_subsample=fvp_subsample)
    stats = trpo_step(policy, data, advantages, config, torch.Generator().manual_seed(5))
    with torch.no_grad():
        measured = masked_mean(categorical_kl(old_logits, policy(data.observations)[0]), data.mask).item()
    assert stats.accepted and stats.surrogate_gain > 0
    assert 0 < measured <= config.max_kl
    assert measured == pytest.approx(stats.kl, rel=1e-4)
    assert 1 <= stats.line_search_forwards <= stats.line_search_steps + 1


def test_line_search_screens_overshooting_steps_on_the_subsample():
    # with a large bound the quadratic model is far off and the first candidates
    # overshoot (2 backtracks here): the subsample rejects them without full-batch passes
    policy, data = _batch()
    advantages = torch.randn(data.actions.shape, generator=torch.Generator().manual_seed(4)) * data.mask
    config = TRPOConfig(max_kl=1.0, fvp_subsample=0.5)
    stats = trpo_step(policy, data, advantages, config, torch.Generator().manual_seed(5))
    assert stats.accepted and stats.kl <= config.max_kl and stats.line_search_steps >= 1
    assert stats.line_search_forwards == 1


def test_policy_step_rolls_back_when_nothing_improves():
    policy, data = _batch()
    before = flat_parameters(policy)
    # zero advantages: no step can improve the surrogate
    stats = trpo_step(policy, data, torch.zeros_like(data.rewards), TRPOConfig(line_search_steps=3), torch.Generator())
    assert not stats.accepted and stats.line_search_steps == 3
    torch.testing.assert_close(flat_parameters(policy), before, rtol=0, atol=0)


def test_entropy_bonus_alone_moves_the_policy_towards_uniform():
    policy, data = _batch()
    with torch.no_grad():
        old_logits = policy(data.observations)[0]
    # zero advantages: only the entropy term can improve the objective
    stats = trpo_step(policy, data, torch.zeros_like(data.rewards), TRPOConfig(entropy_coef=0.1), torch.Generator())
    with torch.no_grad():
        new_logits = policy(data.observations)[0]

    def entropy(logits):
        log_p = torch.log_softmax(logits, -1)
        return masked_mean(-(log_p.exp() * log_p).sum(-1), data.mask).item()

    assert stats.accepted and stats.surrogate_gain > 0
    assert entropy(new_logits) > entropy(old_logits)


def test_clipped_objective_has_zero_gradient_outside_the_clip_on_the_advantages_side():
    clip = 0.1
    # ratios 1.3 and 0.7 with the advantage pushing further out: clipped, no gradient;
    # ratios 1.3 with A < 0 and 0.7 with A > 0: the clip does not bind, full gradient;
    # ratio 1.05: inside the clip, full gradient
    ratios = torch.tensor([1.3, 0.7, 1.3, 0.7, 1.05], dtype=torch.float64)
    advantages = torch.tensor([1.0, -1.0, -1.0, 1.0, 2.0], dtype=torch.float64)
    logits = torch.zeros(5, 1, 2, dtype=torch.float64, requires_grad=True)
    actions = torch.zeros(5, 1, dtype=torch.long)
    old_log_prob = (torch.log(torch.tensor(0.5, dtype=torch.float64)) - ratios.log()).unsqueeze(1)
    mask = torch.ones(5, 1, dtype=torch.float64)
    objective, clip_fraction = clipped_surrogate(logits, actions, old_log_prob, advantages.unsqueeze(1), mask, clip)
    objective.backward()
    # d/d logit_0 of ρ·A for a 2-way softmax at p = 0.5: ρ·A·(1 - p), averaged over 5 steps
    expected = ratios * advantages * 0.5 / 5
    expected[:2] = 0.0
    torch.testing.assert_close(logits.grad[:, 0, 0], expected)
    assert clip_fraction.item() == pytest.approx(4 / 5)


def test_ppo_update_improves_the_surrogate_and_stays_near_the_old_policy():
    policy, data = _batch()
    advantages = torch.randn(data.actions.shape, generator=torch.Generator().manual_seed(4)) * data.mask
    with torch.no_grad():
        old_logits = policy(data.observations)[0]
    old_log_prob = torch.log_softmax(old_logits, -1).gather(-1, data.actions.unsqueeze(-1)).squeeze(-1)
    config = PPOConfig(epochs=4, minibatches=3, learning_rate=3e-3, clip_range=0.1)
    metrics = PPORule(policy, config).update(data, advantages, torch.Generator().manual_seed(5))
    with torch.no_grad():
        new_logits = policy(data.observations)[0]
    before, _ = clipped_surrogate(old_logits, data.actions, old_log_prob, advantages, data.mask, 1.0)
    after, _ = clipped_surrogate(new_logits, data.actions, old_log_prob, advantages, data.mask, 1.0)
    assert after > before
    measured = masked_mean(categorical_kl(old_logits, new_logits), data.mask).item()
    assert measured == pytest.approx(metrics["kl"], rel=1e-5)
    assert 0 < measured < 0.05  # the clip keeps 12 Adam steps near the old policy
    assert 0 < metrics["clip_fraction"] < 1


def test_trpo_and_ppo_move_the_policy_the_same_way_on_the_same_batch():
    changes = {}
    rules = {
        "trpo": lambda p, d, a: trpo_step(p, d, a, TRPOConfig(max_kl=0.005), torch.Generator().manual_seed(5)),
        "ppo": lambda p, d, a: PPORule(p, PPOConfig(epochs=2, minibatches=1, learning_rate=1e-3)).update(
            d, a, torch.Generator().manual_seed(5)
        ),
    }
    for name, update in rules.items():
        policy, data = _batch()  # the same policy and trials for both rules
        advantages = torch.randn(data.actions.shape, generator=torch.Generator().manual_seed(4)) * data.mask
        with torch.no_grad():
            before = torch.log_softmax(policy(data.observations)[0], -1)
        update(policy, data, advantages)
        with torch.no_grad():
            after = torch.log_softmax(policy(data.observations)[0], -1)
        taken = (after - before).gather(-1, data.actions.unsqueeze(-1)).squeeze(-1)[data.mask > 0]
        # both make the actions with a positive advantage more likely, on balance
        assert (taken * advantages[data.mask > 0]).sum() > 0
        changes[name] = taken
    cosine = torch.nn.functional.cosine_similarity(changes["trpo"], changes["ppo"], dim=0)
    assert cosine > 0.3, cosine  # 0.54 measured: same direction, not the same geometry


@pytest.mark.parametrize(
    "config, kwargs, message",
    [
        (PPOConfig, {"clip_range": 0.0}, r"clip_range must be in \[1e-06, 1.0\]"),
        (PPOConfig, {"epochs": 0}, "epochs"),
        (TRPOConfig, {"cell": "lstm"}, r"cell must be one of \['gru', 'layernorm_gru'\]"),
        (PPOConfig, {"value_cell": "lstm"}, r"value_cell must be one of \['same', 'gru', 'layernorm_gru'\]"),
        (TRPOConfig, {"update_gate_bias": 50.0}, r"update_gate_bias must be in \[-10.0, 10.0\]"),
    ],
)
def test_configs_reject_out_of_range_values_saying_what_is_allowed(config, kwargs, message):
    with pytest.raises(ValueError, match=message):
        config(**kwargs)


def test_line_search_alone_accepts_the_step_the_trainer_accepts():
    # the line search the fvp_subsample study plays must give the trainer's verdict: same
    # backtrack, same KL and gain on the whole batch (whole-batch Fisher, so no subsample
    # screening differs; the trainer's Fisher sees the trials shuffled, which moves float32
    # CG's step by about 1%)
    policy, data = _batch()
    advantages = torch.randn(data.actions.shape, generator=torch.Generator().manual_seed(4)) * data.mask
    config = TRPOConfig(max_kl=0.005, fvp_subsample=1.0)
    gradient, old_logits, old_log_prob, before_loss = surrogate_gradient(policy, data, advantages, config.entropy_coef)
    step = natural_gradient_step(policy, data, gradient, config)
    before = flat_parameters(policy)
    backtracks, kl, gain, _ = line_search(policy, data, step, old_logits, old_log_prob, advantages, before_loss, config)
    assert not torch.equal(flat_parameters(policy), before)  # left at the accepted step
    assign_flat_parameters_(policy, before)
    stats = trpo_step(policy, data, advantages, config, torch.Generator().manual_seed(5))
    assert stats.accepted and backtracks == stats.line_search_steps
    assert kl == pytest.approx(stats.kl, rel=0.05) and gain == pytest.approx(stats.surrogate_gain, rel=0.05)


def test_line_search_reports_a_rollback_and_leaves_the_policy_as_it_was():
    policy, data = _batch()
    config = TRPOConfig(line_search_steps=3)
    advantages = torch.zeros_like(data.rewards)  # no step can improve the surrogate
    gradient, old_logits, old_log_prob, before_loss = surrogate_gradient(policy, data, advantages)
    step = torch.randn(gradient.shape, generator=torch.Generator().manual_seed(1)) * 1e-3
    before = flat_parameters(policy)
    backtracks, _, gain, forwards = line_search(
        policy, data, step, old_logits, old_log_prob, advantages, before_loss, config
    )
    assert backtracks is None and gain <= 0 and forwards == 3
    torch.testing.assert_close(flat_parameters(policy), before, rtol=0, atol=0)
