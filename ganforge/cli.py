"""The ``ganforge`` command line: ``ganforge RECIPE.yaml`` trains; subcommands do the rest.

Usage errors print one line on stderr and exit with code 2; other failures
print one line and exit with code 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from ganforge import __version__
from ganforge.core.argtypes import DECODING_TYPES, at_least, between, positive, sizes_at_least
from ganforge.core.choices import GRAY_CONVERSIONS, HUB_FILENAME, SMOOTHING, STABILIZERS, UPSAMPLING
from ganforge.core.errors import GanforgeError, UsageError, describe_os_error
from ganforge.core.registry import Registries

PROG = "ganforge"
MAX_THREADS = 1024  # torch crashes asked for far more threads than a machine has
MAX_WORKING_SIZE = 4096  # the working short side; colorize.MAX_WORKING_PIXELS bounds the whole picture


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors, as the rest of ganforge gives."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _cmd_plugins(args: argparse.Namespace) -> int:
    from ganforge.core.plugins import get_registries

    rows = [
        (entry.kind, entry.name, str(entry.origin), entry.description)
        for registry in get_registries().all()
        if args.kind is None or registry.kind.replace(" ", "_") == args.kind
        for entry in registry.entries()
    ]
    header = ("KIND", "NAME", "ORIGIN", "DESCRIPTION")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths)) + "  " + row[3])
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from ganforge.training.trainer import train_from_recipe_file

    train_from_recipe_file(args.recipe, args.overrides, max_steps=args.max_steps, resume=args.resume)
    return 0


def _cmd_colorize(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ganforge.inference.inputs import check_inputs

    checkpoint, inputs = split_checkpoint(args.inputs)
    check_inputs([Path(p) for p in inputs])  # before torch is even imported

    from ganforge.colorize_files import ColorizeOptions, ColorizeReport, colorize_files, plan
    from ganforge.inference.colorizer import load
    from ganforge.training.processes import gather_and_close, launched_processes, process_state
    from ganforge.video.pipeline import VideoOptions

    options = ColorizeOptions(
        samples=args.samples,
        confidence=args.confidence,
        size=args.size,
        temperature=args.temperature,
        vividness=args.vividness,
        desaturate_below=args.desaturate_below,
        upsample=args.upsample,
        overwrite=args.overwrite,
        reference=Path(args.reference) if args.reference else None,
        reference_strength=args.reference_strength,
        hints=read_hints(Path(args.hints)) if args.hints else None,
        video=VideoOptions(
            batch_size=args.batch_size,
            size=None if isinstance(args.size, tuple) else args.size,  # several: refused for videos
            realtime=args.realtime,
            smoothing=args.smoothing,
            stabilize=args.stabilize,
        ),
    )
    jobs = plan([Path(p) for p in inputs], Path(args.output), options)  # bad inputs are refused before the model loads
    colorizer, shard, state = load(checkpoint, backend=args.backend), (0, 1), None
    if launched_processes() > 1:  # accelerate launch: each process takes its share of the files
        state = process_state()
        colorizer.to(state.device)
        shard = (state.process_index, state.num_processes)
    report = colorize_files(colorizer, jobs, options, shard)
    if state is not None and shard[1] > 1:
        reports = gather_and_close(state, report)
        if shard[0] > 0:
            return 0
        report = ColorizeReport.merge(reports)
    notes = [f"wrote {len(report.written)} file(s)" + (f" on {shard[1]} processes" if shard[1] > 1 else "")]
    if report.skipped_existing:
        notes.append(f"skipped {report.skipped_existing} existing (use --overwrite)")
    if report.unreadable:
        notes.append(f"{len(report.unreadable)} unreadable")
    if report.refused:
        notes.append(f"{len(report.refused)} refused for their size (see the warnings)")
    if report.color_inputs:
        notes.append(f"{report.color_inputs} color input(s) were made gray first")
    for note in report.video_notes:
        print(f"{PROG}: {note}")
    print(f"{PROG}: " + "; ".join(notes))
    return 1 if (report.unreadable or report.refused) and not report.written and not report.skipped_existing else 0


def read_hints(path: Path) -> list[Any]:
    """The points of a ``--hints`` file: a JSON list of ``{"x": …, "y": …, "color": "#rrggbb"}`` (optionally ``"radius"``)."""
    from ganforge.core.errors import read_user_json
    from ganforge.inference.steering import hints_from_json

    advice = 'write a JSON list like [{"x": 120, "y": 80, "color": "#c03020"}]'
    return hints_from_json(read_user_json(path, "hints file", advice), f"hints file '{path}'")


def split_checkpoint(arguments: list[str]) -> tuple[str, list[str]]:
    """``[CHECKPOINT] INPUT...``: the first argument is a checkpoint if it is a .safetensors or .onnx file, 'default',
    a folder holding ``model.safetensors`` (as ``ganforge export`` writes), or an ``owner/name`` Hub id that is not
    a local path; otherwise every argument is an input."""
    from pathlib import Path

    first = arguments[0]
    is_model_file = first.endswith((".safetensors", ".onnx")) or (Path(first) / HUB_FILENAME).is_file()
    if len(arguments) == 1 and is_model_file:
        raise UsageError(f"'{first}' names a checkpoint but no INPUT follows it; add the pictures to colorize")
    is_hub_id = first.count("/") == 1 and not Path(first).exists() and not Path(first).suffix
    if len(arguments) > 1 and (is_model_file or first == "default" or is_hub_id):
        return first, arguments[1:]
    return "default", arguments


def _add_threads_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--threads", type=at_least(1, MAX_THREADS), metavar="N",
        help="CPU threads for torch (default: torch's own, one per core; set it on a machine other work shares)",
    )  # fmt: skip


def _add_decoding_options(parser: argparse.ArgumentParser, default: bool = False) -> None:
    """--temperature and --vividness: how a classification model decodes (with ``default``: the one it ships with)."""
    which = "the default " if default else ""
    parser.add_argument(
        "--temperature",
        type=DECODING_TYPES["temperature"],
        metavar="T",
        help=f"{which}annealed-mean temperature (classification models)",
    )
    parser.add_argument(
        "--vividness", type=DECODING_TYPES["vividness"], metavar="V",
        help=f"{which + 'vividness: ' if default else ''}lean toward rare, saturated colors: 0 decodes as trained, "
        "above 0 bolder, below 0 duller (classification models)",
    )  # fmt: skip


def _set_threads(threads: int | None) -> None:
    """Pin torch's intra-op threads: its default of one per core oversubscribes a busy machine."""
    if threads is None:
        return
    import torch

    torch.set_num_threads(threads)


