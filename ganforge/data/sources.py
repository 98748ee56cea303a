"""Data sources and the loader that turns them into (gray, target) training batches.

A recipe names its data as ``imagefolder:PATH``, ``hub:NAME[:split]`` or
``builtin:NAME`` (a source registered by a plugin, e.g. ``builtin:samples``).
Files are listed through Hugging Face ``datasets``; decoding, cropping and the
color-space split run in DataLoader workers.

Training batches are a pure function of (seed, position): the sampler walks
sample positions, each position picks an image from a per-epoch permutation and
a crop from its own generator. Resuming at step N therefore sees exactly the
batches an uninterrupted run would, on any number of processes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, IterableDataset, Sampler

from ganforge.core.components import ColorSpace
from ganforge.core.config import GrayAugmentConfig, HintsConfig
from ganforge.core.errors import UsageError, where
from ganforge.core.images import IMAGE_SUFFIXES, UnreadableImage, is_grayscale, open_image, to_tensor
from ganforge.data.degrade import simulate_black_and_white
from ganforge.data.hints import simulate_hints

log = logging.getLogger(__name__)

SCHEMES = ("imagefolder", "hub", "builtin")


class ImageSource(Protocol):
    """Anything indexable that yields decoded pictures; what a ``builtin:`` plugin registers a factory for."""

    def __len__(self) -> int: ...

    def load(self, index: int) -> Image.Image:
        """The picture at ``index`` (mode RGB or L); raise :class:`UnreadableImage` to have it skipped."""

    def describe(self, index: int) -> str:
        """What to call the picture in a warning (usually its path)."""


class HFImageSource:
    """Images in a Hugging Face dataset column, decoded by ganforge rather than by ``datasets``."""

    def __init__(self, dataset: Any, column: str) -> None:
        from datasets import Image as ImageFeature

        self.dataset = dataset.cast_column(column, ImageFeature(decode=False))
        self.column = column

    def __len__(self) -> int:
        return len(self.dataset)

    def load(self, index: int) -> Image.Image:
        return decode_record(self.dataset[index][self.column])

    def describe(self, index: int) -> str:
        item = self.dataset[index][self.column]
        return item.get("path") or f"row {index}"


def decode_record(item: dict[str, Any]) -> Image.Image:
    """A ``datasets`` image cell left undecoded (its bytes, or a path), decoded the way ganforge decodes files."""
    return open_image(item["bytes"] if item.get("bytes") else item["path"])


def image_folder(path: str | Path) -> HFImageSource:
    """Every image under ``path`` (recursively), through ``datasets``' imagefolder builder."""
    from datasets import load_dataset

    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise UsageError(f"folder '{folder}' does not exist")
    if not any(p.suffix.lower() in IMAGE_SUFFIXES for p in folder.rglob("*") if p.is_file()):
        raise UsageError(f"folder '{folder}' holds no images ({', '.join(IMAGE_SUFFIXES)})")
    pattern = os.path.join(str(folder.resolve()), "**")
    dataset = load_dataset("imagefolder", data_files={"train": pattern}, split="train", drop_labels=True)
    return HFImageSource(dataset, "image")


def hub_dataset(spec: str) -> HFImageSource:
    """``NAME[:split]`` on the Hugging Face Hub; honours ``HF_HUB_OFFLINE=1`` and the local cache."""
    return HFImageSource(*_load_hub(spec, streaming=False))


def _load_hub(spec: str, streaming: bool) -> tuple[Any, str]:
    """``NAME[:split]`` loaded (or opened as a stream) with ``datasets``, and its first image column."""
    from datasets import load_dataset

    name, _, split = spec.partition(":")
    try:
        dataset = load_dataset(name, split=split or "train", streaming=streaming)
    except Exception as exc:  # datasets raises many types for "not reachable / not cached / no such split"
        offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
        why = "HF_HUB_OFFLINE is set and it is not in the local cache" if offline else f"{type(exc).__name__}: {exc}"
        advice = "check its name and the connection" if streaming else "download it once while online"
        raise UsageError(
            f"cannot {'stream' if streaming else 'load'} Hub dataset '{name}' (split '{split or 'train'}'): {why}; "
            f"{advice}, or use imagefolder:PATH"
        ) from None
    column = image_column(dataset.features or {})
    if column is None:
        raise UsageError(f"Hub dataset '{name}' has no image column (columns: {', '.join(dataset.features or {})})")
    return dataset, column


