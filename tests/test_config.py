from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from ganforge.core.build import ComponentSpec
from ganforge.core.config import Recipe, load_recipe, recipe_from_dict, recipe_to_dict
from ganforge.core.errors import RecipeError


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def recipes(tmp_path: Path) -> Path:
    write(
        tmp_path / "base.yaml",
        """
        seed: 3
        color_space: lab
        data: {train: builtin:samples, size: 64, batch_size: 4}
        generator: {name: unet, width: 16}
        phases:
          - {name: pretrain, steps: 10, losses: {l1: 1.0}}
        train: {lr_generator: 1e-3}
        """,
    )
    write(
        tmp_path / "child.yaml",
        """
        extends: base.yaml
        data: {size: 32}
        adversaries:
          a: {name: patchgan, channels: [a]}
        """,
    )
    return tmp_path


def test_extends_merges_child_over_base_and_name_defaults_to_file_stem(recipes):
    recipe = load_recipe(recipes / "child.yaml")
    assert isinstance(recipe, Recipe)
    assert recipe.name == "child"
    assert recipe.seed == 3
    assert recipe.data.size == 32 and recipe.data.batch_size == 4
    assert recipe.train.lr_generator == pytest.approx(1e-3)
    assert recipe.phases[0].steps == 10 and recipe.phases[0].train == ["generator"]
    assert recipe.adversaries["a"]["channels"] == ["a"]


def test_dotlist_overrides_reach_nested_keys_lists_and_free_form_components(recipes):
    recipe = load_recipe(
        recipes / "child.yaml",
        ["data.size=16", "generator.width=8", "phases.0.steps=99", "train.betas=[0.0,0.9]", "name=renamed"],
    )
    assert recipe.data.size == 16
    assert recipe.generator == {"name": "unet", "width": 8}
    assert recipe.phases[0].steps == 99
    assert recipe.train.betas == [0.0, 0.9]
    assert recipe.name == "renamed"


def test_unknown_key_names_key_file_and_closest(recipes):
    bad = write(recipes / "bad.yaml", "extends: base.yaml\ndata: {batchsize: 8}\n")
    with pytest.raises(RecipeError) as info:
        load_recipe(bad)
    assert str(info.value) == f"{bad.resolve()}: unknown recipe key 'data.batchsize' (did you mean 'data.batch_size'?)"


def test_unknown_key_in_a_base_file_names_the_base(recipes):
    write(recipes / "base.yaml", "trian: {}\n")
    with pytest.raises(RecipeError, match=r"base\.yaml: unknown recipe key 'trian' \(did you mean 'train'\?\)"):
        load_recipe(recipes / "child.yaml")


def test_unknown_key_inside_a_phase_is_found(recipes):
    bad = write(recipes / "phase.yaml", "phases: [{name: p, stepz: 3}]\n")
    with pytest.raises(
        RecipeError, match=r"unknown recipe key 'phases\.0\.stepz' \(did you mean 'phases\.0\.steps'|'steps'"
    ):
        load_recipe(bad)


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("data: {size: big}", "data.size", "integer"),
        ("data: {size: 3.5}", "data.size", "integer"),
        ("train: {lr_generator: fast}", "train.lr_generator", "number"),
        ("train: {resume: 3}", "train.resume", "boolean"),
        ("phases: [{name: p, steps: 1, train: generator}]", "phases.0.train", "list of string"),
        ("data: 5", "data", "mapping"),
    ],
)
def test_wrong_type_names_key_and_expected_type(tmp_path, text, key, expected):
    path = write(tmp_path / "r.yaml", text + "\n")
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    assert f"recipe key '{key}' expects {expected}, got" in str(info.value)


def test_override_errors_say_command_line(recipes):
    with pytest.raises(
        RecipeError, match=r"^command line: unknown recipe key 'data.sise' \(did you mean 'data.size'\?\)$"
    ):
        load_recipe(recipes / "child.yaml", ["data.sise=3"])
    with pytest.raises(RecipeError, match=r"^command line: recipe key 'data.size' expects integer, got 'x'$"):
        load_recipe(recipes / "child.yaml", ["data.size=x"])
    with pytest.raises(RecipeError, match="must look like key=value"):
        load_recipe(recipes / "child.yaml", ["data.size"])


