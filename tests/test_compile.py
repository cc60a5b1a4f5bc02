"""--compile: the compiled update functions compute what the eager ones do, and a compiled run trains, logs, saves,
evaluates and resumes. On the CPU (CI); the CUDA-graph half of the flag needs a GPU and is not covered here."""

import copy
import importlib

import numpy as np
import pytest
import torch

from tests.helpers import assert_ok, load_checkpoint, run_script, scalars, the_run_dir
from tests.test_scripts import SCRIPTS, schedule, updates_in

# Inductor fuses and reorders float32 arithmetic, so compiled and eager agree to rounding, not bit for bit.
TOLERANCE = dict(rtol=1e-4, atol=1e-5)
STEPS = 3  # update cycles on the same batch: the optimizers' state (Adam's moments) takes part from the second on


def ddpg_cycle(m, updates, nets):
    actor, critic, target_actor, target_critic, actor_opt, critic_opt, batch = nets
    update_critic, update_actor, polyak = updates
    qf_loss, q_mean = update_critic(critic, critic_opt, target_actor, target_critic, batch, 0.99)
    actor_loss = update_actor(actor, actor_opt, critic, batch[0])
    polyak(target_actor, actor, 0.005)
    polyak(target_critic, critic, 0.005)
    return [qf_loss, q_mean, actor_loss]


def ddpg_nets(m):
    actor, critic = m.Actor(3, np.full(2, -2.0), np.full(2, 2.0)), m.Critic(3, 2)
    batch = (
        torch.randn(64, 3),
        torch.rand(64, 2) * 4 - 2,
        torch.randn(64),
        torch.randn(64, 3),
        (torch.rand(64) < 0.2).float(),
    )
    return [
        actor,
        critic,
        copy.deepcopy(actor).requires_grad_(False),
        copy.deepcopy(critic).requires_grad_(False),
        torch.optim.Adam(actor.parameters(), lr=1e-3, fused=True),
        torch.optim.Adam(critic.parameters(), lr=1e-3, fused=True),
        batch,
    ]


def sac_cycle(m, updates, nets):
    actor, critic, target_critic, log_alpha, actor_opt, critic_opt, alpha_opt, batch = nets
    update_critic, update_actor, update_alpha, polyak = updates
    alpha = log_alpha.detach().exp()
    qf_losses, q_means = update_critic(critic, critic_opt, actor, target_critic, batch, alpha, 0.99)
    polyak(target_critic, critic, 0.005)
    actor_loss, log_prob = update_actor(actor, actor_opt, critic, batch[0], alpha)
    alpha_loss = update_alpha(log_alpha, alpha_opt, log_prob, -2.0)
    return [qf_losses, q_means, actor_loss, log_prob, alpha_loss, log_alpha.detach().clone()]


def sac_nets(m):
    actor, critic = m.Actor(3, np.full(2, -2.0), np.full(2, 2.0)), m.TwinCritic(3, 2)
    log_alpha = torch.zeros(1, requires_grad=True)
    batch = (
        torch.randn(64, 3),
        torch.rand(64, 2) * 4 - 2,
        torch.randn(64),
        torch.randn(64, 3),
        (torch.rand(64) < 0.2).float(),
    )
    return [
        actor,
        critic,
        copy.deepcopy(critic).requires_grad_(False),
        log_alpha,
        torch.optim.Adam(actor.parameters(), lr=1e-3, fused=True),
        torch.optim.Adam(critic.parameters(), lr=1e-3, fused=True),
        torch.optim.Adam([log_alpha], lr=1e-3),
        batch,
    ]


def dqn_cycle(m, updates, nets):
    q_network, target_network, optimizer, batch = nets
    update_q, update_target = updates
    loss, q_mean = update_q(q_network, optimizer, target_network, batch, 0.99, True, "huber")
    update_target(target_network, q_network, 0.5)
    return [loss, q_mean]


def dqn_nets(m):
    q_network = m.QNetwork(4, 3)
    batch = (
        torch.randn(64, 4),
        torch.randint(3, (64,)),
        torch.randn(64),
        torch.randn(64, 4),
        (torch.rand(64) < 0.2).float(),
    )
    return [
        q_network,
        copy.deepcopy(q_network).requires_grad_(False),
        torch.optim.Adam(q_network.parameters(), lr=1e-3, fused=True),
        batch,
    ]


