"""Compile every .po catalogue under src/siyu into .mo with pure Python (no GNU gettext needed).

Run by `make run` and `make test`; compiled files are not committed.
"""

from __future__ import annotations

import array
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "src" / "siyu"


def _unquote(chunk: str) -> str:
    return ast.literal_eval(chunk)


def parse_po(path: Path) -> dict[str, str]:
    """Return msgid -> msgstr (plural forms joined with NUL, contexts as ctx\\x04id)."""
    messages: dict[str, str] = {}
    entry: dict[str, list[str]] = {}
    current: str | None = None
    fuzzy = False

    def flush():
        nonlocal entry, fuzzy
        # the header (msgid "") carries the charset and is kept even when marked fuzzy
        if "msgid" in entry and (not fuzzy or "".join(entry["msgid"]) == ""):
            msgid = "".join(entry["msgid"])
            if "msgid_plural" in entry:
                msgid = msgid + "\0" + "".join(entry["msgid_plural"])
                forms = sorted(k for k in entry if k.startswith("msgstr["))
                msgstr = "\0".join("".join(entry[k]) for k in forms)
            else:
                msgstr = "".join(entry.get("msgstr", []))
            if "msgctxt" in entry:
                msgid = "".join(entry["msgctxt"]) + "\x04" + msgid
            if msgstr.replace("\0", "") or msgid == "":
                messages[msgid] = msgstr
        entry, fuzzy = {}, False

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line:
            flush()
            current = None
            continue
        if line.startswith("#,") and "fuzzy" in line:
            fuzzy = True
            continue
        if line.startswith("#"):
            continue
        if line.startswith('"'):
            if current is not None:
                entry[current].append(_unquote(line))
            continue
        keyword, _, rest = line.partition(" ")
        if keyword in ("msgctxt", "msgid") and any(k.startswith("msgstr") for k in entry):
            flush()
        current = keyword
        entry[current] = [_unquote(rest)]
    flush()
    return messages


def write_mo(messages: dict[str, str], path: Path) -> None:
    keys = sorted(messages)
    ids = b""
    strs = b""
    offsets = []
    for key in keys:
        k, v = key.encode("utf-8"), messages[key].encode("utf-8")
        offsets.append((len(ids), len(k), len(strs), len(v)))
        ids += k + b"\0"
        strs += v + b"\0"
    n = len(keys)
    key_start = 7 * 4 + 16 * n
    value_start = key_start + len(ids)
    table = []
    for o1, l1, _o2, _l2 in offsets:
        table += [l1, o1 + key_start]
    for _o1, _l1, o2, l2 in offsets:
        table += [l2, o2 + value_start]
    header = array.array("I", [0x950412DE, 0, n, 7 * 4, 7 * 4 + n * 8, 0, 0])
    path.write_bytes(header.tobytes() + array.array("I", table).tobytes() + ids + strs)


def main() -> int:
    count = 0
    for po in ROOT.rglob("*.po"):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        write_mo(parse_po(po), mo)
        count += 1
    if count:
        print(f"compiled {count} message catalogue(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
