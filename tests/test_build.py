from __future__ import annotations

import pytest

from ganforge.core.build import build_color_space, build_generator
from ganforge.core.config import Recipe
from ganforge.core.errors import RecipeError


def test_generator_gets_channel_counts_from_the_color_space(tiny_plugin):
    recipe = Recipe(color_space={"name": "rgb", "gray": "rec709"}, generator={"name": "tiny", "width": 2})
    space = build_color_space(recipe)
    generator = build_generator(recipe, space)
    assert space.gray == "rec709"
    assert generator.body[0].in_channels == 1 and generator.body[2].out_channels == 3


@pytest.mark.parametrize(
    ("generator", "message"),
    [
        ({"name": "tiny", "widht": 2}, r"unknown recipe key 'generator.widht' \(did you mean 'width'\?\)"),
        ({"name": "tiny", "out_channels": 2}, r"recipe key 'generator.out_channels' is set by ganforge"),
        ({"name": "tiny", "width": "wide"}, r"recipe key 'generator.width' expects integer, got 'wide'"),
        ({"name": "tinny"}, r"recipe key 'generator': unknown generator 'tinny': did you mean 'tiny'\?"),
    ],
)
def test_component_keys_are_checked_against_the_factory_signature(tiny_plugin, generator, message):
    recipe = Recipe(generator=generator)
    with pytest.raises(RecipeError, match=message):
        build_generator(recipe, build_color_space(recipe))


def test_component_that_rejects_a_value_is_reported_with_its_key():
    with pytest.raises(
        RecipeError, match=r"recipe key 'color_space': color space 'lab' rejected its options: gray must be one of"
    ):
        build_color_space(Recipe(color_space={"name": "lab", "gray": "average"}))
