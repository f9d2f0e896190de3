"""The README's "Your own agent" section runs as written, and its number is the code's."""

import re
from pathlib import Path

from agents.benchmark.scoring import load_factory
from agents.evaluation import check_agent, evaluate

README = Path(__file__).resolve().parents[1] / "README.md"


def section_code(language):
    """The ``language`` code blocks of the README's "Your own agent" section, in order."""
    text = README.read_text()
    section = text[text.index("## Your own agent\n"):]
    section = section[: section.index("\n## ", 1)]
    return re.findall(rf"```{language}\n(.*?)```", section, re.S)


def test_the_readme_agent_loads_from_a_file_and_scores_what_the_readme_says(tmp_path):
    agent_code, _ = section_code("python")
    (tmp_path / "greedy_agent.py").write_text(agent_code)
    (command,) = section_code("bash")
    assert "--agent greedy_agent.py:make_agent --cell k=5,n=10" in command
    agent = check_agent(load_factory(f"{tmp_path / 'greedy_agent.py'}:make_agent")("MetaBandit-v0", {}, 0))
    result = evaluate(agent, "MetaBandit-v0", {"num_arms": 5, "num_episodes": 10}, num_tasks=1000, seed=0)
    assert f"It scores {result.mean:.2f} ± {result.ci95:.2f} on the k=5, n=10 cell" in README.read_text()


def test_the_readme_drives_a_pretrained_agent_on_a_single_env():
    _, single_env_code = section_code("python")
    namespace = {}
    exec(compile(single_env_code, "README single-env example", "exec"), namespace)
    assert namespace["terminated"] and namespace["info"]["episode_index"] == 10
    returns = namespace["info"]["episode_returns"]
    assert returns.shape == (10,) and set(returns.tolist()) <= {0.0, 1.0}