class MixedSource:
    """Several sources as one, each drawn with its own weight: e.g. to keep one large set from dominating.

    Indices run through the sources in order (for evaluation and listing);
    training draws a source by weight, then an image uniformly within it.
    """

    def __init__(self, parts: list[tuple[ImageSource, float]]) -> None:
        self.sources = [source for source, _ in parts]
        weights = np.array([weight for _, weight in parts], dtype=np.float64)
        self.probabilities = weights / weights.sum()
        self.offsets = np.cumsum([0] + [len(source) for source in self.sources])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def _locate(self, index: int) -> tuple[ImageSource, int]:
        part = int(np.searchsorted(self.offsets, index, side="right")) - 1
        return self.sources[part], index - int(self.offsets[part])

    def load(self, index: int) -> Image.Image:
        source, local = self._locate(index)
        return source.load(local)

    def describe(self, index: int) -> str:
        source, local = self._locate(index)
        return source.describe(local)

    def draw(self, rng: np.random.Generator) -> int:
        """An image index: a source by weight, then an image in it uniformly."""
        part = int(rng.choice(len(self.sources), p=self.probabilities))
        return int(self.offsets[part]) + int(rng.integers(len(self.sources[part])))


def mixture_parts(value: str | list[Any], key: str) -> list[tuple[str, float]]:
    """A recipe's data value as ``(source, weight)`` pairs (one source weighs 1); bad entries name ``key``."""
    if isinstance(value, str):
        return [(value, 1.0)]
    parts = []
    for i, item in enumerate(value):
        if isinstance(item, str):
            parts.append((item, 1.0))
            continue
        if not isinstance(item, dict) or not isinstance(item.get("source"), str) or set(item) - {"source", "weight"}:
            raise UsageError(
                f"{where(f'{key}.{i}')} must be a data source or {{source: SOURCE, weight: W}}, got {item!r}"
            )
        weight = item.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0:
            raise UsageError(f"{where(f'{key}.{i}.weight')} must be a positive number, got {weight!r}")
        parts.append((item["source"], float(weight)))
    if not parts:
        raise UsageError(f"{where(key)} is an empty list; name at least one data source")
    return parts


def open_source(spec: str | list[Any], key: str) -> ImageSource:
    """Resolve a recipe's data value; every failure names the recipe ``key``.

    ``spec`` is one source string, or a list of them (each optionally
    ``{source: SOURCE, weight: W}``) mixed by weight into a :class:`MixedSource`.
    """
    if isinstance(spec, list):
        parts = mixture_parts(spec, key)
        return MixedSource([(open_source(s, f"{key}.{i}"), w) for i, (s, w) in enumerate(parts)])
    if not isinstance(spec, str):
        raise UsageError(f"{where(key)} must be a data source string or a list of them, got {spec!r}")
    return _open_one_source(spec, key)


def _open_one_source(spec: str, key: str) -> ImageSource:
    from ganforge.core.plugins import get_registries

    scheme, sep, rest = spec.partition(":")
    try:
        if not sep or scheme not in SCHEMES:
            raise UsageError(f"'{spec}' is not a data source; use one of {', '.join(s + ':...' for s in SCHEMES)}")
        if scheme == "imagefolder":
            source: ImageSource = image_folder(rest)
        elif scheme == "hub":
            source = hub_dataset(rest)
        else:
            source = get_registries().sources.create(rest)
    except UsageError as exc:
        raise UsageError(f"{where(key)}: {exc}") from None
    if len(source) == 0:
        raise UsageError(f"{where(key)}: data source '{spec}' is empty")
    return source


