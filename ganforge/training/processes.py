"""Processes started by ``accelerate launch``: how many there are, and forming their group on any hardware."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from accelerate import PartialState


def launched_processes() -> int:
    """How many processes ``accelerate launch`` (or torchrun) started; 1 for a plain command."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def distributed_without_accelerator() -> bool:
    """``accelerate launch --multi_gpu`` on a machine with no accelerator: run the processes on CPU over gloo.

    Accelerate only forms a CPU process group when asked for the CPU explicitly,
    so without this the launched processes would each work alone.
    """
    has_accelerator = getattr(torch, "accelerator", None)
    available = has_accelerator.is_available() if has_accelerator else torch.cuda.is_available()
    return launched_processes() > 1 and not available


def process_state() -> PartialState:
    """This process's place among the launched ones (index, count, device), the group formed on any hardware."""
    from accelerate import PartialState

    return PartialState(cpu=distributed_without_accelerator())


def gather_and_close(state: PartialState, item: object) -> list:
    """``item`` from every process, on every process; then the process group is closed, since a gloo
    group still open when the interpreter exits can abort the process after its work is done."""
    from accelerate.utils import gather_object

    try:
        return gather_object([item])
    finally:
        state.wait_for_everyone()
        state.destroy_process_group()
