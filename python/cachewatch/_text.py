"""Messages that quote what a user wrote stay one printable line, as in
ext/engine/text.c: control characters (C0, DEL, C1) and the Unicode line breaks
(LS, PS) become \\xNN escapes of their UTF-8 bytes, and a byte an environment
variable could not decode (a surrogate escape) becomes \\xNN of itself."""

_BREAKS = "\u2028\u2029"


def printable(text):
    out = []
    for ch in str(text):
        if ch < " " or "\x7f" <= ch <= "\x9f" or ch in _BREAKS:
            out.append("".join(f"\\x{b:02x}" for b in ch.encode("utf-8")))
        elif "\udc80" <= ch <= "\udcff":
            out.append(f"\\x{ord(ch) - 0xdc00:02x}")
        else:
            out.append(ch)
    return "".join(out)
