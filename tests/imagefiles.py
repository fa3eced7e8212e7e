"""Small image files for tests: written with Pillow, never downloaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_png(path: Path, seed: int, size: int = 12, mode: str = "L") -> Path:
    """Write a small random PNG to ``path`` (parents created) and return it."""
    rng = np.random.default_rng(seed)
    shape = (size, size) if mode == "L" else (size, size, 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode=mode).save(path)
    return path


def write_manifest_dataset(
    root: Path, per_class: int = 6, classes: tuple[str, ...] = ("cat", "dog"), with_id: bool = True
) -> Path:
    """Write images and a manifest.csv under ``root``; return the manifest path."""
    lines = ["id,path,label"] if with_id else ["path,label"]
    n = 0
    for c in classes:
        for _ in range(per_class):
            rel = f"img/{c}_{n:03d}.png"
            write_png(root / rel, n)
            lines.append(f"s{n:03d},{rel},{c}" if with_id else f"{rel},{c}")
            n += 1
    manifest = root / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def write_folder_dataset(
    root: Path, per_class: int = 6, classes: tuple[str, ...] = ("cat", "dog")
) -> Path:
    """Write ``root/<class>/NNN.png`` images; return ``root``."""
    n = 0
    for c in classes:
        for _ in range(per_class):
            write_png(root / c / f"{n:03d}.png", n)
            n += 1
    return root


def write_digit_pngs(root: Path, per_class: int, seed: int) -> tuple[list[str], np.ndarray]:
    """Write ``per_class`` of sklearn's digits of each class, shuffled, as 8x8 grayscale
    PNG files under ``root``; return their paths and labels."""
    from sklearn.datasets import load_digits

    data = load_digits()
    rng = np.random.default_rng(seed)
    chosen = np.concatenate(
        [rng.choice(np.flatnonzero(data.target == k), per_class, replace=False) for k in range(10)]
    )
    chosen = rng.permutation(chosen)
    paths = []
    for i, index in enumerate(chosen):
        path = root / f"{i:04d}.png"
        Image.fromarray((data.images[index] * 255 / 16).astype(np.uint8), mode="L").save(path)
        paths.append(str(path))
    return paths, data.target[chosen].astype(np.int64)
