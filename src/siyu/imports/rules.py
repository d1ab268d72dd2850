"""Pure parsing of what platform exports put in their cells: ids, money, times, quantities, headers.

No database here. Every function either returns a clean value or raises `BadValue` with a reason a
merchant can act on; the pipeline turns that into a rejected row with its line number.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.utils.translation import gettext_lazy as _


class BadValue(ValueError):
    """A cell that cannot be used; `reason` is shown to the merchant."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# Placeholders exports use for "nothing here".
EMPTY_MARKERS = frozenset({"", "-", "--", "—", "null", "NULL", "None", "none", "无", "N/A", "n/a"})

_SPACES = re.compile(r"\s+")


def clean_header(text: object) -> str:
    """Canonical form of a column title: full-width forms folded (（）→(), Ａ→A, 全角空格), spaces
    and a leading BOM removed, ASCII lower-cased, a trailing required-marker '*' dropped."""
    if text is None:
        return ""
    value = unicodedata.normalize("NFKC", str(text)).replace("\ufeff", "")
    value = _SPACES.sub("", value).strip("*").strip('"').strip("'")
    return value.lower()


def clean_word(text: object) -> str:
    """Canonical form of a status word: same folding as headers ('买家已付款，等待卖家发货' and
    '买家已付款,等待卖家发货' are the same word)."""
    return clean_header(text)


