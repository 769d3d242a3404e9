"""The parts of an ACX / Findaway delivery that are not audio: the cover and the file list.

ACX asks for a square JPEG cover of at least 2400 x 2400 px in RGB. :func:`acx_cover` makes
one from whatever cover the book has: it decodes it with Pillow (only the common raster
formats: Pillow's EPS reader would run Ghostscript on the bytes), turns it upright by its EXIF
orientation, flattens transparency onto white, converts its colours to sRGB through its ICC
profile when it has one, crops the middle square and writes a quality-95 JPEG. It never
scales: a smaller cover is written as it is, with a warning, since enlarging it would only
hide the problem from the producer, and ACX would still reject a blurry cover.

:func:`write_acx_manifest_csv` writes the list of files a producer uploads, one row per file
with its section title, kind and duration, so titles and order can be checked before upload.
"""

from __future__ import annotations

import csv
import io
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from castline.errors import InputError
from castline.tempfiles import atomic_path

__all__ = [
    "ACX_MIN_COVER_PX",
    "MAX_COVER_PIXELS",
    "COVER_JPEG_QUALITY",
    "ACX_KINDS",
    "ACX_CSV_COLUMNS",
    "acx_cover",
    "AcxTrack",
    "acx_duration",
    "write_acx_manifest_csv",
]

ACX_MIN_COVER_PX = 2400
"""ACX's smallest accepted cover side, in pixels."""
MAX_COVER_PIXELS = 50_000_000
"""Most pixels a cover may have (a 7000 x 7000 cover is 49 million) before it is decoded: a
small file can declare a huge image (a decompression bomb) and take gigabytes to decode."""
COVER_JPEG_QUALITY = 95
_COVER_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF")
"""The formats a cover is decoded from; Pillow would otherwise try all it knows, EPS included."""
_WHITE = (255, 255, 255)
_COVER = Path("cover")
"""What an :class:`InputError` about the cover names (the bytes come from the book, not a file)."""


def _decode(cover: bytes, max_pixels: int) -> Image.Image:
    """The cover decoded; :class:`InputError` naming "cover" when it is not an image, is damaged,
    or has more than ``max_pixels`` pixels (checked from its header, before decoding)."""
    try:
        with warnings.catch_warnings():
            # Pillow only warns between MAX_IMAGE_PIXELS and twice that; a bomb is an error here.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(cover), formats=_COVER_FORMATS)
            width, height = image.size
            if width * height > max_pixels:
                raise InputError(_COVER, f"is {width}x{height} px ({width * height / 1e6:.0f} megapixels): more than the "
                                         f"{max_pixels / 1e6:.0f} megapixels castline decodes (a decompression bomb?)")
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise InputError(_COVER, f"refused as a decompression bomb: {err}") from None
    except UnidentifiedImageError:
        raise InputError(_COVER, f"not an image ({' '.join(_COVER_FORMATS)} are read)") from None
    except (OSError, ValueError, SyntaxError, EOFError) as err:  # Pillow's ways of saying "damaged"
        raise InputError(_COVER, f"damaged image: {err}") from None
    return image


def _flatten(image: Image.Image) -> Image.Image:
    """An RGB copy of ``image`` with any transparency laid over white (JPEG has no alpha, and
    dropping it shows whatever colour the transparent pixels happen to hold, often black)."""
    rgba = image.convert("RGBA")
    background = Image.new("RGB", rgba.size, _WHITE)
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background


def _to_srgb(image: Image.Image, notes: list[str]) -> Image.Image:
    """``image`` as 8-bit sRGB: the colour space ACX (and every web viewer) assumes."""
    icc = image.info.get("icc_profile")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info:
        image = _flatten(image)
    elif image.mode.startswith("I;16") or image.mode in ("I", "F"):  # 16-bit or float grey: scale, don't clip
        image = image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    elif image.mode not in ("RGB", "CMYK", "L"):
        image = image.convert("RGB")
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
            if converted is not None:
                image = converted
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as err:
            notes.append(f"cover: its colour profile could not be applied ({err}); colours converted without it")
    return image.convert("RGB")


def _square(image: Image.Image) -> Image.Image:
    """The middle square of ``image``, its side the shorter of the two."""
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return image.crop((left, top, left + side, top + side))


