from datetime import UTC, datetime

from kernel_async import Invocation
from kernel_async._table import TableLayout, format_duration, render_header, render_row

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