def _add_evaluation_options(parser: argparse.ArgumentParser, size: int, images: int | None = None) -> None:
    parser.add_argument(
        "--size",
        type=at_least(16),
        default=size,
        metavar="PX",
        help=f"evaluate on PX x PX center crops (default {size})",
    )
    parser.add_argument(
        "--images",
        type=at_least(1),
        default=images,
        metavar="N",
        help=f"at most N images per source (default {images or 'all'})",
    )
    parser.add_argument(
        "--upscale", action="store_true", help="enlarge images smaller than --size instead of refusing them"
    )
    parser.add_argument(
        "--metrics", nargs="+", metavar="NAME", help="only these metrics (see 'ganforge plugins --kind metric')"
    )
    parser.add_argument(
        "--metric-option", action="append", metavar="METRIC.OPTION=VALUE", dest="metric_options",
        help="an option of one metric, e.g. semantic_agreement.weights=mobilenet_v2_imagenet.safetensors (repeatable)",
    )  # fmt: skip


def _cmd_deflicker(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ganforge.core.atomic import check_new_output
    from ganforge.video.pipeline import VIDEO_SUFFIXES, VideoOptions, deflicker_video

    source, target = Path(args.video), Path(args.output)
    if not source.is_file():
        raise UsageError(f"'{source}' is not a file; name a video to deflicker")
    if target.suffix.lower() not in VIDEO_SUFFIXES:
        raise UsageError(f"-o '{target}' is not a video file name; end it with one of {' '.join(VIDEO_SUFFIXES)}")
    if target.resolve() == source.resolve():
        raise UsageError(f"-o '{target}' is the input: ganforge never writes over a video it reads; pass another -o")
    check_new_output(target, args.overwrite)
    options = VideoOptions(batch_size=args.batch_size, smoothing=args.smoothing, stabilize=args.stabilize)
    report = deflicker_video(source, target, options)
    print(f"{PROG}: wrote {target}: {report.summary()}")
    return 0


def _add_stabilize_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stabilize", choices=STABILIZERS, default="motion",
        help="video: blend each pixel with the previous frame's chroma where it moved to (optical flow; default), "
        "or only where the picture is still",
    )  # fmt: skip
    parser.add_argument(
        "--smoothing",
        type=between(0, 1, high_open=True),
        default=SMOOTHING,
        metavar="W",
        help="video: weight of the previous frame's chroma where the match holds; "
        f"reset at scene cuts (0 = every frame on its own, default {SMOOTHING})",
    )