def acx_cover(cover: bytes | None, out_path: Path, *, max_pixels: int = MAX_COVER_PIXELS) -> list[str]:
    """Write the cover as ACX wants it, a square sRGB JPEG (quality 95), to ``out_path``;
    returns warnings for the producer.

    A cover that is not square is cropped to its middle square (its shorter side), with a
    warning, since the crop may cut its title. It is never scaled: one under 2400 x 2400 px
    is written at its own size, with a warning. No cover: a warning, and nothing is written.
    Raises :class:`InputError` naming "cover" when the bytes are not a readable image or have
    more than ``max_pixels`` pixels.
    """
    if cover is None:
        return [f"no cover: ACX needs a square JPEG cover of at least {ACX_MIN_COVER_PX}x{ACX_MIN_COVER_PX} px"]
    image = _decode(cover, max_pixels)
    notes: list[str] = []
    image = ImageOps.exif_transpose(image)
    width, height = image.size
    image = _square(_to_srgb(image, notes))
    side = image.size[0]
    if width != height:
        notes.append(f"cover is {width}x{height} px, not square: cropped to the middle {side}x{side}")
    if side < ACX_MIN_COVER_PX:
        notes.append(f"cover is {width}x{height} px: ACX asks for at least {ACX_MIN_COVER_PX}x{ACX_MIN_COVER_PX}")
    with atomic_path(Path(out_path)) as temporary:
        # 4:4:4 chroma (subsampling=0) keeps coloured lettering sharp; baseline, not progressive.
        image.save(temporary, format="JPEG", quality=COVER_JPEG_QUALITY, subsampling=0, optimize=True, dpi=(72, 72))
    return notes


ACX_KINDS = ("opening credits", "chapter", "closing credits", "retail sample")
"""What a delivered file is, in ACX's words."""

ACX_CSV_COLUMNS = ("sequence", "file_name", "section_title", "kind", "duration", "duration_s", "book_title", "author", "narrator")
"""The columns of the file list:

- ``sequence``: the file's place in the upload, from 1;
- ``file_name``: the audio file's name as delivered;
- ``section_title``: what the file holds ("Chapter 1: Loomings", "Opening Credits");
- ``kind``: one of :data:`ACX_KINDS`;
- ``duration``: its length as ``h:mm:ss.s`` (what a producer compares with ACX's upload page);
- ``duration_s``: the same in seconds, to the millisecond (for sums and scripts);
- ``book_title``, ``author``, ``narrator``: the book's, repeated on each row so a row stands alone
  in a spreadsheet filter (``narrator`` empty when there is none).
"""


@dataclass(frozen=True)
class AcxTrack:
    """One delivered audio file."""

    file_name: str
    title: str
    duration_s: float
    """Its length in seconds, as measured from the file."""
    kind: str
    """One of :data:`ACX_KINDS`."""


def acx_duration(duration_s: float) -> str:
    """``duration_s`` as ``h:mm:ss.s`` (rounded to a tenth): 3723.46 -> ``1:02:03.5``."""
    tenths = round(duration_s * 10)
    hours, tenths = divmod(tenths, 36_000)
    minutes, tenths = divmod(tenths, 600)
    return f"{hours}:{minutes:02d}:{tenths // 10:02d}.{tenths % 10}"


def write_acx_manifest_csv(
    tracks: Sequence[AcxTrack], book_title: str, author: str, narrator: str | None, out_path: Path
) -> None:
    """The file list a producer hands to ACX / Findaway with the audio (:data:`ACX_CSV_COLUMNS`),
    one row per track in the order given, written to a temporary file and renamed.

    UTF-8 with a byte-order mark, so a spreadsheet opens accented titles correctly. Raises
    ValueError naming ``out_path`` for a kind not in :data:`ACX_KINDS` or a duration that is
    not a finite, non-negative number.
    """
    for track in tracks:
        if track.kind not in ACX_KINDS:
            raise ValueError(f"{out_path}: {track.file_name}: kind {track.kind!r} is not one of {', '.join(ACX_KINDS)}")
        if not math.isfinite(track.duration_s) or track.duration_s < 0:
            raise ValueError(f"{out_path}: {track.file_name}: duration {track.duration_s!r} s is not a finite, non-negative number")
    with atomic_path(Path(out_path)) as temporary, temporary.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(ACX_CSV_COLUMNS)
        for sequence, track in enumerate(tracks, 1):
            writer.writerow((sequence, track.file_name, track.title, track.kind, acx_duration(track.duration_s),
                             f"{track.duration_s:.3f}", book_title, author, narrator or ""))
