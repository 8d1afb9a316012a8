from datetime import UTC, datetime

from kernel_async import Invocation
from kernel_async._table import TableLayout, format_duration, render_header, render_row
from kernel_async._text import printable, truncate

GREEN, RED = "\x1b[32m", "\x1b[31m"


def invocation(**overrides: object) -> Invocation:
    wire = {
        "id": "rr33xuugxj9h0bkf1rdt2bet",
        "app_name": "invoice-bot",
        "version": "1.2.3",
        "action_name": "download-invoices",
        "started_at": "2026-06-01T11:58:00.5+02:00",
        "finished_at": "2026-06-01T11:59:30.75+02:00",
        "status": "failed",
        "status_reason": "Navigation timed out after waiting for the login page",
        **overrides,
    }
    return Invocation.from_dict(wire)


def test_a_row_lines_up_under_the_header() -> None:
    layout = TableLayout.for_width(200)
    header, row = render_header(layout), render_row(invocation(), layout, colour=False)
    assert header.split()[:4] == ["ID", "APP", "ACTION", "VERSION"]
    for column in ("APP", "ACTION", "VERSION", "STATUS", "STARTED", "REASON"):
        assert header.index(column) == row.index(
            {
                "APP": "invoice-bot",
                "ACTION": "download",
                "VERSION": "1.2.3",
                "STATUS": "failed",
                "STARTED": "2026-06-01 09:58:00",
                "REASON": "Navigation",
            }[column]
        )
    assert "1m30s" in row  # 11:58:00.5 to 11:59:30.75
    assert row.endswith("Navigation timed out after waiting for the login page")


def test_rows_fit_the_terminal_and_keep_the_id() -> None:
    for width in (80, 100, 120, 200):
        layout = TableLayout.for_width(width)
        row = render_row(invocation(), layout, colour=False)
        assert len(row) <= max(width, layout.fixed_width()), width
    assert "rr33xuugxj9h0bkf1rdt2bet" in render_row(
        invocation(), TableLayout.for_width(100), colour=False
    )
    narrow = render_row(invocation(), TableLayout.for_width(80), colour=False)
    assert "\u2026" in narrow  # truncated, marked
    assert "Navigation" not in narrow  # no room for the reason


def test_colour_marks_the_status_only_when_asked() -> None:
    layout = TableLayout.for_width(120)
    assert RED in render_row(invocation(), layout, colour=True)
    assert GREEN in render_row(invocation(status="succeeded"), layout, colour=True)
    assert "\x1b[" not in render_row(invocation(), layout, colour=False)
    assert "\x1b[" not in render_row(invocation(status="cancelled"), layout, colour=True)


def test_durations_read_naturally() -> None:
    assert [format_duration(s) for s in (0.04, 59.9, 60, 3599, 3600, 7380, None)] == [
        "0.0s",
        "59.9s",
        "1m00s",
        "59m59s",
        "1h00m",
        "2h03m",
        "-",
    ]
    unfinished = invocation(finished_at=None, status="running", status_reason=None)
    assert render_row(unfinished, TableLayout.for_width(120), colour=False).endswith("-")
    assert datetime(2026, 6, 1, tzinfo=UTC)


def test_printable_escapes_what_a_terminal_would_obey() -> None:
    controls = [chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))]
    bidi = ["\u061c", "\u200e", "\u200f", *map(chr, range(0x202A, 0x202F))]
    bidi += list(map(chr, range(0x2066, 0x206A)))
    for char in controls + bidi:
        shown = printable(f"a{char}b")
        assert shown.startswith("a\\"), repr(char)
        assert shown.endswith("b"), repr(char)
        assert char not in shown
    assert printable("\t\n\r\x1b\x9b\u202e") == "\\t\\n\\r\\x1b\\x9b\\u202e"
    # Text that is merely not ASCII stays as it is.
    assert printable("Zürich 東京 café \u00a0 😀 -> ok") == "Zürich 東京 café \u00a0 😀 -> ok"


