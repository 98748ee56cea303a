"""Type checks shared by recipes and component options: a value against an annotation, a mapping against a
dataclass schema, each failure one line naming the key and, for an unknown key, the closest valid one."""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from typing import Any, Union

from ganforge.core.errors import RecipeError


def type_name(tp: Any) -> str:
    if tp is Any:
        return "anything"
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        return " or ".join(type_name(a) for a in typing.get_args(tp))
    if origin is list:
        return f"list of {type_name(typing.get_args(tp)[0])}"
    if origin is dict or dataclasses.is_dataclass(tp):
        return "mapping"
    return {int: "integer", float: "number", str: "string", bool: "boolean", type(None): "null"}.get(tp, str(tp))


def fields_of(schema: type) -> dict[str, Any]:
    return typing.get_type_hints(schema)


def closest(key: str, options: list[str], prefix: str) -> str:
    close = difflib.get_close_matches(key, options, n=1, cutoff=0.5)
    if close:
        return f" (did you mean '{prefix}{close[0]}'?)"
    return f" (valid keys{' under ' + prefix.rstrip('.') if prefix else ''}: {', '.join(options)})"


def _matches(value: Any, tp: Any) -> bool:
    if tp is Any or (isinstance(value, str) and "${" in value):  # OmegaConf interpolation
        return True
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        return any(_matches(value, a) for a in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is list:
        return isinstance(value, list)
    if origin is dict or dataclasses.is_dataclass(tp):
        return isinstance(value, dict)
    return isinstance(value, tp)


def check_value(value: Any, tp: Any, key: str, source: str) -> None:
    """Raise :class:`RecipeError` unless ``value`` fits type ``tp`` (recursing into schemas and lists)."""
    if not _matches(value, tp):
        where = f"{source}: " if source else ""
        raise RecipeError(f"{where}recipe key '{key}' expects {type_name(tp)}, got {value!r}")
    if isinstance(value, str) and "${" in value:
        return
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        tp = next(a for a in typing.get_args(tp) if _matches(value, a))
        origin = typing.get_origin(tp)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        check_mapping(value, tp, key, source)
    elif origin is list:
        for i, item in enumerate(value):
            check_value(item, typing.get_args(tp)[0], f"{key}.{i}", source)
    elif origin is dict:
        for k, item in value.items():
            check_value(item, typing.get_args(tp)[1], f"{key}.{k}", source)


def check_mapping(mapping: dict[str, Any], schema: type, prefix: str, source: str) -> None:
    hints = fields_of(schema)
    for key, value in mapping.items():
        full = f"{prefix}.{key}" if prefix else str(key)
        if key not in hints:
            raise RecipeError(
                f"{source}: unknown recipe key '{full}'{closest(str(key), list(hints), full[: -len(str(key))])}"
            )
        check_value(value, hints[key], full, source)
