"""Reading a saved training state back safely: tensors only, and a one-line reason when it cannot be.

A state folder comes from a run directory that may have been copied from elsewhere, so nothing in
it may run code: Accelerate reads its files with ``weights_only=True`` and the moving average is a
safetensors file. Before anything is loaded, the saved networks' shapes are compared with the ones
the recipe builds, so a changed recipe is named key by key instead of in a page of size mismatches.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from accelerate.utils import load as load_tensors_only  # torch.load(weights_only=True), numpy RNG states allowed
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from ganforge.core.errors import UsageError, first_line
from ganforge.inference.checkpoint import module_shapes, shape_differences

EMA_STATE = "ema.safetensors"
LEGACY_EMA_STATE = "custom_checkpoint_0.pkl"  # earlier ganforge versions pickled the average through Accelerate
DELETE_ADVICE = "delete that state folder to resume from the one before"
UNPICKLE_ERRORS = (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, TypeError, AttributeError, OSError)


def _network_file(index: int) -> str:
    """The file Accelerate's ``save_state`` writes for the ``index``-th prepared network."""
    return "model.safetensors" if index == 0 else f"model_{index}.safetensors"


def check_saved_networks(state: Path, networks: dict[str, nn.Module], recipe_file: Path) -> None:
    """Raise one line naming the first tensor whose saved shape differs from what the recipe builds."""
    for index, (name, network) in enumerate(networks.items()):
        path = state / _network_file(index)
        try:
            with safe_open(str(path), framework="pt") as saved:
                shapes = {key: tuple(saved.get_slice(key).get_shape()) for key in saved.keys()}  # noqa: SIM118
        except (SafetensorError, OSError) as exc:
            raise UsageError(
                f"cannot resume from '{state}': {path.name} is not readable ({first_line(exc)}); {DELETE_ADVICE}"
            ) from None
        expected = module_shapes(network)
        missing, unexpected, misshapen = shape_differences(shapes, expected)
        differences = sorted(missing + unexpected) or misshapen
        if differences:
            key = differences[0]
            saved_as = shapes.get(key, "absent")
            built_as = expected.get(key, "absent")
            raise UsageError(
                f"cannot resume from '{state}': the recipe builds a different {name} than the run saved "
                f"({len(differences)} tensors differ; first '{key}': saved {saved_as}, recipe {built_as}); "
                f"resume with the recipe the run was trained with ({recipe_file})"
            )


def migrate_pickled_ema(state: Path) -> None:
    """Turn an earlier version's pickled moving average into ``ema.safetensors``, reading tensors only."""
    legacy = state / LEGACY_EMA_STATE
    if not legacy.exists():
        return
    try:
        tensors = load_tensors_only(legacy, map_location="cpu")
    except UNPICKLE_ERRORS:
        raise UsageError(_foreign(state, legacy)) from None
    if not isinstance(tensors, dict) or not all(isinstance(v, torch.Tensor) for v in tensors.values()):
        raise UsageError(_foreign(state, legacy))
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(state / EMA_STATE))
    legacy.unlink()


def refuse_foreign_files(state: Path) -> None:
    """Raise one line naming the first pickled file of ``state`` that holds more than tensors and plain values.

    Checked before Accelerate reads the folder, which would skip an unreadable RNG state with a log
    line and resume inexactly.
    """
    for path in sorted(state.iterdir()):
        if path.suffix in {".bin", ".pkl", ".pt"}:
            try:
                load_tensors_only(path, map_location="cpu")
            except UNPICKLE_ERRORS:
                raise UsageError(_foreign(state, path)) from None


def cannot_resume(state: Path, error: Exception) -> str:
    """Why Accelerate could not read ``state``, in one line."""
    return f"cannot resume from '{state}': {first_line(error)}; {DELETE_ADVICE}"


def load_ema(state: Path, ema: nn.Module) -> None:
    """Restore the moving average from the state's safetensors file."""
    path = state / EMA_STATE
    try:
        ema.load_state_dict(load_file(str(path)))
    except (SafetensorError, OSError, RuntimeError) as exc:
        raise UsageError(
            f"cannot resume from '{state}': {path.name} is not this run's moving average ({first_line(exc)}); {DELETE_ADVICE}"
        ) from None


def _foreign(state: Path, path: Path) -> str:
    return (
        f"cannot resume from '{state}': {path.name} is not a tensors-only file as ganforge writes them (it is "
        f"damaged, or holds objects ganforge will not unpickle); {DELETE_ADVICE}"
    )