def test_extends_cycle_and_missing_base_and_bad_yaml_are_one_line_errors(tmp_path):
    write(tmp_path / "a.yaml", "extends: b.yaml\n")
    write(tmp_path / "b.yaml", "extends: a.yaml\n")
    with pytest.raises(RecipeError, match="'extends' makes a cycle: a.yaml -> b.yaml -> a.yaml"):
        load_recipe(tmp_path / "a.yaml")
    write(tmp_path / "c.yaml", "extends: nowhere.yaml\n")
    with pytest.raises(RecipeError, match=r"c\.yaml: extends: recipe file '.*nowhere\.yaml' does not exist"):
        load_recipe(tmp_path / "c.yaml")
    write(tmp_path / "d.yaml", "data: {size: [1, 2\n")
    with pytest.raises(RecipeError, match=r"d\.yaml: not valid YAML at line \d"):
        load_recipe(tmp_path / "d.yaml")
    with pytest.raises(RecipeError, match="recipe file 'missing.yaml' does not exist"):
        load_recipe("missing.yaml")
    (tmp_path / "e.yaml").write_bytes("seed: 1\nname: caf\u00e9\n".encode("latin-1"))
    with pytest.raises(
        RecipeError, match=r"e\.yaml: not UTF-8 text \(byte 0xe9 at line 2\); save the recipe as UTF-8$"
    ):
        load_recipe(tmp_path / "e.yaml")


def test_interpolation_is_resolved(tmp_path):
    path = write(tmp_path / "i.yaml", "data: {size: 48}\ngenerator: {name: unet, width: '${data.size}'}\n")
    assert load_recipe(path).generator["width"] == 48


def test_recipe_round_trips_through_a_plain_dict(recipes):
    recipe = load_recipe(recipes / "child.yaml")
    assert recipe_from_dict(recipe_to_dict(recipe)) == recipe


def test_component_spec_accepts_name_or_mapping():
    assert ComponentSpec.parse("lab", "color_space") == ComponentSpec("lab", {}, "color_space")
    assert ComponentSpec.parse({"name": "unet", "width": 8}, "generator").kwargs == {"width": 8}
    with pytest.raises(RecipeError, match="recipe key 'generator' must be a component name or a mapping with 'name'"):
        ComponentSpec.parse({"width": 8}, "generator")


def test_a_component_renamed_in_a_child_replaces_the_base_options(recipes):
    write(
        recipes / "other.yaml", "extends: child.yaml\ngenerator: {name: eccv16, width: 8}\ncolor_space: {name: rgb}\n"
    )
    recipe = load_recipe(recipes / "other.yaml")
    assert recipe.generator == {"name": "eccv16", "width": 8}
    assert recipe.color_space == {"name": "rgb"}


def test_a_child_can_remove_or_replace_a_base_adversary(recipes):
    write(recipes / "swap.yaml", "extends: child.yaml\nadversaries:\n  a: null\n  e: {name: ebgan}\n")
    assert load_recipe(recipes / "swap.yaml").adversaries == {"e": {"name": "ebgan"}}
    write(recipes / "retype.yaml", "extends: child.yaml\nadversaries:\n  a: {name: ebgan, width: 8}\n")
    assert load_recipe(recipes / "retype.yaml").adversaries == {"a": {"name": "ebgan", "width": 8}}


def test_command_line_component_swaps_replace_and_null_removes(recipes):
    recipe = load_recipe(
        recipes / "child.yaml", ["generator={name: eccv16}", "adversaries.a=null", "generator.width=4"]
    )
    assert recipe.generator == {"name": "eccv16", "width": 4}
    assert recipe.adversaries == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "adversaries:\n  a: {name: patchgan, channels: [a], layrs: 3}\n",
            "unknown recipe key 'adversaries.a.layrs' (did you mean 'layers'?)",
        ),
        ("generator: {name: unet, width: wide}\n", "recipe key 'generator.width' expects integer, got 'wide'"),
    ],
)
def test_component_option_errors_name_the_recipe_file_once(recipes, text, message):
    from ganforge.training.trainer import train_from_recipe_file

    bad = write(recipes / "bad.yaml", "extends: child.yaml\n" + text)
    with pytest.raises(RecipeError) as info:
        train_from_recipe_file(bad, ["train.out_dir=" + str(recipes / "run")])
    assert str(info.value) == f"{bad}: {message}"