# --------------------------------------------------------------------------- datasets


def _resize_short_side(image: Image.Image, short: int) -> Image.Image:
    w, h = image.size
    scale = short / min(w, h)
    return image.resize((max(short, round(w * scale)), max(short, round(h * scale))), Image.Resampling.BICUBIC)


def center_crop(image: Image.Image, size: int) -> Image.Image:
    """The central ``size`` x ``size`` square after scaling the short side to ``size``: how images are evaluated."""
    image = _resize_short_side(image, size)
    left, top = (image.width - size) // 2, (image.height - size) // 2
    return image.crop((left, top, left + size, top + size))


def _epoch_permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(n)


class ColorizationDataset(Dataset):
    """Position -> ``{"gray", "target"}`` in the color space; ``None`` for a skipped picture.

    ``train=True``: a random square covering ``crop_scale`` of the short side, resized
    to ``size``, and a random flip, drawn from (seed, position); images
    visited in a fresh permutation every epoch (a :class:`MixedSource` is sampled
    by weight instead); with ``gray_augment`` enabled the gray input is a
    simulated black-and-white print (:mod:`ganforge.data.degrade`). ``train=False``: position is the
    image index, center crop.
    """

    def __init__(
        self,
        source: ImageSource,
        color_space: ColorSpace,
        size: int,
        seed: int,
        train: bool,
        gray_augment: GrayAugmentConfig | None = None,
        crop_scale: tuple[float, float] = (0.67, 1.0),
        hints: HintsConfig | None = None,
    ) -> None:
        self.source = source
        self.crop_scale = crop_scale
        self.hints = hints if hints is not None and hints.enabled and train else None
        self.gray_augment = gray_augment if gray_augment is not None and gray_augment.enabled and train else None
        self.color_space = color_space
        self.size = size
        self.seed = seed
        self.train = train
        self._permutation: tuple[int, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.source)

    def _image_index(self, position: int) -> int:
        if not self.train:
            return position
        if isinstance(self.source, MixedSource):
            return self.source.draw(np.random.default_rng([self.seed, 2, position]))
        epoch, offset = divmod(position, len(self.source))
        if self._permutation is None or self._permutation[0] != epoch:
            self._permutation = (epoch, _epoch_permutation(len(self.source), self.seed, epoch))
        return int(self._permutation[1][offset])

    def _crop(self, image: Image.Image, position: int) -> Image.Image:
        if not self.train:
            return center_crop(image, self.size)
        rng = np.random.default_rng([self.seed, 1, position])
        low, high = self.crop_scale
        side = min(image.size) * rng.uniform(low, high)
        left, top = rng.uniform(0, image.width - side), rng.uniform(0, image.height - side)
        box = (left, top, left + side, top + side)
        image = image.resize((self.size, self.size), Image.Resampling.BICUBIC, box=box)
        return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if rng.random() < 0.5 else image

    def __getitem__(self, position: int) -> dict[str, torch.Tensor] | None:
        index = self._image_index(position)
        try:
            image = self.source.load(index)
        except UnreadableImage as exc:
            log.warning("skipping unreadable image %s: %s", self.source.describe(index), exc)
            return None
        return self.prepare(image, position, self.source.describe(index))

    def prepare(self, image: Image.Image, position: int, name: str) -> dict[str, torch.Tensor] | None:
        """The training pair of a decoded picture at ``position``; ``None`` (skipped) for a gray one."""
        if is_grayscale(image):
            log.warning("skipping grayscale image %s (it would teach the model to output gray)", name)
            return None
        rgb = to_tensor(self._crop(image, position)).unsqueeze(0)
        gray, target = self.color_space.split(rgb)
        if self.gray_augment is not None:
            rng = np.random.default_rng([self.seed, 3, position])
            gray = self.color_space.encode_gray(simulate_black_and_white(rgb, self.gray_augment, rng))
        item = {"gray": gray[0], "target": target[0]}
        if self.hints is not None:
            item["hints"] = simulate_hints(target[0], self.hints, np.random.default_rng([self.seed, 4, position]))
        return item


