"""Every hook a ganforge plugin can implement: the whole extension surface in one file.

A plugin is a plain module (or object) with functions decorated by
:data:`ganforge.hookimpl` whose names and argument names match the
specifications below; a plugin may implement any subset and may accept any
subset of each hook's arguments, as with pytest. Plugins are found through the
``ganforge`` entry-point group, in-tree ones included::

    [project.entry-points.ganforge]
    my_plugin = "my_package.ganforge_plugin"

The lifecycle hooks are called on *every* process of a distributed run; use
``trainer.accelerator.is_main_process`` to act once.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:  # pragma: no cover - imports for annotations only
    from ganforge.core.registry import Registries

PROJECT = "ganforge"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def ganforge_register(registries: Registries) -> None:
    """Add components to the registries.

    Called once per plugin when the plugin manager starts. Names must be unique
    across all installed plugins::

        @hookimpl
        def ganforge_register(registries):
            registries.generators.add("tiny", TinyGenerator)

    The description shown by ``ganforge plugins`` defaults to the first line of
    the factory's docstring; pass ``description=`` to override it.
    """


@hookspec
def ganforge_add_commands(subparsers: Any) -> None:
    """Add ``ganforge`` subcommands: ``subparsers`` is argparse's sub-parser action.

    Implement it in a module registered under the ``ganforge.commands`` entry-point
    group (not ``ganforge``): the command line loads that group before parsing, so
    the module must import nothing heavy; import torch and your components inside
    the command's function. Give each parser ``set_defaults(run=function)``; the
    function receives the parsed arguments and returns the exit code. Raise a
    ``ganforge.core.errors.UsageError`` for bad input so the CLI prints it on one line and
    exits with code 2.
    """


@hookspec
def ganforge_run_start(trainer: Any) -> None:
    """Called once before the first training step (after resuming, if resuming).

    ``trainer.recipe`` is the resolved recipe, ``trainer.run_dir`` the run
    directory, ``trainer.step`` the step the run starts from.
    """


@hookspec
def ganforge_after_step(trainer: Any, step: int, logs: dict[str, float]) -> None:
    """Called after each optimisation step with the values logged for it.

    ``step`` counts from 1 across all phases. Call ``trainer.request_stop(reason)``
    to end the run cleanly after this step (early stopping); the final
    checkpoint is still written.
    """


@hookspec
def ganforge_checkpoint_written(trainer: Any, path: Path, step: int) -> None:
    """Called on the main process after a checkpoint was written atomically to ``path``."""


@hookspec
def ganforge_run_end(trainer: Any, status: str) -> None:
    """Called once when training ends; ``status`` is ``"completed"``, ``"stopped"`` or ``"failed"``."""
