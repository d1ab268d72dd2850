"""Reading export files as merchants get them: CSV or XLSX, UTF-8 (with or without BOM), UTF-16
(Excel's "Unicode text"), GBK/GB18030; a title line or two above the header; rows streamed, never the
whole file in memory.

`open_export()` checks the whole file first (encoding, structure, row count) so that an unreadable
file is refused before anything is imported, then `ExportFile.rows()` streams the data rows.
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.utils.translation import gettext as _

from .presets import Preset
from .rules import cell_text

# How far down to look for the header row (platform exports put a title or notes above it).
HEADER_SEARCH_ROWS = 15
_SAMPLE = 1 << 20
csv.field_size_limit(1 << 24)


class UnreadableFile(Exception):
    """The file cannot be imported at all; the message says why. Nothing was imported."""

    def __init__(self, message: str, *, code: str = "unreadable") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass
class ExportFile:
    path: Path
    kind: str  # "csv" or "xlsx"
    encoding: str = ""
    delimiter: str = ","
    header_row: int = 0  # 1-based row number of the header, as a spreadsheet shows it
    headers: list[str] = field(default_factory=list)
    columns: dict[str, int] = field(default_factory=dict)
    data_rows: int = 0  # non-blank rows below the header
    sheet: str = ""

    def rows(self) -> Iterator[tuple[int, list]]:
        """(row number, cells) for every non-blank row below the header."""
        if self.kind == "xlsx":
            yield from _xlsx_rows(self.path, self.sheet, self.header_row)
        else:
            yield from _csv_rows(self.path, self.encoding, self.delimiter, self.header_row)


def open_export(path: str | Path, preset: Preset) -> ExportFile:
    """Detect format and encoding, find the header row for `preset`, check every row decodes."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            head = fh.read(_SAMPLE)
    except OSError as exc:
        raise UnreadableFile(_("The file cannot be opened: %(error)s") % {"error": exc}) from exc
    if not head.strip():
        raise UnreadableFile(_("The file is empty."), code="empty")
    if head[:4] == b"PK\x03\x04":
        return _open_xlsx(path, preset)
    if head[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise UnreadableFile(
            _("This is an old Excel .xls file; save it as .xlsx or CSV and upload it again."),
            code="xls",
        )
    if b"\x00" in head[:4096] and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise UnreadableFile(_("This is not a CSV or XLSX file."), code="binary")
    return _open_csv(path, head, preset)


# --- CSV ------------------------------------------------------------------------------------------


def _guess_encoding(head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        # GB18030 is a superset of GBK and GB2312, which Tmall and JD exports use.
        return "gb18030"


def _sniff_delimiter(sample_text: str) -> str:
    first_lines = sample_text.splitlines()[:HEADER_SEARCH_ROWS]
    tabs = sum(line.count("\t") for line in first_lines)
    commas = sum(line.count(",") for line in first_lines)
    return "\t" if tabs > commas else ","


def _csv_reader(path: Path, encoding: str, delimiter: str):
    handle = path.open("r", encoding=encoding, newline="", errors="strict")
    return handle, csv.reader(handle, delimiter=delimiter)


def _open_csv(path: Path, head: bytes, preset: Preset) -> ExportFile:
    encoding = _guess_encoding(head)
    candidates = [encoding] + (["gb18030"] if encoding == "utf-8" else [])
    last_error: Exception | None = None
    for enc in candidates:
        try:
            sample = head.decode(enc, errors="ignore")
            delimiter = _sniff_delimiter(sample)
            return _scan_csv(path, enc, delimiter, preset)
        except UnicodeDecodeError as exc:
            last_error = exc
            continue
        except csv.Error as exc:
            raise UnreadableFile(
                _("The CSV file is malformed: %(error)s") % {"error": exc}, code="malformed"
            ) from exc
    raise UnreadableFile(
        _("The file's text encoding could not be read (tried UTF-8 and GBK/GB18030): %(error)s")
        % {"error": last_error},
        code="encoding",
    )


def _scan_csv(path: Path, encoding: str, delimiter: str, preset: Preset) -> ExportFile:
    handle, reader = _csv_reader(path, encoding, delimiter)
    export = ExportFile(path=path, kind="csv", encoding=encoding, delimiter=delimiter)
    with handle:
        candidates: list[tuple[int, list]] = []
        row_number = 0
        for row in reader:
            row_number += 1
            if not any(c.strip() for c in row):
                continue
            candidates.append((row_number, row))
            if len(candidates) >= HEADER_SEARCH_ROWS:
                break
        _choose_header(export, candidates, preset)
        # the rest of the file: every byte must decode, count the data rows
        data_rows = sum(1 for number, _row in candidates if number > export.header_row)
        for row in reader:
            if any(row):
                data_rows += 1
        export.data_rows = data_rows
    return export


def _csv_rows(path: Path, encoding: str, delimiter: str, header_row: int):
    handle, reader = _csv_reader(path, encoding, delimiter)
    with handle:
        number = 0
        for row in reader:
            number += 1
            if number <= header_row or not row:
                continue
            for cell in row:
                if cell and not cell.isspace():
                    yield number, row
                    break


# --- XLSX -----------------------------------------------------------------------------------------


def _open_xlsx(path: Path, preset: Preset) -> ExportFile:
    from python_calamine import CalamineError, load_workbook

    try:
        workbook = load_workbook(str(path))
    except (CalamineError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UnreadableFile(
            _("The Excel file cannot be read: %(error)s") % {"error": exc}, code="xlsx"
        ) from exc
    last: UnreadableFile | None = None
    try:
        for name in workbook.sheet_names:
            sheet = workbook.get_sheet_by_name(name)
            export = ExportFile(path=path, kind="xlsx", sheet=name)
            candidates = []
            for number, row in enumerate(sheet.iter_rows(), start=1):
                if any(cell_text(c) for c in row):
                    candidates.append((number, list(row)))
                if len(candidates) >= HEADER_SEARCH_ROWS:
                    break
            try:
                _choose_header(export, candidates, preset)
            except UnreadableFile as exc:
                last = last or exc
                continue
            export.data_rows = sum(1 for _ in _xlsx_rows(path, name, export.header_row))
            return export
    finally:
        workbook.close()
    raise last or UnreadableFile(_("The workbook has no sheets."), code="empty")


def _xlsx_rows(path: Path, sheet_name: str, header_row: int):
    from python_calamine import load_workbook

    workbook = load_workbook(str(path))
    try:
        sheet = workbook.get_sheet_by_name(sheet_name)
        for number, row in enumerate(sheet.iter_rows(), start=1):
            if number <= header_row:
                continue
            for cell in row:
                if (
                    cell is not None
                    and cell != ""
                    and not (isinstance(cell, str) and cell.isspace())
                ):
                    yield number, list(row)
                    break
    finally:
        workbook.close()


# --- header ---------------------------------------------------------------------------------------


def _choose_header(export: ExportFile, candidates: list[tuple[int, list]], preset: Preset) -> None:
    """Pick the first row that carries every required column of the preset."""
    if not candidates:
        raise UnreadableFile(_("The file has no rows."), code="empty")
    best: tuple[int, list[str], list[str]] | None = None
    for number, row in candidates:
        headers = [cell_text(c) for c in row]
        columns, missing = preset.header_index(headers)
        if not missing:
            export.header_row = number
            export.headers = headers
            export.columns = columns
            return
        if best is None or len(missing) < len(best[2]):
            best = (number, headers, missing)
    assert best is not None
    _number, headers, missing = best
    shown = ", ".join(h for h in headers if h)[:300]
    raise UnreadableFile(
        _(
            "This does not look like a %(preset)s export: missing column(s) %(missing)s. "
            "The header row has: %(found)s"
        )
        % {"preset": preset.label, "missing": ", ".join(missing), "found": shown},
        code="unknown_header",
    )


def sniff_text(path: Path) -> str:
    """A short, decoded look at the beginning of a file (for error pages)."""
    with path.open("rb") as fh:
        head = fh.read(4096)
    return io.BytesIO(head).read().decode(_guess_encoding(head), errors="replace")