UPDATES = {  # what train() compiles with --compile, in the order the cycles below take them
    "ddpg_continuous.py": ["update_critic", "update_actor", "polyak_update"],
    "sac_continuous.py": ["update_critic", "update_actor", "update_alpha", "polyak_update"],
    "dqn_discrete.py": ["update_q", "update_target"],
}
CASES = {
    "ddpg_continuous.py": (ddpg_nets, ddpg_cycle),
    "sac_continuous.py": (sac_nets, sac_cycle),
    "dqn_discrete.py": (dqn_nets, dqn_cycle),
}


@pytest.mark.slow
@pytest.mark.parametrize("script", list(CASES))
@torch._inductor.config.patch(fallback_random=True)  # SAC's sampling: the random numbers eager mode draws
def test_compiled_updates_give_the_eager_losses_and_weights(script):
    m = importlib.import_module(script.removesuffix(".py"))
    make_nets, cycle = CASES[script]
    torch.manual_seed(0)
    nets = make_nets(m)
    eager_updates = [getattr(m, name) for name in UPDATES[script]]
    compiled_updates = [torch.compile(update) for update in eager_updates]
    outcomes = []
    for updates in (eager_updates, compiled_updates):
        copies = copy.deepcopy(nets)
        torch.manual_seed(1)
        losses = [cycle(m, updates, copies) for _ in range(STEPS)]
        weights = [p.detach() for net in copies if isinstance(net, torch.nn.Module) for p in net.parameters()]
        outcomes.append((losses, weights))
    (eager_losses, eager_weights), (compiled_losses, compiled_weights) = outcomes
    for step, (eager, compiled) in enumerate(zip(eager_losses, compiled_losses)):
        for a, b in zip(eager, compiled):
            torch.testing.assert_close(b, a, **TOLERANCE, msg=f"cycle {step}")
    for a, b in zip(eager_weights, compiled_weights):
        torch.testing.assert_close(b, a, **TOLERANCE)
    assert any(
        not torch.equal(a, b)
        for a, b in zip(
            eager_weights, [p.detach() for net in nets if isinstance(net, torch.nn.Module) for p in net.parameters()]
        )
    ), "the updates changed nothing"


@pytest.mark.slow
@pytest.mark.parametrize("script", list(SCRIPTS))
def test_compiled_run_trains_logs_saves_and_resumes(script, tmp_path):
    args = [
        "--env-id",
        SCRIPTS[script]["env_id"],
        "--compile",
        "--total-timesteps",
        "400",
        "--learning-starts",
        "200",
        "--batch-size",
        "32",
        "--log-frequency",
        "100",
        "--eval-episodes",
        "1",
        "--save-buffer",
        *schedule(script),
    ]
    # inductor writes the kernels it compiles here: a run that compiled nothing leaves the folder empty
    cache = {"TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor")}
    assert_ok(run_script(script, *args, runs_dir=tmp_path / "runs", env=cache))
    kernels = list((tmp_path / "inductor").rglob("*.so"))
    assert len(kernels) >= len(UPDATES[script]), "nothing was compiled"
    run_dir = the_run_dir(tmp_path / "runs")
    updates = load_checkpoint(run_dir)["num_updates"]
    assert updates == updates_in(script, 200, 400)
    loss = scalars(run_dir)[SCRIPTS[script]["loss_tag"]]
    assert [step for step, _ in loss] == [200, 300, 400] and all(np.isfinite(v) for _, v in loss)
    resumed = run_script(
        script,
        "--resume",
        str(run_dir / "checkpoint.pt"),
        "--total-timesteps",
        "500",
        runs_dir=tmp_path / "runs",
        env=cache,
    )  # the same cache: the resumed run compiles the same graphs
    assert_ok(resumed)
    checkpoint = load_checkpoint(run_dir)
    assert checkpoint["args"]["compile"] and checkpoint["global_step"] == 500
    assert checkpoint["num_updates"] == updates + updates_in(script, 401, 500)
    assert "final evaluation return" in resumed.stdout
