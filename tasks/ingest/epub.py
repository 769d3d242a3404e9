"""Reading an untrusted EPUB into a :class:`~castline.model.Book`.

The steps, each in its own module:

- :mod:`tasks.ingest.safezip`: the archive, read in memory within :class:`ZipLimits`;
- :mod:`tasks.ingest.epub_package`: container, package metadata, manifest, spine, cover
  (ebooklib behind a guard that vets every XML document first);
- :mod:`tasks.ingest.epub_nav`: the table of contents (nav or NCX) and landmarks;
- :mod:`tasks.ingest.epub_text`: the readable text of each spine document, as blocks;
- :mod:`tasks.ingest.epub_layout`: the blocks laid end to end, and where chapters start on them
  (an entry owns the text from its anchor up to the next entry's anchor, across documents);
- :mod:`tasks.ingest.epub_chapters`: the chapters' text, and their matter
  (:mod:`tasks.ingest.epub_matter`: front, body or back).

The cover and the book's pronunciation lexicons (PLS, unparsed: :mod:`castline.text.lexicon`
reads them) are read from the package's manifest.
"""

from __future__ import annotations

from pathlib import Path

from castline.errors import EpubError
from castline.model import Book
from castline.text.lexicon import MAX_LEXICON_BYTES
from tasks.ingest.epub_chapters import build_chapters
from tasks.ingest.epub_layout import Stream, add_document_marks, add_synthetic_marks, fallback_marks, toc_marks
from tasks.ingest.epub_nav import read_landmarks
from tasks.ingest.epub_package import cover_candidates, load_package, read_cover, read_lexicons
from tasks.ingest.safezip import SafeZip, ZipLimits

__all__ = ["ZipLimits", "read_epub", "is_epub"]


def read_epub(path: Path, limits: ZipLimits = ZipLimits()) -> Book:
    """Read an EPUB 2 or 3 file safely (nothing is extracted to disk).

    Raises :class:`~castline.errors.EpubError` (one line naming the file and the problem) for
    anything that is not a readable EPUB: not a ZIP, a hostile archive or XML document, a
    missing package document. Problems that do not stop reading end up in ``Book.warnings``.
    """
    path = Path(path)
    with SafeZip(path, limits, EpubError, kind="an EPUB") as archive:
        package, parsed = load_package(archive)
        warnings = list(package.warnings)
        stream = Stream.build(package, parsed)
        if not stream.blocks:
            raise EpubError(path, "no readable text in the spine documents")
        landmarks = read_landmarks(package, parsed)
        marks = toc_marks(package, parsed, stream, warnings) or fallback_marks(stream, warnings)
        marks = add_document_marks(add_synthetic_marks(marks, stream), stream, landmarks)
        chapters = build_chapters(marks, stream, landmarks, package.title, warnings)
        covers = [m.path for m in landmarks if "cover" in m.types]
        cover = read_cover(archive, package, cover_candidates(package, parsed, covers))
        lexicons = read_lexicons(archive, package, MAX_LEXICON_BYTES)
        warnings.extend(w for w in package.warnings if w not in warnings)
    return Book(
        source=path,
        title=package.title,
        authors=package.authors,
        language=package.language,
        chapters=tuple(chapters),
        cover=cover,
        warnings=tuple(dict.fromkeys(warnings)),
        pronunciation_lexicons=lexicons,
        epub_version=package.version,
    )


def is_epub(path: Path) -> bool:
    """Whether a file looks like an EPUB: a ZIP whose ``mimetype`` member says so (read safely)."""
    try:
        with SafeZip(Path(path), ZipLimits(), EpubError) as archive:
            if "mimetype" not in archive or archive.declared_size("mimetype") > 1024:
                return False
            return archive.read("mimetype").strip() == b"application/epub+zip"
    except EpubError:
        return False
