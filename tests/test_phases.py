from __future__ import annotations

import pytest

from ganforge.core.build import build_color_space
from ganforge.core.config import PhaseConfig, Recipe, TrainConfig
from ganforge.core.errors import RecipeError, UsageError
from ganforge.training.phases import build_adversaries, plan_phases, scale_steps


def plan(phases, adversaries=None, color_space="lab", max_steps=None):
    recipe = Recipe(
        color_space=color_space,
        adversaries=adversaries or {},
        phases=[PhaseConfig(**p) for p in phases],
        train=TrainConfig(max_steps=max_steps),
    )
    slots = build_adversaries(recipe, build_color_space(recipe))
    return plan_phases(recipe, slots), slots


PATCH_A = {"a": {"name": "patchgan", "channels": ["a"], "width": 8}}


def test_scale_steps_keeps_proportions_and_total():
    assert scale_steps([300, 700], None) == [300, 700]
    assert scale_steps([300, 700], 5000) == [300, 700]
    assert scale_steps([300, 700], 10) == [3, 7]
    assert scale_steps([1, 1000], 4) == [1, 3]
    assert sum(scale_steps([7, 13, 29], 11)) == 11
    with pytest.raises(RecipeError, match="fewer than the recipe's 3 phases"):
        scale_steps([5, 5, 5], 2)


def test_phases_are_laid_end_to_end_with_their_losses():
    phases, slots = plan(
        [
            {"name": "pre", "steps": 10, "losses": {"l1": 1.0}},
            {"name": "gan", "steps": 30, "train": ["generator", "a"], "losses": {"l1": {"weight": 50}, "hinge": 1.0}},
        ],
        PATCH_A,
        max_steps=8,
    )
    assert [(p.name, p.start, p.steps) for p in phases] == [("pre", 0, 2), ("gan", 2, 6)]
    assert [w.name for w in phases[1].generator_losses] == ["l1"] and phases[1].generator_losses[0].weight == 50
    assert [w.name for w in phases[1].adversarial_losses] == ["hinge"]
    assert phases[1].trained_adversaries == ["a"]
    assert slots["a"].channels == [0] and slots["a"].network.body[0].in_channels == 2


def test_per_channel_rgb_adversaries_see_only_their_channel():
    _, slots = plan(
        [{"name": "p", "steps": 1, "losses": {"l1": 1.0}}],
        {c: {"name": "patchgan", "channels": [c], "width": 8} for c in "rgb"},
        color_space="rgb",
    )
    assert [slots[c].channels for c in "rgb"] == [[0], [1], [2]]


@pytest.mark.parametrize(
    ("phases", "adversaries", "message"),
    [
        ([], None, r"recipe key 'phases' is empty"),
        (
            [{"name": "p", "steps": 5, "train": []}],
            None,
            r"recipe key 'phases.0.train' is empty: phase 'p' trains nothing",
        ),
        (
            [{"name": "p", "steps": 5, "losses": {"nonsaturating": 1.0}}],
            None,
            r"recipe key 'phases.0.losses.nonsaturating' needs an adversary but the recipe has none",
        ),
        (
            [{"name": "p", "steps": 5, "train": ["generator", "b"], "losses": {"hinge": 1.0}}],
            PATCH_A,
            r"recipe key 'phases.0.train' names 'b'; known networks: generator, a",
        ),
        (
            [{"name": "p", "steps": 5, "train": ["a"], "losses": {"l1": 1.0}}],
            PATCH_A,
            r"trains adversary 'a' but the phase has no adversarial loss",
        ),
        ([{"name": "p", "steps": 5, "losses": {}}], None, r"recipe key 'phases.0.losses' is empty"),
        ([{"name": "p", "steps": 0, "losses": {"l1": 1}}], None, r"recipe key 'phases.0.steps' must be at least 1"),
        (
            [{"name": "p", "steps": 5, "losses": {"l3": 1}}],
            None,
            r"recipe key 'phases.0.losses.l3': unknown loss 'l3': did you mean 'l2', 'l1'",
        ),
        (
            [{"name": "p", "steps": 5, "losses": {"l1": "heavy"}}],
            None,
            r"recipe key 'phases.0.losses.l1' expects a weight",
        ),
    ],
)
def test_recipes_that_cannot_train_fail_before_training(phases, adversaries, message):
    with pytest.raises(RecipeError, match=message):
        plan(phases, adversaries)


def test_unknown_adversary_channel_names_the_key():
    with pytest.raises(
        UsageError,
        match=r"recipe key 'adversaries.x.channels': unknown channel\(s\) 'g'; color space 'lab' has channels a, b",
    ):
        plan([{"name": "p", "steps": 1, "losses": {"l1": 1}}], {"x": {"name": "patchgan", "channels": ["g"]}})


@pytest.mark.parametrize(
    ("decay", "factors"),
    [("constant", [1.0, 1.0, 1.0, 1.0]), ("linear", [1.0, 0.75, 0.5, 0.25]), ("cosine", [1.0, 0.8536, 0.5, 0.1464])],
)
def test_lr_decay_scales_every_rate_within_its_phase(decay, factors):
    phases, _ = plan(
        [
            {"name": "warm", "steps": 2, "losses": {"l1": 1.0}},
            {"name": "anneal", "steps": 4, "lr_decay": decay, "losses": {"l1": 1.0}},
        ]
    )
    assert phases[0].lr_factor(1) == 1.0
    assert [round(phases[1].lr_factor(step), 4) for step in range(2, 6)] == factors


def test_unknown_lr_decay_names_the_key():
    with pytest.raises(RecipeError, match=r"phases\.0\.lr_decay' must be one of constant, linear, cosine, got 'exp'"):
        plan([{"name": "p", "steps": 1, "lr_decay": "exp", "losses": {"l1": 1.0}}])


def test_parameter_groups_come_in_the_same_order_in_every_process():
    """A resumed run reloads the optimizer by group position, so equal-length prefixes must not follow set order."""
    import subprocess
    import sys

    script = (
        "import torch; from ganforge.training.phases import Phase, generator_parameter_groups\n"
        "net = torch.nn.Sequential(*[torch.nn.Linear(1, 1) for _ in range(6)])\n"
        "phase = Phase('p', 0, 1, 'colorize', ['generator'], [], [], {str(i): 0.0 for i in range(6)})\n"
        "print([g['prefix'] for g in generator_parameter_groups(net, [phase])])"
    )
    orders = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={"PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in (0, 1)
    }
    assert orders == {"['0', '1', '2', '3', '4', '5']\n"}