def test_server_text_in_a_row_is_escaped_and_the_id_stays_whole() -> None:
    hostile = invocation(
        id="inv\x1b[2J0123456789abcdefghij",
        app_name="\u202eevil",
        version="1\x9b2",
        status="failed\x07",
        status_reason="\x1b]0;pwned\x07\r\nnext",
    )
    for width in (80, 120, 250):
        layout = TableLayout.for_width(width).fitting_ids([hostile.id])  # 30 columns, escaped
        row = render_row(hostile, layout, colour=True)
        left = row.replace(RED, "").replace("\x1b[0m", "")
        assert all(printable(c) == c for c in left), repr(row)
        assert left.startswith("inv\\x1b[2J0123456789abcdefghij ")
    wide = render_row(hostile, TableLayout.for_width(250), colour=False)
    assert wide.endswith("\\x1b]0;pwned\\x07\\r\\nnext")
    assert " failed\\x\u2026 " in wide  # escaped, then cut to the column like any status


def test_the_id_is_never_cut_and_lines_fit_from_34_columns() -> None:
    row_data = invocation()
    for width in range(20, 260):
        layout = TableLayout.for_width(width)
        header, row = render_header(layout), render_row(row_data, layout, colour=False)
        assert row.startswith("rr33xuugxj9h0bkf1rdt2bet "), width
        assert "failed" in row
        if width >= 34:
            assert len(header) <= width, width
            assert len(row) <= width, width
        # Every visible column lines up under its header.
        for title, value in (("STATUS", "failed"), ("STARTED", "2026-06-01 09:58")):
            if title in header:
                assert header.index(title) == row.index(value), (width, title)


def test_columns_give_way_before_the_id() -> None:
    eighty = TableLayout.for_width(80)
    assert (eighty.id, eighty.status, eighty.started) == (24, 9, 19)
    assert eighty.version == 0  # hidden before anything is cut to nothing
    assert eighty.app > 0
    assert eighty.action > 0
    wide = TableLayout.for_width(150)
    assert (wide.app, wide.action, wide.version, wide.reason) == (14, 18, 12, 39)


def test_a_watch_event_row_lines_up_under_its_header_within_the_width() -> None:
    from kernel_async import EventKind, InvocationEvent
    from kernel_async._table import render_event, render_event_header

    for width in (80, 120):
        layout = TableLayout.for_events(width)
        header = render_event_header(layout)
        changed = InvocationEvent(
            kind=EventKind.CHANGED, invocation=invocation(), previous_status="running"
        )
        seen = InvocationEvent(kind=EventKind.SEEN, invocation=invocation(status="queued"))
        rows = [render_event(e, layout, colour=False) for e in (changed, seen)]
        assert rows[0].startswith("changed  running   rr33xuugxj9h0bkf1rdt2bet ")
        assert rows[1].startswith("seen               rr33xuugxj9h0bkf1rdt2bet ")
        assert header.index("ID") == rows[0].index("rr33") == rows[1].index("rr33")
        assert header.index("STATUS") == rows[0].index("failed") == rows[1].index("queued")
        assert all(len(line) <= width for line in (header, *rows))
        # What happened to which app: at 80 columns the start time gave way first.
        assert header.split()[3:5] == ["APP", "ACTION"]
    assert "STARTED" in header  # at 120 columns there is room for it too
    coloured = render_event(changed, layout, colour=True)
    assert "\x1b[33mrunning  \x1b[0m" in coloured  # the status before, in its own colour
    assert f"{RED}failed" in coloured
    hostile = InvocationEvent(
        kind=EventKind.CHANGED, invocation=invocation(), previous_status="\x1b[2Jx"
    )
    assert "\x1b[2J" not in render_event(hostile, layout, colour=True)


