"""agents.evaluation.palette: level lines drawn in their method's colour, the paper's dotted."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from agents.evaluation.palette import draw_levels, method_style


def test_levels_are_dashed_in_their_methods_colour_and_the_papers_dotted():
    fig, ax = plt.subplots()
    draw_levels(ax, {"random": 49.95, "gittins": 85.78, "paper rl2": 84.9})
    lines = {line.get_label(): line for line in ax.get_lines()}
    plt.close(fig)
    assert sorted(lines) == ["gittins 85.78", "paper RL² 84.9", "random 49.95"]
    assert lines["gittins 85.78"].get_linestyle() == "--" and lines["gittins 85.78"].get_color() == method_style("gittins").color
    paper = lines["paper RL² 84.9"]
    assert paper.get_linestyle() == ":" and paper.get_color() == method_style("rl2").color
    assert list(paper.get_ydata()) == [84.9, 84.9]
