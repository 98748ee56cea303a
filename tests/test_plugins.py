from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch

import ganforge
from ganforge import hookimpl
from ganforge.core.errors import PluginLoadError
from ganforge.core.plugins import PluginManager, get_registries
from ganforge.inference.checkpoint import read_checkpoint

from .conftest import write_distribution


def test_builtin_color_spaces_arrive_through_the_entry_point():
    color_spaces = get_registries().color_spaces
    assert {"lab", "rgb"} <= set(color_spaces)
    origin = color_spaces.get("lab").origin
    assert origin.distribution.startswith("ganforge ")
    assert origin.module == "ganforge_plugins.colorspaces"


def test_a_plugin_that_fails_to_import_is_left_out_naming_plugin_and_distribution(tmp_path, monkeypatch, caplog):
    write_distribution(tmp_path, "broken-plugin", "broken_mod", "import does_not_exist_anywhere\n", "broken")
    monkeypatch.syspath_prepend(str(tmp_path))
    manager = PluginManager()
    manager.load_entry_points()
    [message] = manager.load_errors
    assert "plugin 'broken' (broken_mod) from distribution broken-plugin 0.3 failed to import" in message
    assert "ModuleNotFoundError" in message and "\n" not in message
    assert [r.getMessage() for r in caplog.records] == [f"ganforge: warning: {message}"]
    assert "lab" in manager.registries.color_spaces  # every other plugin still registered
    with pytest.raises(
        KeyError,
        match=r"unknown generator 'cnn_from_broken'.*may come from a plugin that failed to load: plugin 'broken'",
    ):
        manager.registries.generators.get("cnn_from_broken")


def test_a_broken_plugin_does_not_break_commands_that_do_not_need_it(tmp_path):
    write_distribution(tmp_path, "broken-plugin", "broken_mod", "raise RuntimeError('half installed')\n", "broken")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    help_run = subprocess.run([sys.executable, "-m", "ganforge", "--help"], env=env, capture_output=True, text=True)
    assert (
        help_run.returncode == 0 and "usage: ganforge" in help_run.stdout and help_run.stderr == ""
    )  # not even imported
    listing = subprocess.run([sys.executable, "-m", "ganforge", "plugins"], env=env, capture_output=True, text=True)
    assert listing.returncode == 0 and "unet" in listing.stdout
    assert listing.stderr.splitlines() == [
        "ganforge: warning: plugin 'broken' (broken_mod) from distribution broken-plugin 0.3 failed to import: "
        "RuntimeError: half installed; fix or uninstall that distribution"
    ]


def test_plugin_that_fails_while_registering_is_named():
    plugin = types.ModuleType("raising_plugin")

    @hookimpl
    def ganforge_register(registries):
        raise RuntimeError("boom")

    plugin.ganforge_register = ganforge_register
    with pytest.raises(
        PluginLoadError, match="plugin 'raiser' from dist-x failed while registering components: RuntimeError: boom"
    ):
        PluginManager().add_plugin(plugin, name="raiser", distribution="dist-x")


def test_hookimpl_with_a_misspelt_argument_is_rejected_with_the_plugin_name():
    plugin = types.ModuleType("typo_plugin")

    @hookimpl
    def ganforge_register(registry):  # the hook's argument is "registries"
        pass

    plugin.ganforge_register = ganforge_register
    with pytest.raises(PluginLoadError, match="plugin 'typo' from dist-y is invalid"):
        PluginManager().add_plugin(plugin, name="typo", distribution="dist-y")


def test_two_plugins_registering_one_name_fail_naming_both(tmp_path):
    def plugin_named(name: str) -> types.ModuleType:
        plugin = types.ModuleType(name)

        @hookimpl
        def ganforge_register(registries):
            registries.losses.add("l1", lambda: None)

        plugin.ganforge_register = ganforge_register
        return plugin

    manager = PluginManager()
    manager.add_plugin(plugin_named("alpha_mod"), name="alpha", distribution="alpha-dist 1")
    with pytest.raises(Exception) as info:
        manager.add_plugin(plugin_named("beta_mod"), name="beta", distribution="beta-dist 2")
    assert "alpha-dist 1 (alpha_mod)" in str(info.value) and "beta-dist 2 (beta_mod)" in str(info.value)