def cell_text(value: object) -> str:
    """A cell as text: strings stripped, numbers without a spurious '.0', dates ISO."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return value.isoformat(" ")
    return str(value).strip()


def is_empty(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() in EMPTY_MARKERS
    return False


# --- ids ----------------------------------------------------------------------------------------

_EXCEL_FORMULA_TEXT = re.compile(r'^=\s*"(.*)"$')
_SCIENTIFIC = re.compile(r"^[+-]?\d+(\.\d+)?[eE][+-]?\d+$")
_FLOAT_ID = re.compile(r"^(\d+)\.0+$")
_ID_OK = re.compile(r"^[0-9A-Za-z_\-]{1,64}$")
# Float cells above this lose digits (2**53); platform order ids are 16-20 digits long.
_MAX_EXACT_FLOAT = 2**53


def clean_id(value: object, *, label: str = "id") -> str:
    """An order, line or buyer id as the platform wrote it.

    Exports protect long ids from Excel by writing ="3800000000626322189", a leading apostrophe or a
    trailing tab; XLSX cells may hold them as numbers. Ids Excel already turned into 3.8E+18 have lost
    digits for good and are refused.
    """
    if isinstance(value, float):
        if not value.is_integer() or abs(value) >= _MAX_EXACT_FLOAT:
            raise BadValue(
                _("%(label)s %(value)s was stored as a number and lost digits; export it as text")
                % {"label": label, "value": repr(value)}
            )
        return str(int(value))
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    text = unicodedata.normalize("NFKC", str(value or "")).strip().strip("\t")
    match = _EXCEL_FORMULA_TEXT.match(text)
    if match:
        text = match.group(1).strip()
    text = text.lstrip("'").strip().strip('"').strip()
    if text in EMPTY_MARKERS:
        return ""
    if _SCIENTIFIC.match(text):
        raise BadValue(
            _(
                "%(label)s %(value)s was turned into scientific notation by Excel and lost "
                "digits; export the file again"
            )
            % {"label": label, "value": text}
        )
    match = _FLOAT_ID.match(text)
    if match:
        text = match.group(1)
    if not _ID_OK.match(text):
        raise BadValue(_("%(label)s %(value)r is not a valid id") % {"label": label, "value": text})
    return text


def clean_text(value: object, limit: int) -> str:
    """Free text (names, titles, addresses): ="..." and apostrophe guards removed, cut to `limit`."""
    if value is None:
        return ""
    if not isinstance(value, str):
        return cell_text(value)[:limit]
    text = value.strip()
    if text.startswith('="') and text.endswith('"'):
        text = text[2:-1].strip()
    elif text.startswith("'"):
        text = text[1:].strip()
    if text in EMPTY_MARKERS:
        return ""
    return text[:limit]


# --- money --------------------------------------------------------------------------------------

_PLAIN_AMOUNT = re.compile(r"^(\d{1,15})(?:\.(\d{1,2}))?$")
_AMOUNT_NOISE = str.maketrans({",": None, "¥": None, "￥": None, "元": None, " ": None, "\t": None})


def parse_fen(value: object, *, label: str = "amount") -> int | None:
    """'¥1,234.50' -> 123450 fen; empty -> None. Negative or non-numeric amounts are refused."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise BadValue(_("bad amount %(value)r in %(label)s") % {"label": label, "value": value})
    if isinstance(value, int):
        if value < 0:
            raise BadValue(
                _("negative amount %(value)s in %(label)s") % {"label": label, "value": value}
            )
        return value * 100
    if isinstance(value, float):
        if value != value or value < 0:  # NaN or negative
            raise BadValue(
                _("bad amount %(value)r in %(label)s") % {"label": label, "value": value}
            )
        return int((Decimal(repr(value)) * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))
    text = str(value).strip()
    if text in EMPTY_MARKERS:
        return None
    match = _PLAIN_AMOUNT.match(text)
    if match:  # the common case, without Decimal
        frac = (match.group(2) or "").ljust(2, "0")
        return int(match.group(1)) * 100 + int(frac or 0)
    cleaned = unicodedata.normalize("NFKC", text).translate(_AMOUNT_NOISE)
    if cleaned.startswith("="):
        cleaned = cleaned.lstrip("=").strip('"')
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        raise BadValue(
            _("bad amount %(value)r in %(label)s") % {"label": label, "value": text}
        ) from None
    if not amount.is_finite():
        raise BadValue(_("bad amount %(value)r in %(label)s") % {"label": label, "value": text})
    if amount < 0:
        raise BadValue(
            _("negative amount %(value)s in %(label)s") % {"label": label, "value": text}
        )
    return int((amount * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def parse_quantity(value: object, *, label: str = "quantity") -> int | None:
    """'2', '2.0', '2件' -> 2; empty -> None; zero, negative or fractional quantities are refused."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        qty = value
    elif isinstance(value, float):
        if not value.is_integer():
            raise BadValue(
                _("bad quantity %(value)r in %(label)s") % {"label": label, "value": value}
            )
        qty = int(value)
    else:
        text = unicodedata.normalize("NFKC", str(value)).strip()
        if text in EMPTY_MARKERS:
            return None
        text = text.rstrip("件个份盒瓶支套").strip()
        if text.endswith(".0"):
            text = text[:-2]
        if not text.isdigit():
            raise BadValue(
                _("bad quantity %(value)r in %(label)s") % {"label": label, "value": value}
            )
        qty = int(text)
    if qty <= 0 or qty > 1_000_000:
        raise BadValue(_("bad quantity %(value)r in %(label)s") % {"label": label, "value": value})
    return qty


# --- times --------------------------------------------------------------------------------------

# Platforms export Beijing time without an offset; China has kept UTC+8 without daylight saving
# since 1991, so converting is a fixed shift. Times are kept as naive UTC inside the pipeline.
CHINA_OFFSET = timedelta(hours=8)
_EXCEL_EPOCH = datetime(1899, 12, 30)
_DT = re.compile(
    r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?"
    r"(?:[ T]+(\d{1,2})[:时](\d{1,2})(?:[:分](\d{1,2})(?:\.(\d{1,6}))?)?秒?)?$"
)
_COMPACT_DT = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2}))?$")
_ZERO_DATES = frozenset({"0000-00-00 00:00:00", "0000-00-00", "1970-01-01 08:00:00"})


def parse_datetime(
    value: object,
    *,
    label: str = "time",
    offset: timedelta = CHINA_OFFSET,
    fmt: str | None = None,
) -> datetime | None:
    """A local (Beijing) time cell -> naive UTC datetime; empty -> None.

    Accepts '2024-06-18 20:01:02', '2024/6/18 8:01', '2024-06-18', '2024年6月18日 20:01',
    '20240618200102', XLSX datetimes and Excel serial numbers; `fmt` (strptime) for anything else.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return value.astimezone(UTC).replace(tzinfo=None)
        return value - offset
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day) - offset
    if isinstance(value, int | float) and not isinstance(value, bool):
        if 20000 < value < 80000:  # an Excel serial day number (1954..2118)
            return _EXCEL_EPOCH + timedelta(days=float(value)) - offset
        raise BadValue(_("bad time %(value)r in %(label)s") % {"label": label, "value": value})
    text = str(value).strip()
    if text in EMPTY_MARKERS or text in _ZERO_DATES:
        return None
    try:
        if fmt:
            return datetime.strptime(text, fmt) - offset
        if len(text) >= 10 and text[4] == "-" and text[7] == "-":
            try:
                return datetime.fromisoformat(text) - offset
            except ValueError:
                pass
        match = _DT.match(text) or _COMPACT_DT.match(text)
        if not match:
            raise ValueError(text)
        parts = [int(p) if p else 0 for p in match.groups()]
        if len(parts) == 7 and match.group(7):
            parts[6] = int(match.group(7).ljust(6, "0"))
        return datetime(*parts) - offset
    except (ValueError, OverflowError):
        raise BadValue(
            _("bad time %(value)r in %(label)s") % {"label": label, "value": text}
        ) from None


# --- addresses ----------------------------------------------------------------------------------

_PROVINCE_SUFFIXES = ("省", "自治区", "特别行政区")
_MUNICIPALITIES = ("北京", "上海", "天津", "重庆")


def split_region(address: str) -> tuple[str, str, str]:
    """Province, city and district from a space-separated platform address ('浙江省 杭州市 西湖区
    ...', '上海 上海市 浦东新区 ...'); empty strings when the address does not start that way."""
    parts = address.split()
    if len(parts) < 2:
        return "", "", ""
    first, second = parts[0], parts[1]
    if not (first.endswith(_PROVINCE_SUFFIXES) or first.rstrip("市") in _MUNICIPALITIES):
        return "", "", ""
    city = second[:30] if second.endswith(("市", "州", "盟", "区", "县")) else ""
    district = ""
    if city and len(parts) > 2 and parts[2].endswith(("区", "县", "市", "旗")):
        district = parts[2][:30]
    return first[:30], city, district