def collate(items: list[dict[str, torch.Tensor] | None]) -> dict[str, Any]:
    """Stack the good items; ``skipped`` counts the pictures that were left out."""
    good = [item for item in items if item is not None]
    batch: dict[str, Any] = {"skipped": len(items) - len(good)}
    if good:
        batch.update({key: torch.stack([item[key] for item in good]) for key in good[0]})
    return batch


class PositionSampler(Sampler[int]):
    """Endless sample positions for one process, starting at micro-batch ``start``.

    Micro-batch ``t`` of the whole job covers positions ``[t*W*B, (t+1)*W*B)``;
    process ``rank`` of ``W`` takes its own slice of ``B``.
    """

    def __init__(self, batch_size: int, start: int = 0, rank: int = 0, world: int = 1) -> None:
        self.batch_size, self.start, self.rank, self.world = batch_size, start, rank, world

    def __iter__(self) -> Iterator[int]:
        step = self.start
        while True:
            first = (step * self.world + self.rank) * self.batch_size
            yield from range(first, first + self.batch_size)
            step += 1


def training_loader(
    source: ImageSource,
    color_space: ColorSpace,
    *,
    size: int,
    batch_size: int,
    seed: int,
    num_workers: int,
    start: int = 0,
    rank: int = 0,
    world: int = 1,
    gray_augment: GrayAugmentConfig | None = None,
    crop_scale: tuple[float, float] = (0.67, 1.0),
    streaming: bool = False,
    hints: HintsConfig | None = None,
) -> DataLoader:
    """An endless loader of training batches beginning at micro-batch ``start``.

    ``streaming``: ``source`` is a ``datasets`` stream (:func:`hub_stream`), read in
    this process, since a stream's order is only repeatable when one reader walks it.
    """
    if streaming:
        stream = StreamingColorizationDataset(
            source, color_space, size, seed, batch_size=batch_size, start=start, rank=rank, world=world,
            gray_augment=gray_augment, crop_scale=crop_scale, hints=hints,
        )  # fmt: skip
        return DataLoader(stream, batch_size=batch_size, num_workers=0, collate_fn=collate)
    dataset = ColorizationDataset(
        source, color_space, size, seed, train=True, gray_augment=gray_augment, crop_scale=crop_scale, hints=hints
    )
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=PositionSampler(batch_size, start, rank, world),
        num_workers=num_workers,
        collate_fn=collate,
        persistent_workers=num_workers > 0,
        prefetch_factor=4 if num_workers > 0 else None,
        # its own generator: starting the loader then draws nothing from the global RNG, which a
        # resumed run has just restored for the steps' noise and latent draws
        generator=torch.Generator().manual_seed(seed),
    )


class StreamingColorizationDataset(ColorizationDataset, IterableDataset):
    """Training pairs from a streamed Hub data set: nothing is downloaded whole.

    Each process reads its own share of the stream (``datasets``'
    ``split_dataset_by_node``: its own shards, or every ``world``-th record) in
    an order shuffled per epoch within a buffer. Position ``p`` is this
    process's ``p``-th record, so crops are drawn as in :class:`ColorizationDataset`,
    and resuming at micro-batch ``start`` reads past the records already used
    without decoding them.
    """

    def __init__(self, stream: Any, color_space: ColorSpace, size: int, seed: int, *, batch_size: int, start: int = 0,
                 rank: int = 0, world: int = 1, shuffle_buffer: int = 1000, **options: Any) -> None:  # fmt: skip
        from datasets.distributed import split_dataset_by_node

        super().__init__(stream, color_space, size, seed, train=True, **options)
        self.stream = split_dataset_by_node(
            stream.shuffle(seed=seed, buffer_size=shuffle_buffer), rank=rank, world_size=world
        )
        self.first = start * batch_size

    def __len__(self) -> int:
        raise TypeError("a streamed data set has no length")

    def _records(self) -> Iterator[dict[str, Any]]:
        epoch = 0
        while True:
            self.stream.set_epoch(epoch)
            empty = True
            for record in self.stream:
                empty = False
                yield record
            if empty:
                raise UsageError("recipe key 'data.train': the streamed data set has no records")
            epoch += 1

    def __iter__(self) -> Iterator[dict[str, torch.Tensor] | None]:
        column = image_column(self.stream.features)
        for position, record in enumerate(self._records()):
            if position < self.first:
                continue  # used before the run was interrupted: read past, not decoded
            item = record[column]
            name = item.get("path") or f"record {position}"
            try:
                image = decode_record(item)
            except UnreadableImage as exc:
                log.warning("skipping unreadable image %s: %s", name, exc)
                yield None
                continue
            yield self.prepare(image, position, name)