def columns_of(text: str) -> int:
    """What a terminal gives ``text``: two columns for a wide character (UAX #11)."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def test_wide_characters_count_two_columns() -> None:
    """A CJK status reason or an emoji app name: the row still fits, and lines up."""
    wide = invocation(app_name="🛒🛒🛒-shop", status_reason="タイムアウトしました" * 3)
    for width in (80, 100, 120, 160):
        layout = TableLayout.for_width(width)
        header, row = render_header(layout), render_row(wide, layout, colour=False)
        assert columns_of(row) <= width
        # The status starts where its header does: the app cell took its own width.
        assert columns_of(row[: row.index(" failed")]) == header.index(" STATUS")


def test_lone_surrogates_from_the_server_are_escaped_so_the_row_can_be_printed() -> None:
    # JSON allows "\ud800"; both decoders accept it, and no terminal encoding can write it.
    row = render_row(invocation(status_reason="bad \ud800 \udfff!"), TableLayout(250), colour=False)
    assert row.endswith("bad \\ud800 \\udfff!")
    row.encode("utf-8")  # a lone surrogate left in would raise UnicodeEncodeError here


def test_a_start_before_year_1_in_utc_is_shown_as_sent() -> None:
    # 0001-01-01T00:00:00+05:00 is valid RFC 3339, and five hours before year 1 in UTC.
    early = invocation(started_at="0001-01-01T00:00:00+05:00", finished_at=None)
    row = render_row(early, TableLayout(250), colour=False)
    assert " failed    before 0001-01-01   " in row


def test_a_start_before_year_1000_keeps_four_digits_and_the_columns_in_line() -> None:
    # Go's zero time, 0001-01-01T00:00:00Z, is what a Go service sends for an unset time;
    # strftime's %Y wrote it as "1-01-01 00:00:00" on glibc, two columns short.
    layout = TableLayout(250)
    header = render_header(layout)
    for sent, shown in (
        ("0001-01-01T00:00:00Z", "0001-01-01 00:00:00"),
        ("0999-12-31T23:59:59.999Z", "0999-12-31 23:59:59"),
    ):
        row = render_row(invocation(started_at=sent, finished_at=None), layout, colour=False)
        assert row[header.index("STARTED") :].startswith(shown + " ")
        assert header.index("REASON") == row.index("Navigation")


def test_truncate_counts_columns_not_characters() -> None:
    # The status line is cut with it: a wide character takes two columns.
    assert truncate("タイムアウト", 7) == "タイム\u2026"
    assert truncate("タイムアウト", 12) == "タイムアウト"
    assert truncate("timeout", 4) == "tim\u2026"


def test_format_characters_a_terminal_draws_count_one_column() -> None:
    """U+00AD and the prepended concatenation marks are format characters (Cf) that terminals
    draw one column wide; the other format characters take none. wcwidth (the package pyte
    measures with) and glibc's wcwidth agree on each."""
    import unicodedata

    import wcwidth  # pyte's own dependency: what the terminal tests' screen counts

    from kernel_async._text import display_width

    assert display_width("in\u00advoice") == 8
    assert display_width("\u00ad" * 20) == 20
    assert display_width("\u0600\u06dd\u070f\u08e2\U000110bd") == 5
    assert display_width("a\u200bb\u2060c\ufeff\u200d") == 3
    for code in range(0x110000):
        char = chr(code)
        if unicodedata.category(char) == "Cf" and printable(char) == char:
            assert display_width(char) == wcwidth.wcwidth(char), f"U+{code:04X}"


def test_soft_hyphens_in_server_text_keep_the_row_within_the_width() -> None:
    shy = invocation(app_name="shop" + "\u00ad" * 20, status_reason="time\u00adout" * 20)
    for width in (80, 100, 120):
        layout = TableLayout.for_width(width)
        header, row = render_header(layout), render_row(shy, layout, colour=False)
        assert display_width_of_terminal(row) <= width, width
        assert display_width_of_terminal(row[: row.index(" failed")]) == header.index(" STATUS")


