"""Options: one syntax everywhere (name=value, as TSAN_OPTIONS), every option
declared once in ext/engine/flags.inc and read here from the C flag table."""
import os
import re

from . import _cachewatch

ENV_VAR = "CACHEWATCH_OPTIONS"


def table():
    """Rows (name, type, default, help) of every option."""
    return [tuple(row) for row in _cachewatch.flag_table()]


def names():
    return [row[0] for row in table()]


def _quote_free(name, value):
    text = str(value)
    if any(ch.isspace() for ch in text):
        raise ValueError(f"option '{name}' cannot contain whitespace: {text!r}")
    return text


def to_text(options):
    """A dict (or text) of options -> 'name=value ...' text."""
    if options is None:
        return ""
    if isinstance(options, str):
        return options
    parts = []
    for name, value in options.items():
        if isinstance(value, bool):
            value = int(value)
        if isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        parts.append(f"{name}={_quote_free(name, value)}")
    return " ".join(parts)


def combined(explicit=None):
    """Environment first, explicit options after (they win)."""
    return " ".join(t for t in (os.environ.get(ENV_VAR, ""), to_text(explicit)) if t.strip())


def check_text(text):
    """Options are UTF-8 text: an environment variable may hold other bytes
    (decoded with surrogate escapes). Name the word that does (split as the
    C parser splits, at ASCII whitespace), every byte of it that is not
    printable ASCII written as \\xNN."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        word = next(m.group() for m in re.finditer(r"[^ \t\n\r\f\v]+", text)
                    if m.end() > exc.start)
        shown = "".join(chr(b) if 0x20 <= b < 0x7f else f"\\x{b:02x}"
                        for b in word.encode("utf-8", "surrogateescape"))
        raise ValueError(f"cachewatch: option '{shown}' is not UTF-8 text") from None
