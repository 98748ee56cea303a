from __future__ import annotations

import pytest

from ganforge.core.errors import DuplicateComponentError, UnknownComponentError
from ganforge.core.registry import Origin, Registry, registering_from


def unet():
    """A U-Net.

    More text that is not the description.
    """


def unet_small():
    return "small"


def patchgan():
    return "patchgan"


def make_registry() -> Registry:
    registry = Registry("generator")
    registry.add("unet", unet)
    registry.add("unet_small", unet_small, description="A narrow U-Net")
    registry.add("patchgan", patchgan)
    return registry


def test_create_calls_factory_with_kwargs():
    registry = Registry("loss")
    registry.add("scaled", lambda weight=1.0: weight * 2)
    assert registry.create("scaled", weight=3.0) == 6.0


def test_description_defaults_to_first_docstring_line_and_can_be_given():
    registry = make_registry()
    assert registry.get("unet").description == "A U-Net."
    assert registry.get("unet_small").description == "A narrow U-Net"
    assert registry.get("patchgan").description == ""


def test_unknown_name_suggests_closest_and_lists_available():
    with pytest.raises(UnknownComponentError) as info:
        make_registry().get("unte")
    message = str(info.value)
    assert message.startswith("unknown generator 'unte': did you mean 'unet'")
    assert "available: patchgan, unet, unet_small" in message
    assert "\n" not in message


def test_unknown_name_in_empty_registry_says_a_plugin_may_be_missing():
    with pytest.raises(UnknownComponentError, match="no adversary is registered"):
        Registry("adversary").get("patchgan")


def test_duplicate_name_names_both_origins():
    registry = Registry("generator")
    with registering_from(Origin("first-dist 1.0", "first.module")):
        registry.add("unet", unet)
    with registering_from(Origin("second-dist 2.0", "second.module")):
        with pytest.raises(DuplicateComponentError) as info:
            registry.add("unet", unet_small)
    assert "first-dist 1.0 (first.module)" in str(info.value)
    assert "second-dist 2.0 (second.module)" in str(info.value)
    assert registry.get("unet").factory is unet


def test_origin_outside_a_plugin_is_the_factory_module():
    assert make_registry().get("unet").origin == Origin("(not installed)", __name__)


def test_names_filter_with_shell_patterns_and_are_sorted():
    registry = make_registry()
    assert registry.names("unet*") == ["unet", "unet_small"]
    assert list(registry) == ["patchgan", "unet", "unet_small"]
    assert "unet" in registry and "vgg" not in registry and len(registry) == 3


@pytest.mark.parametrize("bad", ["", "has space", "1abc", "a-b"])
def test_names_must_be_identifiers(bad):
    with pytest.raises(ValueError, match="identifier"):
        Registry("loss").add(bad, unet)
