"""What a hostile model, server or file sends, in one place for every hostile test.

Each answer is streamed by the loopback fault server (tests/servers.py) as real SSE chunks,
so the whole path runs: the openai client, the engine, the round, the store, the CLI, the window.
"""
from __future__ import annotations

PNG_1x1 = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")

# Every way an answer can ask for a resource: Markdown images and HTML ones, of every scheme.
IMAGES = (
    "![zero](file:///dev/zero) ![local](file:///etc/hostname) ![remote](http://127.0.0.1:9/x.png) "
    "![https](https://example.invalid/x.png) ![protocol-relative](//127.0.0.1:9/y.png) "
    "![ftp](ftp://127.0.0.1:9/z.png) ![smb](smb://host/share/x.png) ![qrc](qrc:/x.png) "
    f"![data](data:image/png;base64,{PNG_1x1}) ![relative](../../../../dev/zero)\n\n"
    '<img src="file:///dev/zero"> <img src="/dev/zero" width=900 height=900> '
    '<img src="http://127.0.0.1:9/a.png">'
)
SCRIPT = "Before <script>alert('x')</script> after <iframe src=\"file:///etc/passwd\"></iframe>"
STYLE = ('<span style="font-size:90px;color:#ff0000">HUGE</span> '
         '<div style="position:fixed;top:0;left:0;width:100%;height:100%">cover</div> '
         '<style>* { font-size: 80px }</style><link rel="stylesheet" href="file:///dev/zero">')
BIDI = "gpt-4o\u202eevil\u202c says \u2066hi\u2069 and \u202dforced\u202c"
NUL = "before\x00after\x00"
LONE_SURROGATE = "kept \ud800 whole \udfff end"
TERMINAL = ("x\x1b]52;c;aGVsbG8=\x07y\x1b[2Jz\x1b]8;;http://evil.invalid\x1b\\link\x1b]8;;\x1b\\"
            "\x9b31mC1\rCR\x08BS\x1bc")
LINE_2MB = "A" * 2_000_000
TABLE_5000 = "| n | square |\n|---|---|\n" + "".join(f"| {i} | {i * i} |\n" for i in range(5000))

ANSWERS = {
    "images": IMAGES,
    "script": SCRIPT,
    "style": STYLE,
    "bidi": BIDI,
    "nul": NUL,
    "lone_surrogate": LONE_SURROGATE,
    "terminal": TERMINAL,
    "line_2mb": LINE_2MB,
    "table_5000": TABLE_5000,
}

# Control characters a terminal acts on: none of them may reach stdout.
TERMINAL_CONTROLS = ["\x1b", "\x07", "\x9b", "\x9d", "\r", "\x08"]


def chunks(text: str, size: int = 4096) -> tuple[str, ...]:
    return tuple(text[i:i + size] for i in range(0, len(text), size)) or ("",)