def hub_stream(spec: str, key: str) -> Any:
    """``hub:NAME[:split]`` as a ``datasets`` stream whose image column is left undecoded (ganforge decodes)."""
    from datasets import Image as ImageFeature

    scheme, _, rest = spec.partition(":") if isinstance(spec, str) else ("", "", "")
    if scheme != "hub":
        raise UsageError(f"{where(key)}: data.streaming reads one hub:NAME[:split] source, got {spec!r}")
    try:
        stream, column = _load_hub(rest, streaming=True)
    except UsageError as exc:
        raise UsageError(f"{where(key)}: {exc}") from None
    return stream.cast_column(column, ImageFeature(decode=False))


def image_column(features: Any) -> str | None:
    """The first image column of a ``datasets`` feature mapping."""
    from datasets import Image as ImageFeature

    return next((name for name, feature in features.items() if isinstance(feature, ImageFeature)), None)


class ListSource:
    """A few pictures held in memory, as an :class:`ImageSource` (the first records of a stream, for sample grids)."""

    def __init__(self, pictures: list[tuple[str, Image.Image]]) -> None:
        self.pictures = pictures

    def __len__(self) -> int:
        return len(self.pictures)

    def load(self, index: int) -> Image.Image:
        return self.pictures[index][1]

    def describe(self, index: int) -> str:
        return self.pictures[index][0]


def stream_head(spec: str, key: str, count: int) -> ListSource:
    """The first ``count`` readable pictures of a streamed ``hub:`` source; only those records are read."""
    stream = hub_stream(spec, key)
    column = image_column(stream.features)
    pictures = []
    for index, record in enumerate(stream):
        item = record[column]
        try:
            pictures.append((item.get("path") or f"record {index}", decode_record(item)))
        except UnreadableImage:
            continue
        if len(pictures) == count:
            break
    if not pictures:
        raise UsageError(f"{where(key)}: the streamed data set '{spec}' has no readable image")
    return ListSource(pictures)


def validation_batch(source: ImageSource, color_space: ColorSpace, *, size: int, count: int) -> dict[str, Any]:
    """The first ``count`` readable color pictures, center-cropped: the fixed images of sample grids.

    From a :class:`MixedSource` they are taken from each part in turn, so every validation set shows.
    """
    dataset = ColorizationDataset(source, color_space, size, seed=0, train=False)
    items = []
    for index in _interleaved(source):
        item = dataset[index]
        if item is not None:
            items.append(item)
        if len(items) == count:
            break
    return collate(items)


def _interleaved(source: ImageSource) -> Iterator[int]:
    """Every index of ``source``; a :class:`MixedSource`'s parts alternate (first of each, second of each, ...)."""
    if not isinstance(source, MixedSource):
        yield from range(len(source))
        return
    sizes = [len(part) for part in source.sources]
    for rank in range(max(sizes)):
        for offset, size in zip(source.offsets, sizes):
            if rank < size:
                yield int(offset) + rank