THIRD_PARTY = """
    import torch
    from torch import nn
    from ganforge import hookimpl

    class EchoGenerator(nn.Module):
        '''Predicts a constant learnable color (a third-party test generator).'''

        def __init__(self, in_channels, out_channels, scale: float = 1.0):
            super().__init__()
            self.color = nn.Parameter(torch.zeros(1, out_channels, 1, 1))
            self.scale = scale

        def forward(self, gray, noise=None):
            return (self.color * self.scale).expand(gray.shape[0], -1, *gray.shape[2:]) + 0 * gray

    @hookimpl
    def ganforge_register(registries):
        registries.generators.add("echo", EchoGenerator)
"""


ECHO_COMMAND = """
from ganforge import hookimpl

def _run(args):
    print("echo:", args.word)
    return 0

@hookimpl
def ganforge_add_commands(subparsers):
    parser = subparsers.add_parser("echo", help="say a word back")
    parser.add_argument("word")
    parser.set_defaults(run=_run)
"""


def test_a_third_party_command_arrives_through_the_commands_group(tmp_path):
    write_distribution(
        tmp_path, "ganforge-echo-cmd", "ganforge_echo_cmd", ECHO_COMMAND, "echo", group="ganforge.commands"
    )
    env = {**_clean_env(), "PYTHONPATH": str(tmp_path)}
    listed = subprocess.run([sys.executable, "-m", "ganforge", "--help"], env=env, capture_output=True, text=True)
    assert "say a word back" in listed.stdout and "rebalance" in listed.stdout
    ran = subprocess.run([sys.executable, "-m", "ganforge", "echo", "hello"], env=env, capture_output=True, text=True)
    assert ran.returncode == 0 and ran.stdout == "echo: hello\n"


def test_third_party_distribution_appears_in_ganforge_plugins(tmp_path):
    write_distribution(tmp_path, "ganforge-echo", "ganforge_echo", THIRD_PARTY, "echo")
    result = subprocess.run(
        [sys.executable, "-m", "ganforge", "plugins", "--kind", "generator"],
        capture_output=True,
        text=True,
        env={**_clean_env(), "PYTHONPATH": str(tmp_path)},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("generator") and " echo " in line)
    assert "ganforge-echo 0.3 (ganforge_echo)" in line
    assert "Predicts a constant learnable color" in line


def _clean_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ganforge-plugin-example"


@pytest.mark.slow
def test_the_example_plugin_installs_lists_and_trains_in_a_recipe(tmp_path):
    """What CONTRIBUTING.md tells a plugin author to do, done with pip into a private folder."""
    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(target), str(EXAMPLE)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    env = {**_clean_env(), "PYTHONPATH": str(target)}
    listed = subprocess.run(
        [sys.executable, "-m", "ganforge", "plugins"], capture_output=True, text=True, env=env, check=False
    )
    assert "dilated_cnn" in listed.stdout and "ganforge-plugin-example 0.1.0 (ganforge_example)" in listed.stdout
    assert "total_variation" in listed.stdout

    out = tmp_path / "run"
    trained = subprocess.run(
        [sys.executable, "-m", "ganforge", "train", str(EXAMPLE / "recipe.yaml"), "--max-steps", "3",
         "data.size=32", "data.batch_size=2", "data.num_workers=0", f"train.out_dir={out}"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-2000:]
    checkpoint = json.loads(read_checkpoint(out / "model.safetensors").metadata["recipe"])
    assert checkpoint["generator"]["name"] == "dilated_cnn"


def test_a_checkpoint_that_needs_a_missing_plugin_says_which_component(tmp_path, tiny_plugin):
    from ganforge.core.config import Recipe
    from ganforge.core.errors import RecipeError
    from ganforge.inference.checkpoint import save_checkpoint

    path = save_checkpoint(
        tmp_path / "m.safetensors", Recipe(generator={"name": "not_installed_anywhere_cnn"}), {"w": torch.zeros(1)}
    )
    with pytest.raises(RecipeError, match=r"recipe key 'generator': unknown generator 'not_installed_anywhere_cnn'"):
        ganforge.load(path)