def display_width_of_terminal(text: str) -> int:
    """The columns pyte's screen takes to draw ``text`` (pyte measures with wcwidth)."""
    import wcwidth

    return sum(max(wcwidth.wcwidth(char), 0) for char in text)


LONG_ID = "run_" + "0123456789" * 5 + "abcdef"  # 60 characters: the server decides


def test_a_long_id_widens_its_column_where_there_is_room() -> None:
    row_data = invocation(id=LONG_ID)
    for width in range(70, 260):
        layout = TableLayout.for_width(width).fitting_ids([LONG_ID, "short"])
        header, row = render_header(layout), render_row(row_data, layout, colour=False)
        assert layout.id == 60, width
        assert row.startswith(LONG_ID + " "), width  # whole: the other columns gave way
        assert len(header) <= width, width
        assert len(row) <= width, width
        assert header.index("STATUS") == row.index("failed"), width
    # The column only grows: ids it holds already keep the layout as it is.
    layout = TableLayout.for_width(120)
    assert layout.fitting_ids([]) is layout
    assert layout.fitting_ids(["short", "rr33xuugxj9h0bkf1rdt2bet"]) is layout
    wide = layout.fitting_ids([LONG_ID])
    assert wide.fitting_ids([LONG_ID[:30]]) is wide


def test_a_row_never_outgrows_its_layout_even_with_an_id_too_long_for_it() -> None:
    """A 60-character id made a 136-character row on 100 columns, and the terminal wrapped it."""
    for width in (34, 80, 100, 120):
        layout = TableLayout.for_width(width)
        header, row = (
            render_header(layout),
            render_row(invocation(id=LONG_ID), layout, colour=False),
        )
        assert len(row) <= width, width
        assert header.index("STATUS") == row.index("failed"), width


def test_an_id_wider_than_the_room_is_cut_in_the_middle_so_ids_stay_apart() -> None:
    ends_apart = ["run_" + "0" * 52 + "abcd", "run_" + "0" * 52 + "wxyz"]
    starts_apart = ["abcd" + "0" * 56, "wxyz" + "0" * 56]
    for width in (34, 50, 69):
        layout = TableLayout.for_width(width).fitting_ids(ends_apart + starts_apart)
        assert layout.id == width - 10  # all but the status: nothing else is left to give way
        for ids in (ends_apart, starts_apart):
            rows = [render_row(invocation(id=i), layout, colour=False) for i in ids]
            assert all(len(row) <= width for row in rows), width
            cells = [row[: layout.id].rstrip() for row in rows]
            assert len(set(cells)) == 2, cells  # still told apart
            for cell, whole in zip(cells, ids, strict=True):
                head, tail = cell.split("\u2026")
                assert whole.startswith(head)
                assert whole.endswith(tail)
                assert abs(len(head) - len(tail)) <= 1
    ascii_layout = TableLayout.for_width(40, encoding="ascii").fitting_ids(ends_apart)
    row = render_row(invocation(id=ends_apart[0]), ascii_layout, colour=False)
    assert row.startswith("run_0000000000...000000000abcd failed"), row


def test_a_watch_event_with_a_long_id_keeps_the_id_and_the_width() -> None:
    from kernel_async import EventKind, InvocationEvent
    from kernel_async._table import render_event, render_event_header

    event = InvocationEvent(
        kind=EventKind.CHANGED, invocation=invocation(id=LONG_ID), previous_status="running"
    )
    for width in (100, 120):
        layout = TableLayout.for_events(width).fitting_ids([LONG_ID])
        header, row = render_event_header(layout), render_event(event, layout, colour=False)
        assert row.startswith(f"changed  running   {LONG_ID} ")
        assert len(header) <= width
        assert len(row) <= width
        assert header.index("STATUS") == row.index("failed")
        assert "APP" in header  # what happened to which app: the start time gave way first
