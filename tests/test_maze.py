"""MetaMaze-v0 / MetaMazeLarge-v0: checkers, dynamics, partial view, trials, vector env, rendering, errors."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import meta_envs
from meta_envs.maze import FORWARD, TURN_LEFT, TURN_RIGHT, MazeTask, MetaMazeEnv, MetaMazeVectorEnv, save_gif
from meta_envs.maze.generation import HEADING_STEPS
from meta_envs.maze.rendering import AGENT, GOAL, MAP_TILE, VIEW_TILE, WALL

IDS = ["MetaMaze-v0", "MetaMazeLarge-v0"]
STEP, BUMP, GOAL_REWARD = -0.04, -0.041, 0.96


def maze_task(size=5, seed=0):
    return meta_envs.maze.MazeTaskDistribution(size).sample(np.random.default_rng(seed))


def reference_view(task, row, col, heading, view_size):
    """The egocentric window computed independently: rotate the padded grid so the agent faces up."""
    pad = view_size
    walls = np.pad(task.walls, pad, constant_values=True)
    goal = np.zeros_like(walls)
    goal[task.goal[0] + pad, task.goal[1] + pad] = True
    agent = np.zeros_like(walls)
    agent[row + pad, col + pad] = True
    # np.rot90(k=1) turns the grid counter-clockwise: what was east (heading 1) is then up
    walls, goal, agent = (np.rot90(a, heading) for a in (walls, goal, agent))
    (r,), (c,) = np.nonzero(agent)
    window = np.s_[r - view_size + 1 : r + 1, c - view_size // 2 : c + view_size // 2 + 1]
    return np.stack([walls[window], goal[window]]).astype(np.uint8)


# -- registration and checkers ----------------------------------------------------------


@pytest.mark.parametrize("env_id", IDS)
@pytest.mark.parametrize("obs_mode", ["symbolic", "rgb"])
def test_gymnasium_and_sb3_checkers_pass(env_id, obs_mode):
    for render_mode in ("rgb_array", "ansi"):
        env = gym.make(env_id, obs_mode=obs_mode, render_mode=render_mode)
        gym_check_env(env.unwrapped, skip_render_check=False)
    sb3_check_env(gym.make(env_id, obs_mode=obs_mode), warn=True)


def test_ids_sizes_defaults_and_spaces():
    small, large = gym.make("MetaMaze-v0").unwrapped, gym.make("MetaMazeLarge-v0").unwrapped
    assert isinstance(small, MetaMazeEnv) and small.num_episodes == 2 and large.num_episodes == 2
    assert small._trial.dynamics.horizon == 250 and large._trial.dynamics.horizon == 1000
    small.reset(seed=0)
    large.reset(seed=0)
    assert small.task.walls.shape == (11, 11) and large.task.walls.shape == (19, 19)
    assert small.action_space == gym.spaces.Discrete(3)
    obs_space = small.observation_space["obs"]
    assert obs_space.shape == (50,) and obs_space.dtype == np.uint8
    rgb = gym.make("MetaMaze-v0", obs_mode="rgb").observation_space["obs"]
    assert rgb.shape == (40, 40, 3) and rgb.dtype == np.uint8
    assert small.observation_space["prev_reward"].low[0] == np.float32(BUMP)
    assert small.observation_space["prev_reward"].high[0] == np.float32(GOAL_REWARD)
    envs = gym.make_vec("MetaMazeLarge-v0", num_envs=3)
    assert isinstance(envs.unwrapped, MetaMazeVectorEnv)
    envs.reset(seed=0)
    assert envs.unwrapped.task(0).walls.shape == (19, 19)


# -- dynamics and observation -----------------------------------------------------------


def test_walls_block_and_cost_extra_and_turns_follow_the_heading():
    # 3 x 3 cells: a corridor along the top, a dead end down the middle column to the goal
    grid = np.ones((7, 7), bool)
    grid[1, 1:6] = False
    grid[2:6, 3] = False
    task = MazeTask(grid, start=(1, 1), goal=(5, 3), start_heading=0)
    env = MetaMazeEnv(size=3, num_episodes=1)
    env.reset(seed=0, options={"task": task})
    dyn = env.unwrapped._trial.dynamics
    # facing north against the border: forward bumps, stays, costs 0.041
    _, reward, *_ = env.step(FORWARD)
    assert reward == pytest.approx(BUMP) and dyn.agent_state(0) == (1, 1, 0)
    _, reward, *_ = env.step(TURN_LEFT)  # north -> west
    assert reward == pytest.approx(STEP) and dyn.agent_state(0) == (1, 1, 3)
    env.step(TURN_LEFT)  # west -> south
    _, reward, *_ = env.step(FORWARD)  # wall below (2, 1)
    assert reward == pytest.approx(BUMP) and dyn.agent_state(0) == (1, 1, 2)
    env.step(TURN_LEFT)  # south -> east
    for col in (2, 3):
        _, reward, *_ = env.step(FORWARD)
        assert reward == pytest.approx(STEP) and dyn.agent_state(0) == (1, col, 1)
    env.step(TURN_RIGHT)  # east -> south
    for row in (2, 3, 4):
        env.step(FORWARD)
        assert dyn.agent_state(0) == (row, 3, 2)
    _, reward, terminated, _, info = env.step(FORWARD)
    assert reward == pytest.approx(GOAL_REWARD) and terminated and info["episode_done"]
    assert info["episode_returns"].tolist() == pytest.approx([2 * BUMP + 9 * STEP + GOAL_REWARD])


@pytest.mark.parametrize("obs_mode", ["symbolic", "rgb"])
@pytest.mark.parametrize("view_size", [3, 5, 7])
def test_view_matches_an_independent_rotation_of_the_grid(obs_mode, view_size):
    env = MetaMazeEnv(size=5, obs_mode=obs_mode, view_size=view_size, num_episodes=50, horizon=40)
    rng = np.random.default_rng(view_size)
    dyn = env.unwrapped._trial.dynamics
    goal_seen = 0
    for trial in range(5):
        obs, _ = env.reset(seed=view_size + trial)
        # the shortest path passes the goal into view; random steps look around elsewhere
        actions = env.task.shortest_path_actions()[:-1] + rng.integers(0, 3, 60).tolist()
        for action in actions:
            row, col, heading = dyn.agent_state(0)
            expected = reference_view(env.task, row, col, heading, view_size)
            if obs_mode == "symbolic":
                assert np.array_equal(obs["obs"].reshape(2, view_size, view_size), expected)
            else:
                # one pixel per square, near its left edge, where the agent's arrow leaves it free
                centres = obs["obs"][VIEW_TILE // 2 :: VIEW_TILE, 1::VIEW_TILE]
                assert (np.all(centres == WALL, axis=-1) == expected[0].astype(bool)).all()
                assert (np.all(centres == GOAL, axis=-1) == expected[1].astype(bool)).all()
                agent_tile = obs["obs"][-VIEW_TILE:, (view_size // 2) * VIEW_TILE :][:, :VIEW_TILE]
                assert (agent_tile == AGENT).all(axis=-1).sum() > VIEW_TILE
            goal_seen += expected[1].any()
            obs, *_ = env.step(action)
    assert goal_seen >= 5


def test_goal_is_not_visible_from_outside_the_view():
    # 2 x 2 cells: a corridor along the top, then down the right column to the goal
    grid = np.ones((5, 5), bool)
    grid[1, 1:4] = False
    grid[2:4, 3] = False
    task = MazeTask(grid, start=(1, 1), goal=(3, 3), start_heading=1)
    env = MetaMazeEnv(size=2, view_size=3)
    obs, _ = env.reset(seed=0, options={"task": task})
    view = obs["obs"].reshape(2, 3, 3)
    # facing east from (1, 1) the window covers rows 0..2, columns 1..3: the goal (3, 3) is outside
    assert view[1].sum() == 0
    obs, *_ = env.step(FORWARD)  # at (1, 2): window columns 2..4, rows 0..2: still outside
    assert obs["obs"].reshape(2, 3, 3)[1].sum() == 0
    obs, *_ = env.step(FORWARD)  # at (1, 3)
    obs, *_ = env.step(TURN_RIGHT)  # facing south: the window is rows 1..3 ahead of (1, 3)
    view = obs["obs"].reshape(2, 3, 3)
    assert view[1].sum() == 1 and view[1, 0, 1] == 1  # two squares ahead, middle column


def test_goal_ends_the_episode_and_the_next_restarts_at_the_start_in_the_same_maze():
    task = maze_task(seed=3)
    actions = task.shortest_path_actions()
    env = gym.make("MetaMaze-v0", num_episodes=3)
    first_obs, info = env.reset(seed=0, options={"task": task})
    assert info["shortest_path_length"] == task.shortest_path_length
    assert info["optimal_episode_length"] == len(actions)
    dyn = env.unwrapped._trial.dynamics
    start_state = dyn.agent_state(0)
    assert start_state == (*task.start, task.start_heading)
    for episode in range(3):
        for t, action in enumerate(actions):
            obs, reward, terminated, truncated, info = env.step(action)
            last = t == len(actions) - 1
            assert info["episode_done"] == last and not truncated
            assert terminated == (last and episode == 2)
        assert reward == pytest.approx(GOAL_REWARD)
        assert env.unwrapped.task == task
        if episode < 2:
            assert info["episode_index"] == episode + 1 and info["step_in_episode"] == 0
            assert dyn.agent_state(0) == start_state
            assert np.array_equal(obs["obs"], first_obs["obs"])
            assert obs["prev_done"][0] == 1.0
    expected = GOAL_REWARD + STEP * (len(actions) - 1)
    assert info["episode_returns"] == pytest.approx([expected] * 3)


def test_horizon_times_out_an_episode_and_the_trial():
    env = MetaMazeEnv(num_episodes=2, horizon=3)
    env.reset(seed=0)
    dones = []
    for _ in range(6):
        _, reward, terminated, _, info = env.step(TURN_LEFT)
        dones.append((info["episode_done"], terminated))
        assert reward == pytest.approx(STEP)
    assert dones == [(False, False)] * 2 + [(True, False)] + [(False, False)] * 2 + [(True, True)]
    assert info["episode_returns"] == pytest.approx([3 * STEP, 3 * STEP])


def test_reward_kwargs_are_used():
    task = maze_task(seed=1)
    env = MetaMazeEnv(goal_reward=5.0, step_cost=0.5, wall_cost=2.0, num_episodes=1)
    env.reset(seed=0, options={"task": task})
    rewards = [env.step(a)[1] for a in task.shortest_path_actions()]
    assert rewards[-1] == pytest.approx(4.5) and set(rewards[:-1]) == {-0.5}
    assert env.observation_space["prev_reward"].low[0] == -2.5


# -- tasks, seeds, vector env -----------------------------------------------------------


def test_same_seed_same_tasks_whatever_happened_before():
    env = MetaMazeEnv()
    env.reset(seed=5)
    first = env.task
    for _ in range(3):
        env.reset()
        assert env.task != first
    env.reset(seed=5)
    assert env.task == first
    other = MetaMazeEnv()
    other.reset(seed=6)
    assert other.task != first


def test_trajectories_are_deterministic_given_seed_and_actions():
    def run(seed):
        env = MetaMazeEnv(horizon=30)
        obs, _ = env.reset(seed=seed)
        rng = np.random.default_rng(0)
        out = [obs["obs"].copy()]
        for _ in range(200):
            obs, reward, terminated, _, _ = env.step(int(rng.integers(3)))
            out.append((obs["obs"].copy(), reward))
            if terminated:
                obs, _ = env.reset()
        return out

    a, b, c = run(1), run(1), run(2)
    assert all(np.array_equal(x[0], y[0]) and x[1] == y[1] for x, y in zip(a[1:], b[1:]))
    assert not all(np.array_equal(x[0], y[0]) for x, y in zip(a[1:], c[1:]))


def test_single_env_equals_vector_env_with_one_sub_env():
    env = MetaMazeEnv(horizon=20)
    envs = MetaMazeVectorEnv(1, horizon=20)
    obs, info = env.reset(seed=9)
    vobs, vinfo = envs.reset(seed=9)
    rng = np.random.default_rng(0)
    for _ in range(300):
        assert np.array_equal(obs["obs"], vobs["obs"][0])
        assert info["shortest_path_length"] == vinfo["shortest_path_length"][0]
        action = int(rng.integers(3))
        obs, reward, terminated, _, info = env.step(action)
        vobs, vreward, vterminated, _, vinfo = envs.step(np.array([action]))
        assert reward == vreward[0] and terminated == vterminated[0]
        if terminated:
            obs, info = env.reset()
            vobs, vreward, _, _, vinfo = envs.step(np.array([0]))  # next-step autoreset
            assert vreward[0] == 0.0


@pytest.mark.parametrize("obs_mode", ["symbolic", "rgb"])
def test_vector_sub_envs_equal_single_envs_given_the_same_tasks_and_actions(obs_mode):
    n = 6
    tasks = meta_envs.held_out_tasks("MetaMaze-v0", n, seed=4)
    envs = MetaMazeVectorEnv(n, horizon=25, num_episodes=3, obs_mode=obs_mode)
    singles = [MetaMazeEnv(horizon=25, num_episodes=3, obs_mode=obs_mode) for _ in range(n)]
    vobs, vinfo = envs.reset(seed=0, options={"tasks": tasks})
    outs = [env.reset(seed=i, options={"task": task}) for i, (env, task) in enumerate(zip(singles, tasks))]
    rng = np.random.default_rng(1)
    for _ in range(75):  # 3 episodes of at most 25 steps: every trial is over by then
        for i, (obs, info) in enumerate(outs):
            for key in obs:
                assert np.array_equal(obs[key], vobs[key][i]), key
            for key in info:
                assert np.array_equal(info[key], vinfo[key][i]), key
        actions = rng.integers(0, 3, n)
        vobs, vrewards, vterminated, _, vinfo = envs.step(actions)
        steps = [env.step(int(a)) for env, a in zip(singles, actions)]
        outs = [(s[0], s[4]) for s in steps]
        assert [s[1] for s in steps] == vrewards.tolist()
        assert [s[2] for s in steps] == vterminated.tolist()
    assert vterminated.all()


def test_vector_env_draws_valid_distinct_mazes_and_reports_path_lengths():
    envs = gym.make_vec("MetaMaze-v0", num_envs=64, horizon=5, num_episodes=1)
    _, info = envs.reset(seed=0)
    first = envs.unwrapped.tasks
    assert len(set(first)) == 64
    assert info["shortest_path_length"].tolist() == [t.shortest_path_length for t in first]
    assert info["optimal_episode_length"].tolist() == [len(t.shortest_path_actions()) for t in first]
    for _ in range(6):  # every trial ends after 5 steps, the 6th step starts new ones
        _, _, _, _, info = envs.step(np.zeros(64, np.int64))
    second = envs.unwrapped.tasks
    assert not set(first) & set(second)
    assert info["shortest_path_length"].tolist() == [t.shortest_path_length for t in second]


def test_same_step_autoreset_returns_the_final_view_and_the_new_maze():
    envs = MetaMazeVectorEnv(4, horizon=2, num_episodes=1, autoreset_mode="SameStep")
    envs.reset(seed=0)
    old = envs.tasks
    envs.step(np.zeros(4, np.int64))
    dyn = envs._trial.dynamics
    views_before = dyn.state_obs()
    positions = [dyn.agent_state(i) for i in range(4)]
    obs, _, terminated, _, info = envs.step(np.full(4, TURN_LEFT))
    assert terminated.all() and info["_final_obs"].all()
    for i, (row, col, heading) in enumerate(positions):
        expected = reference_view(old[i], row, col, (heading - 1) % 4, 5)
        assert np.array_equal(info["final_obs"]["obs"][i].reshape(2, 5, 5), expected)
    assert not np.array_equal(info["final_obs"]["obs"], views_before), "the last action turned every agent"
    new = envs.tasks
    assert all(a != b for a, b in zip(old, new))
    assert info["shortest_path_length"].tolist() == [t.shortest_path_length for t in new]
    assert obs["prev_action"].sum() == 0  # the first observation of the new trials


def test_task_round_trip_and_reset_with_a_task():
    task = maze_task(size=4, seed=2)
    again = MazeTask.from_dict(task.to_dict())
    assert again == task and hash(again) == hash(task)
    env = MetaMazeEnv(size=4)
    env.reset(seed=0, options={"task": again})
    assert env.task == task


# -- rendering -------------------------------------------------------------------------


def test_rgb_array_render_shows_agent_goal_and_visited_squares():
    task = maze_task(seed=5)
    env = gym.make("MetaMaze-v0", render_mode="rgb_array")
    env.reset(seed=0, options={"task": task})
    actions = task.shortest_path_actions()
    for action in actions[:-1]:
        env.step(action)
    image = env.render()
    assert image.shape == (11 * MAP_TILE, 11 * MAP_TILE, 3) and image.dtype == np.uint8
    row, col, heading = env.unwrapped._trial.dynamics.agent_state(0)
    tile = image[row * MAP_TILE : (row + 1) * MAP_TILE, col * MAP_TILE : (col + 1) * MAP_TILE]
    assert (tile == AGENT).all(axis=-1).sum() > MAP_TILE
    # the arrow points where the agent faces: narrow (its tip) on that side, wide (its base) behind
    ys, xs = np.nonzero((tile == AGENT).all(axis=-1))
    d_row, d_col = HEADING_STEPS[heading]
    ahead = ys * d_row + xs * d_col
    assert (ahead == ahead.max()).sum() < (ahead == ahead.min()).sum()
    goal_tile = image[task.goal[0] * MAP_TILE + 2 : (task.goal[0] + 1) * MAP_TILE - 2,
                      task.goal[1] * MAP_TILE + 2 : (task.goal[1] + 1) * MAP_TILE - 2]
    assert (goal_tile == GOAL).all()
    wall = np.argwhere(task.walls)[0]
    assert (image[wall[0] * MAP_TILE + 8, wall[1] * MAP_TILE + 8] == WALL).all()
    visited = {tuple(s) for s in np.argwhere(~task.walls)} - {tuple(task.start), tuple(task.goal), (row, col)}
    on_path = [s for s in visited if s in {(r, c) for _, r, c in env.unwrapped._trace}]
    assert on_path, "the path walked is drawn as visited"
    r, c = on_path[0]
    assert not (image[r * MAP_TILE + 8, c * MAP_TILE + 8] == np.array(meta_envs.maze.rendering.FREE)).all()


def test_ansi_render_draws_the_maze_as_text():
    task = maze_task(seed=6)
    env = gym.make("MetaMaze-v0", render_mode="ansi")
    env.reset(seed=0, options={"task": task})
    text = env.render()
    lines = text.splitlines()
    assert lines[0].startswith("episode 0/2, step 0")
    grid = lines[1:12]
    assert all(len(line) == 11 for line in grid)
    row, col, heading = env.unwrapped._trial.dynamics.agent_state(0)
    assert grid[row][col] == "^>v<"[heading] and grid[task.goal[0]][task.goal[1]] == "G"
    assert sum(line.count("#") for line in grid) == task.walls.sum()
    assert f"shortest path {task.shortest_path_length} moves" in text


def test_trial_frames_are_collected_and_written_to_a_gif(tmp_path):
    from PIL import Image

    env = gym.wrappers.RenderCollection(gym.make("MetaMaze-v0", render_mode="rgb_array", horizon=10))
    env.reset(seed=0)
    terminated = False
    while not terminated:
        _, _, terminated, _, _ = env.step(env.action_space.sample())
    frames = env.render()
    assert len(frames) == 21  # the reset frame and one per step of 2 x 10 steps
    path = save_gif(frames, tmp_path / "trial.gif", fps=10)
    with Image.open(path) as gif:
        # Pillow merges identical consecutive frames (e.g. a bump into a wall) into one
        assert 1 < gif.n_frames <= 21 and gif.size == (11 * MAP_TILE, 11 * MAP_TILE)
    with pytest.raises(ValueError, match="no frames"):
        save_gif([], tmp_path / "empty.gif")


# -- errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"size": 1}, ValueError, "size must be an integer >= 2"),
        ({"size": 5.0}, TypeError, "size must be an integer"),
        ({"horizon": 0}, ValueError, "horizon must be an integer >= 1"),
        ({"num_episodes": 0}, ValueError, "num_episodes must be an integer >= 1"),
        ({"obs_mode": "pixels"}, ValueError, r"obs_mode must be one of \['symbolic', 'rgb'\]"),
        ({"view_size": 4}, ValueError, "view_size must be odd"),
        ({"view_size": 1}, ValueError, "view_size must be an integer >= 3"),
        ({"step_cost": -0.1}, ValueError, "step_cost must be in"),
        ({"wall_cost": float("nan")}, ValueError, r"wall_cost must be in \[0.0, inf\], got nan"),
        ({"goal_reward": float("inf")}, ValueError, "goal_reward must be finite"),
        ({"goal_reward": "1"}, TypeError, "goal_reward must be a real number"),
        ({"render_mode": "human"}, ValueError, "render_mode must be None or one of"),
    ],
)
def test_bad_kwargs_are_rejected(kwargs, error, match):
    with pytest.raises(error, match=match):
        MetaMazeEnv(**kwargs)
    if "render_mode" not in kwargs:
        with pytest.raises(error, match=match):
            gym.make_vec("MetaMaze-v0", num_envs=2, **kwargs)


@pytest.mark.parametrize("action", [3, -1, 1.0, "0"])
def test_bad_actions_are_rejected(action):
    env = MetaMazeEnv()
    env.reset(seed=0)
    with pytest.raises((TypeError, ValueError), match=r"action must be an integer in \[0, 3\)"):
        env.step(action)
    envs = MetaMazeVectorEnv(2)
    envs.reset(seed=0)
    with pytest.raises((TypeError, ValueError), match=r"actions must"):
        envs.step(np.array([0, action]) if not isinstance(action, str) else np.array(["0", "0"]))


def valid_grid():
    grid = np.ones((5, 5), bool)
    grid[1, 1:4] = False
    grid[2:4, 3] = False
    return grid


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda g, t: t.update(walls=np.ones((5, 5, 2), bool)), "2-D grid of at least 3 x 3"),
        (lambda g, t: t.update(walls=np.ones((2, 5), bool)), "2-D grid of at least 3 x 3"),
        (lambda g, t: g.__setitem__((0, 2), False), "outer border"),
        (lambda g, t: g.__setitem__((3, 1), False), "disconnected: 1 free squares"),
        (lambda g, t: t.update(goal=(2, 2)), r"goal \(2, 2\) is inside a wall"),
        (lambda g, t: t.update(start=(0, 0)), r"start \(0, 0\) is inside a wall"),
        (lambda g, t: t.update(goal=(7, 1)), "outside the"),
        (lambda g, t: t.update(goal=(1, 1, 1)), "must be a \\(row, column\\) pair"),
        (lambda g, t: t.update(goal=(1, 1)), "start and goal must differ"),
        (lambda g, t: t.update(start_heading=4), "start_heading must be an integer >= 0 and <= 3"),
    ],
)
def test_malformed_tasks_are_rejected(change, match):
    grid = valid_grid()
    fields = {"walls": grid, "start": (1, 1), "goal": (3, 3), "start_heading": 1}
    change(grid, fields)
    with pytest.raises(ValueError, match=match):
        MazeTask(**fields)


def test_a_task_of_another_size_is_rejected():
    env = MetaMazeEnv(size=5)
    with pytest.raises(ValueError, match=r"task walls have shape \(9, 9\) but the env has size=5"):
        env.reset(options={"task": maze_task(size=4)})
    with pytest.raises(TypeError, match="task must be a MazeTask"):
        env.reset(options={"task": meta_envs.BanditTask([0.1, 0.2])})
