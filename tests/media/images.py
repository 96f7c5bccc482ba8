"""Images of every probed format, written by Pillow (AVIF too), some with EXIF orientation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from tests.media import Entry

_ORIENTATION = 0x0112


def _picture(width: int, height: int, seed: int) -> Image.Image:
    """A noisy picture: it compresses badly, so bench files have realistic sizes."""
    rng = np.random.default_rng(seed)
    gradient = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    noise = rng.integers(0, 64, (height, width, 3), dtype=np.uint8)
    pixels = (gradient + noise).clip(0, 255).astype(np.uint8)
    return Image.fromarray(np.broadcast_to(pixels, (height, width, 3)).copy(), "RGB")


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[_ORIENTATION] = orientation
    return exif


def build(root: Path, scale: str) -> list[Entry]:
    big = scale == "bench"
    width, height = (1920, 1080) if big else (640, 480)
    picture = _picture(width, height, 1)
    entries: list[Entry] = []

    def save(name: str, suffix: str, mime: str, image: Image.Image, orientation: int = 1, **options: object) -> None:
        path = root / f"{name}.{suffix}"
        if orientation != 1:
            options["exif"] = _exif(orientation)
        image.save(path, **options)
        w, h = image.size
        if orientation >= 5:
            w, h = h, w
        entries.append(Entry(name, path, "image", {"mime_type": mime, "width": w, "height": h}))

    save("jpeg", "jpg", "image/jpeg", picture, quality=92)
    save("jpeg-exif-6", "jpg", "image/jpeg", picture, orientation=6, quality=85)
    save("jpeg-progressive", "jpg", "image/jpeg", picture.resize((333, 222)), progressive=True)
    save("png", "png", "image/png", picture)
    save("png-exif-8", "png", "image/png", picture.resize((300, 200)), orientation=8)
    save("gif", "gif", "image/gif", picture.resize((120, 80)).convert("P"))
    save("bmp", "bmp", "image/bmp", picture.resize((90, 60)))
    save("webp-lossy", "webp", "image/webp", picture, quality=80)
    save("webp-lossless", "webp", "image/webp", picture.resize((100, 50)), lossless=True)
    save("webp-exif-6", "webp", "image/webp", picture.resize((200, 100)), orientation=6)
    save("tiff", "tif", "image/tiff", picture.resize((320, 240)))
    save("tiff-exif-5", "tif", "image/tiff", picture.resize((320, 240)), orientation=5, compression="tiff_lzw")
    save("avif", "avif", "image/avif", picture.resize((128, 96)), quality=50)
    return entries
