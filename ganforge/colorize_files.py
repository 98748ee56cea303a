"""``ganforge colorize``: colorize image files and folders with a checkpoint.

Folders are walked recursively and mirrored under the output folder; an output
that already exists is skipped unless ``overwrite`` (so an interrupted run
resumes); every file is written under a temporary name and renamed, so a
failure never leaves a partial image behind. Launched on several processes
(``accelerate launch -m ganforge colorize``), each process takes every n-th
file of the sorted list, so each file is written by exactly one of them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image
from tqdm.auto import tqdm

from ganforge.core.atomic import atomic_path
from ganforge.core.errors import PictureSizeError, UsageError
from ganforge.core.images import IMAGE_SUFFIXES, UnreadableImage, is_grayscale, open_image
from ganforge.inference.colorizer import Colorizer, WorkingSize, working_sizes
from ganforge.inference.inputs import check_inputs
from ganforge.inference.steering import Hint
from ganforge.video.pipeline import VIDEO_SUFFIXES, VideoOptions, colorize_video

log = logging.getLogger(__name__)

# formats PIL writes well; anything else (e.g. .pgm, .gif) is written as .png
_KEEP_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


@dataclass
class ColorizeOptions:
    samples: int = 0
    confidence: bool = False
    size: WorkingSize = None  # several: pictures' colors averaged over them (videos take one)
    temperature: float | None = None
    vividness: float | None = None
    desaturate_below: float | None = None
    upsample: str = "guided"
    overwrite: bool = False
    video: VideoOptions = field(default_factory=VideoOptions)
    reference: Path | None = None  # a color photo whose palette the colors lean toward
    reference_strength: float = 1.0
    hints: list[Hint] | None = None  # points of color on the one picture colorized (a hint model)


@dataclass
class ColorizeReport:
    written: list[Path] = field(default_factory=list)
    skipped_existing: int = 0
    unreadable: list[str] = field(default_factory=list)
    color_inputs: int = 0
    video_notes: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # pictures whose size would take unbounded work

    @classmethod
    def merge(cls, reports: list[ColorizeReport]) -> ColorizeReport:
        """One report for the shares of several processes."""
        return cls(
            [path for r in reports for path in r.written], sum(r.skipped_existing for r in reports),
            [name for r in reports for name in r.unreadable], sum(r.color_inputs for r in reports),
            [note for r in reports for note in r.video_notes], [name for r in reports for name in r.refused],
        )  # fmt: skip


def plan_jobs(inputs: list[Path], output: Path) -> list[tuple[Path, Path]]:
    """(input file, output file) pairs; folders keep their relative layout under ``output``."""
    check_inputs(inputs)
    single_file = (
        len(inputs) == 1 and inputs[0].is_file() and output.suffix.lower() in (*_KEEP_SUFFIXES, *VIDEO_SUFFIXES)
    )
    if single_file:
        _check_outputs([(inputs[0], output)])
        return [(inputs[0], output)]
    if output.exists() and not output.is_dir():
        raise UsageError(
            f"-o '{output}' is an existing file that is not a picture or video ganforge writes; "
            "name an output folder, or an image or video file for a single input"
        )
    if output.suffix.lower() in (*_KEEP_SUFFIXES, *VIDEO_SUFFIXES) and not output.is_dir():
        what = f"{len(inputs)} inputs" if len(inputs) > 1 else f"the folder '{inputs[0]}'"
        raise UsageError(
            f"-o '{output}' names a file, but {what} need an output folder; "
            f"pass -o {output.with_suffix('')} (a folder), or colorize one file at a time"
        )
    jobs = []
    outputs = output.resolve()
    for item in inputs:
        if item.is_file():
            jobs.append((item, output / _output_name(Path(item.name))))
            continue
        for path in sorted(p for p in item.rglob("*") if p.is_file()):
            if outputs != item.resolve() and path.resolve().is_relative_to(outputs):
                continue  # an output folder inside the input folder: earlier results, not photos to colorize
            if path.suffix.lower() not in (*IMAGE_SUFFIXES, *VIDEO_SUFFIXES):
                log.warning("skipping %s: not an image or video file", path)
                continue
            jobs.append((path, output / _output_name(path.relative_to(item))))
    _check_outputs(jobs)
    return jobs


def _check_outputs(jobs: list[tuple[Path, Path]]) -> None:
    """Never write over an input, and never let two inputs share one output name."""
    sources = {source.resolve(): source for source, _ in jobs}
    claimed: dict[Path, Path] = {}
    for source, target in jobs:
        resolved = target.resolve()
        if resolved in sources:
            raise UsageError(
                f"the output for '{source}' would be '{target}', which is an input: ganforge never writes over "
                "a picture it reads; pass another -o"
            )
        if resolved in claimed:
            raise UsageError(
                f"'{claimed[resolved]}' and '{source}' would both be written to '{target}'; "
                "colorize them into separate -o folders or rename one"
            )
        claimed[resolved] = source


def _output_name(relative: Path) -> Path:
    if relative.suffix.lower() in VIDEO_SUFFIXES:
        return relative
    return relative if relative.suffix.lower() in _KEEP_SUFFIXES else relative.with_suffix(".png")


def _save(image: Image.Image, path: Path) -> None:
    image = image.convert("RGB") if path.suffix.lower() in (".jpg", ".jpeg") else image
    with atomic_path(path) as tmp:
        image.save(tmp, format=Image.registered_extensions()[path.suffix.lower()], quality=95)


def _variant(path: Path, tag: str, suffix: str | None = None) -> Path:
    return path.with_name(f"{path.stem}_{tag}{suffix or path.suffix}")


def plan(inputs: list[Path], output: Path, options: ColorizeOptions) -> list[tuple[Path, Path]]:
    """The jobs of ``colorize INPUT... -o OUTPUT``, refused before any model loads when they cannot run."""
    if options.reference is not None and not options.reference.is_file():
        raise UsageError(f"--reference '{options.reference}' is not a file; name a color photo")
    jobs = plan_jobs(inputs, output)
    if not jobs:
        raise UsageError(f"no images found in {', '.join(map(str, inputs))}")
    if options.hints is not None and (len(jobs) != 1 or jobs[0][0].suffix.lower() in VIDEO_SUFFIXES):
        raise UsageError("--hints are points on one photo: give one picture as the INPUT")
    if len(working_sizes(options.size)) > 1 and any(source.suffix.lower() in VIDEO_SUFFIXES for source, _ in jobs):
        raise UsageError(
            "a video is colorized at one working size: pass one --size, or colorize the videos apart from the pictures"
        )
    return jobs


def colorize_files(
    colorizer: Colorizer, jobs: list[tuple[Path, Path]], options: ColorizeOptions, shard: tuple[int, int] = (0, 1)
) -> ColorizeReport:
    """Colorize the (input, output) ``jobs`` of :func:`plan`; ``shard = (index, count)``: this process's share of several."""
    index, count = shard
    jobs = jobs[index::count]
    if options.samples and not colorizer.noise_dim:
        raise UsageError("--samples needs a model with a noise input (e.g. one trained from recipes/diverse.yaml)")
    if (options.confidence or options.desaturate_below is not None) and not colorizer.has_confidence:
        raise UsageError(
            "--confidence and --desaturate-below need a classification model (generator 'zhang') or a noise model"
        )
    report = ColorizeReport()
    reference = _open_reference(options.reference) if options.reference else None
    with (  # pictures, videos and confidence maps alike
        colorizer.using_decoding(options.temperature, options.vividness),
        colorizer.using_reference(reference, options.reference_strength),
    ):
        for source, target in tqdm(jobs, desc="colorize", unit="image", disable=len(jobs) < 2 or index > 0):
            _colorize_one(colorizer, source, target, options, report)
    return report


