"""The plumbing below each script's banner is one text carried by all three scripts, apart from one section marked as
specific to the algorithm (its flags' ranges, the action spaces it takes, how it acts in evaluation). A fix made in one
copy and not in the others fails here, naming the lines that differ."""

import difflib

import pytest

from tests.helpers import REPO

SCRIPTS = {"ddpg_continuous.py": "DDPG", "sac_continuous.py": "SAC", "dqn_discrete.py": "DQN"}
BANNER = "# The algorithm is complete above."
START, END = "# ---- Specific to ", "# ---- End of the part specific to "


def plumbing(script: str) -> tuple[str, str]:
    """(the shared text below the banner, the section specific to the algorithm), read off the script."""
    text = (REPO / script).read_text()
    below = text[text.index(BANNER) :]
    start = below.index(START)
    end = below.index("\n", below.index(END)) + 1
    return below[:start] + below[end:], below[start:end]


@pytest.mark.parametrize("script", list(SCRIPTS)[1:])
def test_the_plumbing_is_the_same_text_as_ddpgs(script):
    ddpg, other = plumbing("ddpg_continuous.py")[0], plumbing(script)[0]
    diff = list(
        difflib.unified_diff(ddpg.splitlines(), other.splitlines(), "ddpg_continuous.py", script, lineterm="", n=0)
    )
    assert not diff, "make the same change in all three scripts' plumbing:\n" + "\n".join(diff[:40])


@pytest.mark.parametrize("script,algo", list(SCRIPTS.items()))
def test_the_part_specific_to_the_algorithm_is_one_short_marked_section(script, algo):
    text = (REPO / script).read_text()
    assert text.count(START) == text.count(END) == 1
    specific = plumbing(script)[1]
    assert specific.startswith(f"{START}{algo}:") and f"{END}{algo} " in specific
    assert len(specific.splitlines()) <= 70  # formatted as ruff writes it
