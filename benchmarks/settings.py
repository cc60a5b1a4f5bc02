"""CleanRL's settings as flags of our scripts, whose defaults are instead the fast ones for their default env; and
the --help format every benchmark script shares.

CleanRL's values at commit fe8d8a03 (its Args dataclasses) for every setting both sides have, except the budget
(`--total-timesteps`, `--learning-starts`), which each benchmark gives. speed.py runs both sides with them; grid.py
pins them for the published rows measured with them; README.md shows the same command lines (a test checks).
"""

import argparse

CLEANRL = {
    "ddpg": {
        "learning-rate": "3e-4",
        "gamma": "0.99",
        "tau": "0.005",
        "batch-size": "256",
        "buffer-size": "1000000",
        "hidden-sizes": "256 256",
        "exploration-noise": "0.1",
        "policy-frequency": "2",
    },
    "sac": {
        "policy-lr": "3e-4",
        "q-lr": "1e-3",
        "gamma": "0.99",
        "tau": "0.005",
        "batch-size": "256",
        "buffer-size": "1000000",
        "hidden-sizes": "256 256",
        "policy-frequency": "2",
    },
    "dqn": {
        "learning-rate": "2.5e-4",
        "gamma": "0.99",
        "tau": "1.0",
        "target-network-frequency": "500",
        "batch-size": "128",
        "buffer-size": "10000",
        "hidden-sizes": "120 84",
        "start-e": "1.0",
        "end-e": "0.05",
        "exploration-fraction": "0.5",
        "train-frequency": "10",
        "gradient-steps": "1",
        "loss": "mse",
        "no-anneal-lr": "",  # CleanRL's DQN learns at a constant rate
        "no-double-dqn": "",
    },  # a flag without a value; Acrobot-v1's preset would otherwise turn double DQN on
}


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """--help shows the script's docstring as written, and every flag's default."""


def flags(algo: str, **changes: str) -> list[str]:
    """CleanRL's settings for `algo` as command-line flags, with `changes` (policy_frequency="1") made."""
    settings = {**CLEANRL[algo], **{name.replace("_", "-"): value for name, value in changes.items()}}
    return [part for name, value in settings.items() for part in [f"--{name}", *value.split()]]