def _open_reference(path: Path) -> Image.Image:
    try:
        return open_image(path)
    except UnreadableImage as exc:
        raise UsageError(f"--reference '{path}' is not a readable picture ({exc})") from None


def _colorize_one(
    colorizer: Colorizer, source: Path, target: Path, options: ColorizeOptions, report: ColorizeReport
) -> None:
    """One picture or video of the job list; what happened goes into ``report``."""
    if target.exists() and not options.overwrite:
        report.skipped_existing += 1
        return
    if source.suffix.lower() in VIDEO_SUFFIXES:
        video = colorize_video(colorizer, source, target, options.video)
        report.written.append(target)
        report.video_notes.append(f"{source.name}: {video.summary()}")
        return
    try:
        image = open_image(source)
    except UnreadableImage as exc:
        log.warning("skipping %s: %s", source, exc)
        report.unreadable.append(str(source))
        return
    if not is_grayscale(image):
        report.color_inputs += 1
    try:
        _write_picture(colorizer, image, target, options, report)
    except PictureSizeError as exc:  # raised before anything is written
        log.warning("skipping %s: %s", source, exc)
        report.refused.append(str(source))


def _write_picture(
    colorizer: Colorizer, image: Image.Image, target: Path, options: ColorizeOptions, report: ColorizeReport
) -> None:
    call = {
        "size": options.size,
        "desaturate_below": options.desaturate_below,
        "upsample": options.upsample,
        "hints": options.hints,
    }
    if options.samples:
        for i, sample in enumerate(colorizer.sample(image, options.samples, **call), start=1):
            _save(sample, _variant(target, f"sample{i}"))
            report.written.append(_variant(target, f"sample{i}"))
    else:
        _save(colorizer(image, **call), target)
        report.written.append(target)
    if options.confidence:
        confidence_path = _variant(target, "confidence", ".png")
        _save(colorizer.confidence(image, size=options.size), confidence_path)
        report.written.append(confidence_path)