def _cmd_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ganforge.core.atomic import check_new_output
    from ganforge.evaluation.model_card import evaluation_results, write_model_card
    from ganforge.inference.checkpoint import read_checkpoint
    from ganforge.inference.export import export_for_inference

    if Path(args.checkpoint).is_file() and not args.checkpoint.endswith(".safetensors"):
        raise UsageError(
            f"'{args.checkpoint}' is not a .safetensors checkpoint; export takes one (e.g. runs/NAME/model.safetensors)"
        )
    check_new_output(Path(args.output), args.overwrite)
    if (args.format or ("onnx" if args.output.endswith(".onnx") else "safetensors")) == "onnx":
        from ganforge.inference.export import export_onnx

        if args.half or args.confidence_temperature is not None or args.metrics_from:
            raise UsageError("--half, --confidence-temperature and --metrics-from apply to --format safetensors")
        out = export_onnx(
            args.checkpoint,
            args.output,
            temperature=args.temperature,
            vividness=args.vividness,
            static_size=args.static_size,
        )
        print(
            f"{PROG}: wrote {out} ({out.stat().st_size / 2**20:.1f} MiB; run it with ganforge colorize {out} ... or ganforge.load('{out}'))"
        )
        return 0
    if args.static_size:
        raise UsageError("--static-size applies to --format onnx")
    results = (
        evaluation_results(args.metrics_from) if args.metrics_from else None
    )  # a bad file fails before anything is written
    out = export_for_inference(
        args.checkpoint,
        args.output,
        args.temperature,
        half=args.half,
        confidence_temperature=args.confidence_temperature,
        vividness=args.vividness,
    )
    before, after = Path(args.checkpoint).stat().st_size, out.stat().st_size
    print(f"{PROG}: wrote {out} ({after / 2**20:.1f} MiB, from {before / 2**20:.1f} MiB)")
    if not args.no_card:
        card = write_model_card(
            read_checkpoint(out), args.license, results, Path(args.metrics_from).name if args.metrics_from else ""
        )
        print(
            f"{PROG}: wrote {card} (model card)"
            if card
            else f"{PROG}: kept {out.parent / 'README.md'}, which is not a ganforge model card"
        )
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ganforge.evaluation.evaluate import (
        GRAY,
        MEAN_COLOR,
        evaluate_checkpoint,
        metric_directions,
        parse_metric_options,
    )
    from ganforge.evaluation.report import Table

    common = dict(
        size=args.size,
        count=args.images,
        metrics=args.metrics,
        metric_options=parse_metric_options(args.metric_options),
        upscale=args.upscale,
    )
    if args.predictions:
        from ganforge.evaluation.predictions import evaluate_predictions

        if args.checkpoint or args.temperature is not None or args.vividness is not None:
            raise UsageError(
                "--predictions scores a folder of finished colorizations: give it without a checkpoint, --temperature or --vividness"
            )
        if not args.data:
            raise UsageError("--predictions needs --data SOURCE: the color originals the predictions colorize")
        evaluation = evaluate_predictions(
            args.predictions,
            args.data,
            Path(args.output),
            gray_conversion=args.gray or "lstar",
            overwrite=args.overwrite,
            **common,
        )
    else:
        evaluation = evaluate_checkpoint(
            args.checkpoint or "default", args.data, Path(args.output), gray_conversion=args.gray, samples=args.samples,
            temperature=args.temperature, vividness=args.vividness, overwrite=args.overwrite, **common,
        )  # fmt: skip
    print(
        f"{evaluation.source}: {evaluation.images} images, {evaluation.size} px, inputs made gray with {evaluation.gray_conversion}"
    )
    print(Table(evaluation.table, baselines=(GRAY, MEAN_COLOR), **metric_directions(args.metrics)).markdown())
    for note in evaluation.notes:
        print(f"{PROG}: note: {note}")
    print(f"{PROG}: wrote {Path(args.output) / 'metrics.json'} and {Path(args.output) / 'grid.png'}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ganforge.evaluation.compare import CompareOptions, compare
    from ganforge.evaluation.evaluate import parse_metric_options

    options = CompareOptions(
        steps=args.steps, data=args.data, eval_sources=args.eval_sources or [], size=args.size, images=args.images,
        seed=args.seed, metrics=args.metrics, metric_options=parse_metric_options(args.metric_options), overrides=args.overrides,
        upscale=args.upscale,
    )  # fmt: skip
    report = compare(args.inputs, Path(args.output), options)
    print(f"{PROG}: wrote {report} (and report.md, metrics.json beside it)")
    return 0


def _cmd_turing(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ganforge.evaluation.turing import SCORES_FILE, score_answers, scores_table, write_test

    out = Path(args.output)
    if args.score:
        if args.inputs or args.data:
            raise UsageError(
                "--score reads answers files: give it without models or --data (-o: the folder the test page is in)"
            )
        print(scores_table(score_answers(out, [Path(p) for p in args.score])))
        print(
            f"{PROG}: fooling rate: the share of pairs where the colorization was picked as real (50 % = indistinguishable)"
        )
        print(f"{PROG}: wrote {out / SCORES_FILE}")
        return 0
    if not args.data:
        raise UsageError("the test needs --data SOURCE: the color photos to show beside their colorizations")
    page = write_test(
        args.inputs,
        args.data,
        out,
        size=args.size,
        count=args.images,
        seconds=args.seconds,
        seed=args.seed,
        upscale=args.upscale,
        overwrite=args.overwrite,
    )
    print(
        f"{PROG}: wrote {page}: send it to participants; score their downloaded answers with: ganforge turing --score FILES... -o {out}"
    )
    return 0


def _cmd_app(args: argparse.Namespace) -> int:
    from ganforge.app import check_port, start
    from ganforge.inference.colorizer import load

    check_port(args.host, args.port)  # before the model loads: a bad address answers at once
    page, url = start(load(args.checkpoint), args.host, args.port)
    print(f"{PROG}: serving the colorizer on {url} (Ctrl+C to stop)")
    try:
        page.block_thread()
    finally:
        page.close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Train and use GANs that colorize grayscale photographs. "
        f"'{PROG} RECIPE.yaml [key=value ...]' is short for '{PROG} train RECIPE.yaml ...'.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    train = sub.add_parser("train", help="train a recipe (the default for a .yaml argument)")
    train.add_argument("recipe", help="recipe YAML file, e.g. recipes/quickstart.yaml")
    train.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="recipe overrides, e.g. data.size=64")
    train.add_argument(
        "--max-steps", type=at_least(1), metavar="N", help="cap total steps, shortening every phase in proportion"
    )
    train.add_argument("--resume", action="store_true", help="continue from the run directory's last saved state")
    _add_threads_option(train)
    train.set_defaults(run=_cmd_train)

    plugins = sub.add_parser("plugins", help="list every registered component: kind, name, origin, description")
    plugins.add_argument(
        "--kind", choices=[r.kind.replace(" ", "_") for r in Registries().all()], help="only components of this kind"
    )
    plugins.set_defaults(run=_cmd_plugins)

    from ganforge.core.plugins import command_plugin_manager

    command_plugin_manager().hook.ganforge_add_commands(subparsers=sub)
    colorize = sub.add_parser(
        "colorize",
        help="colorize image files, folders and videos (with the default model unless a checkpoint is named)",
        usage="%(prog)s [-h] [CHECKPOINT] INPUT [INPUT ...] -o OUTPUT [options]",
    )
    colorize.add_argument(
        "inputs",
        nargs="+",
        metavar="[CHECKPOINT] INPUT",
        help="optionally first a checkpoint (a .safetensors or .onnx file, a Hub repo id, or 'default'), "
        "then image or video files, or folders (walked recursively)",
    )
    colorize.add_argument("-o", "--output", required=True, help="output file (one input) or folder")
    _add_threads_option(colorize)
    colorize.add_argument(
        "--samples", type=at_least(0), default=0, metavar="N", help="write N diverse colorizations (noise models)"
    )
    colorize.add_argument("--confidence", action="store_true", help="also write NAME_confidence.png (white = sure)")
    colorize.add_argument(
        "--desaturate-below",
        type=between(0, 1, low_open=True),
        metavar="C",
        help="fade colors toward gray where confidence < C",
    )
    _add_decoding_options(colorize)
    colorize.add_argument(
        "--upsample", choices=UPSAMPLING, default="guided",
        help="how colors reach full resolution: along the lightness's edges (guided, default) or a plain bilinear resize",
    )  # fmt: skip
    colorize.add_argument(
        "--size", type=sizes_at_least(16, MAX_WORKING_SIZE), metavar="PX[,PX...]",
        help="working resolution, short side (default: training size); several, e.g. 128,192, average the colors "
        "predicted at each (pictures only: a little more accurate, one pass of the network per size)",
    )  # fmt: skip
    colorize.add_argument("--overwrite", action="store_true", help="replace outputs that exist (default: skip them)")
    colorize.add_argument(
        "--hints", metavar="HINTS_JSON",
        help='points of color for a hint model, on the one photo colorized: a JSON list of {"x": 120, "y": 80, "color": "#c03020"} '
        "(x, y in the photo's pixels; optionally \"radius\")",
    )  # fmt: skip
    colorize.add_argument(
        "--reference", metavar="PHOTO",
        help="a color photo of the same kind of scene or era: the colors lean toward its palette (classification models)",
    )  # fmt: skip
    colorize.add_argument(
        "--reference-strength", type=between(0, 10), default=1.0, metavar="S",
        help="how hard to lean toward --reference: 0 not at all, 1 weighs the model's colors by the reference's (default)",
    )  # fmt: skip
    colorize.add_argument(
        "--batch-size", type=at_least(1), default=8, metavar="N", help="video frames per batch (default 8)"
    )
    colorize.add_argument(
        "--realtime", action="store_true", help="video: bound the working resolution to keep up with playback"
    )
    colorize.add_argument(
        "--backend", choices=("torch", "onnxruntime"),
        help="run the generator on PyTorch or ONNX Runtime (default: by the checkpoint's suffix, .onnx = onnxruntime)",
    )  # fmt: skip
    _add_stabilize_options(colorize)
    colorize.set_defaults(run=_cmd_colorize)

    deflicker = sub.add_parser(
        "deflicker", help="steady the colors of a video colorized by any tool: its luma is kept, its chroma smoothed along the motion",
    )  # fmt: skip
    deflicker.add_argument("video", metavar="COLOR_VIDEO", help="a colorized video (.mp4 .mkv .mov .avi .webm .m4v)")
    deflicker.add_argument("-o", "--output", required=True, help="the video file to write")
    deflicker.add_argument("--overwrite", action="store_true", help="replace the output if it exists")
    deflicker.add_argument(
        "--batch-size", type=at_least(1), default=8, metavar="N", help="frames decoded per batch (default 8)"
    )
    _add_stabilize_options(deflicker)
    _add_threads_option(deflicker)
    deflicker.set_defaults(run=_cmd_deflicker)

    export = sub.add_parser(
        "export",
        help="write a checkpoint with only the inference weights (EMA when present) and its model card, to ship",
    )
    export.add_argument("checkpoint", help="a ganforge .safetensors checkpoint, e.g. runs/default/model.safetensors")
    export.add_argument(
        "-o",
        "--output",
        required=True,
        help="the file to write: .safetensors, or .onnx (then --format onnx is implied)",
    )
    _add_decoding_options(export, default=True)
    export.add_argument(
        "--confidence-temperature",
        type=positive,
        metavar="T",
        help="classification models: the confidence calibration (benchmarks/confidence_calibration.py --fit finds it)",
    )
    export.add_argument(
        "--half", action="store_true", help="store the weights as float16 (half the size; loading casts them back)"
    )
    export.add_argument(
        "--license",
        default="apache-2.0",
        metavar="ID",
        help="the weights' licence in the model card, a Hub licence id (default apache-2.0)",
    )
    export.add_argument(
        "--metrics-from", metavar="METRICS_JSON", help="put this ganforge eval/compare metrics.json into the model card"
    )
    export.add_argument(
        "--no-card", action="store_true", help="do not write README.md (the model card) beside the weights"
    )
    export.add_argument("--overwrite", action="store_true", help="replace -o if it exists")
    export.add_argument(
        "--format",
        choices=("safetensors", "onnx"),
        help="safetensors, or onnx: the generator alone, for ONNX Runtime (default: by the -o suffix)",
    )
    export.add_argument(
        "--static-size",
        type=at_least(16),
        metavar="PX",
        help="--format onnx: fix the input at 1 x 1 x PX x PX (default: dynamic batch and size)",
    )
    export.set_defaults(run=_cmd_export)

    evaluate = sub.add_parser(
        "eval",
        help="score a checkpoint, or a folder of any tool's colorizations, on a data source beside the gray and mean-color baselines",
    )
    evaluate.add_argument(
        "checkpoint",
        nargs="?",
        help="a .safetensors or .onnx checkpoint, a folder holding model.safetensors, or a Hub repo id (default: the shipped model)",
    )
    evaluate.add_argument(
        "--predictions", metavar="DIR",
        help="score the colorizations in DIR (made by any tool) instead of a checkpoint; matched to --data's originals by relative path",
    )  # fmt: skip
    evaluate.add_argument(
        "--data",
        metavar="SOURCE",
        help="imagefolder:DIR, hub:NAME or builtin:NAME (default: the model's validation data when it is on this machine, else the bundled builtin:samples)",
    )
    evaluate.add_argument(
        "-o",
        "--output",
        default="evaluation",
        metavar="DIR",
        help="where metrics.json and grid.png go (default ./evaluation)",
    )
    evaluate.add_argument("--overwrite", action="store_true", help="replace an earlier evaluation in -o")
    _add_evaluation_options(evaluate, size=256)
    _add_threads_option(evaluate)
    evaluate.add_argument(
        "--gray",
        choices=GRAY_CONVERSIONS,
        help="make the inputs gray this way (default: the model's own; lstar for --predictions)",
    )
    evaluate.add_argument(
        "--samples", type=at_least(1), default=8, metavar="N", help="noise samples per image for diversity (default 8)"
    )
    _add_decoding_options(evaluate)
    evaluate.set_defaults(run=_cmd_eval)

    compare = sub.add_parser(
        "compare", help="train recipes alike (or take checkpoints), evaluate them on the same images, write report.html"
    )
    compare.add_argument(
        "inputs", nargs="+", metavar="RECIPE_CHECKPOINT_OR_FOLDER",
        help="recipe .yaml files, .safetensors or .onnx checkpoints ('default': the shipped model) and/or folders of colorizations made by any tool (matched to the originals by relative path); "
        "MODEL@vividness=V,temperature=T evaluates a classification model decoded that way, so 'default default@vividness=0.5' compares two decodings",
    )  # fmt: skip
    compare.add_argument(
        "--steps",
        type=at_least(1),
        metavar="N",
        help="train every recipe for exactly N steps (its phases stretched or shrunk in proportion)",
    )
    compare.add_argument(
        "--data",
        metavar="SOURCE",
        help="train every recipe on this data source (evaluation uses --eval, else the first model's data.val)",
    )
    compare.add_argument(
        "--eval",
        nargs="+",
        metavar="SOURCE",
        dest="eval_sources",
        help="evaluation sources, e.g. imagefolder:val/ builtin:true_bw",
    )
    compare.add_argument("--seed", type=int, default=0, help="the seed every recipe trains with (default 0)")
    compare.add_argument(
        "-o",
        "--output",
        default="comparison",
        metavar="DIR",
        help="report folder; its runs/ make a rerun resume (default ./comparison)",
    )
    compare.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        dest="overrides",
        help="overrides for every recipe, e.g. data.num_workers=0",
    )
    _add_evaluation_options(compare, size=128, images=32)
    _add_threads_option(compare)
    compare.set_defaults(run=_cmd_compare)

    app = sub.add_parser(
        "app", help="a local web page to colorize photos and clips with a model (needs the app extra: Gradio)"
    )
    app.add_argument(
        "checkpoint",
        nargs="?",
        default="default",
        help="a .safetensors or .onnx checkpoint, a folder or a Hub id (default: the shipped model)",
    )
    app.add_argument(
        "--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1: this machine only)"
    )
    app.add_argument("--port", type=at_least(0, 65535), default=7860, help="the port (default 7860; 0: any free one)")
    _add_threads_option(app)
    app.set_defaults(run=_cmd_app)

    turing = sub.add_parser(
        "turing",
        help="a page on which people judge real versus colorized photos (Zhang et al.'s test), and its scoring",
    )
    turing.add_argument(
        "inputs", nargs="*", metavar="CHECKPOINT_OR_FOLDER",
        help="checkpoints ('default', .safetensors, Hub ids) and/or folders of any tool's colorizations of --data",
    )  # fmt: skip
    turing.add_argument(
        "--data", metavar="SOURCE", help="the color photos: shown as the real ones, made gray for the models"
    )
    turing.add_argument(
        "-o",
        "--output",
        default="turing",
        metavar="DIR",
        help="where turing.html and key.json go, and --score reads the key (default ./turing)",
    )
    turing.add_argument(
        "--score",
        nargs="+",
        metavar="ANSWERS",
        help="score these answers files downloaded from the page: fooling rate per model",
    )
    turing.add_argument("--images", type=at_least(1), default=40, metavar="N", help="photos per model (default 40)")
    turing.add_argument(
        "--size", type=at_least(16), default=256, metavar="PX", help="show PX x PX center crops (default 256)"
    )
    turing.add_argument(
        "--seconds",
        type=positive,
        default=1.0,
        metavar="S",
        help="how long each pair is shown (default 1, as in Zhang et al.)",
    )
    turing.add_argument("--seed", type=int, default=0, help="the order of the pairs and sides (default 0)")
    turing.add_argument(
        "--upscale", action="store_true", help="enlarge photos smaller than --size instead of refusing them"
    )
    turing.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier test in -o (its answers can then no longer be scored)",
    )
    _add_threads_option(turing)
    turing.set_defaults(run=_cmd_turing)
    return parser


def _normalise_argv(argv: list[str]) -> list[str]:
    """A bare recipe path means ``train`` (so ``accelerate launch -m ganforge RECIPE.yaml`` works)."""
    if argv and argv[0].endswith((".yaml", ".yml")):
        return ["train", *argv]
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    argv = _normalise_argv(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "train":  # overrides may also follow options: "train r.yaml --max-steps 5 data.size=64"
        args.overrides += [item for item in extra if "=" in item and not item.startswith("-")]
        extra = [item for item in extra if item not in args.overrides]
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command is None:
        parser.print_help()
        return 2
    try:
        _set_threads(getattr(args, "threads", None))
        return args.run(args)
    except GanforgeError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`ganforge plugins | head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit-time flush cannot fail again
        return 128 + 13  # killed by SIGPIPE
    except OSError as exc:  # a location that cannot be written (read-only, missing, full disk) or read
        print(f"{PROG}: error: {describe_os_error(exc)}", file=sys.stderr)
        return 1