GAN_BASE = """
adversaries:
  patch: {name: patchgan, width: 8}
phases:
  - {name: pretrain, steps: 10, losses: {l1: 1.0}}
  - {name: adversarial, steps: 20, train: [generator, patch], losses: {l1: 100.0, nonsaturating: 1.0}, lr_scale: {encoder: 0.1}}
"""


@pytest.fixture
def gan_base(tmp_path):
    return write(tmp_path / "gan.yaml", GAN_BASE)


def test_a_phases_mapping_changes_only_the_phases_and_keys_it_names(gan_base, tmp_path):
    child = write(
        tmp_path / "longer.yaml",
        """
        extends: gan.yaml
        phases:
          adversarial: {steps: 300, losses: {nonsaturating: 0.5}}
          polish: {steps: 5, losses: {l1: 1.0}}
    """,
    )
    pretrain, adversarial, polish = load_recipe(child).phases
    assert (pretrain.name, pretrain.steps, pretrain.losses) == ("pretrain", 10, {"l1": 1.0})
    assert adversarial.steps == 300 and adversarial.train == ["generator", "patch"]  # its adversary kept
    assert adversarial.losses == {"l1": 100.0, "nonsaturating": 0.5} and adversarial.lr_scale == {"encoder": 0.1}
    assert (polish.name, polish.steps) == ("polish", 5)


def test_null_removes_a_phase_or_a_loss_and_a_list_still_replaces_every_phase(gan_base, tmp_path):
    trimmed = write(
        tmp_path / "trimmed.yaml",
        """
        extends: gan.yaml
        phases: {pretrain: null, adversarial: {losses: {l1: null}}}
    """,
    )
    [adversarial] = load_recipe(trimmed).phases
    assert adversarial.losses == {"nonsaturating": 1.0} and adversarial.lr_scale == {"encoder": 0.1}
    replaced = write(tmp_path / "replaced.yaml", "extends: gan.yaml\nphases:\n  - {name: only, steps: 3}\n")
    assert [p.name for p in load_recipe(replaced).phases] == ["only"]


def test_overrides_may_name_a_phase_instead_of_counting(gan_base):
    recipe = load_recipe(
        gan_base, ["phases.adversarial.steps=7", "phases.adversarial.losses.nonsaturating=0.2", "phases.0.steps=2"]
    )
    assert [p.steps for p in recipe.phases] == [2, 7] and recipe.phases[1].losses["nonsaturating"] == 0.2
    with pytest.raises(
        RecipeError,
        match=r"recipe key 'phases.adversarail.steps' names no phase \(did you mean 'phases.adversarial'\?\)",
    ):
        load_recipe(gan_base, ["phases.adversarail.steps=7"])


@pytest.mark.parametrize(
    "phases, message",
    [
        (
            "{adversarial: {stpes: 3}}",
            r"unknown recipe key 'phases.adversarial.stpes' \(did you mean 'phases.adversarial.steps'\?\)",
        ),
        ("{adversarial: 3}", r"recipe key 'phases.adversarial' must be a mapping of phase keys"),
        ("{adversarial: {name: other}}", r"phase 'phases.adversarial' gives another name \('other'\)"),
        ("7", r"recipe key 'phases' must be a list of phases or a mapping NAME: phase"),
        ("{adversarial: {steps: many}}", r"recipe key 'phases.adversarial.steps' expects integer"),
    ],
    ids=["typo", "not-a-mapping", "renamed", "not-phases", "wrong-type"],
)
def test_bad_phase_mappings_are_one_line_errors_naming_the_key(gan_base, tmp_path, phases, message):
    child = write(tmp_path / "bad.yaml", f"extends: gan.yaml\nphases: {phases}\n")
    with pytest.raises(RecipeError, match=message):
        load_recipe(child)
