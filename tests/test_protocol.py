"""The sans-I/O core, tested with plain values: no loop, no socket."""

import json
from typing import Any

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from kernel_async import (
    APIResponseValidationError,
    APIStatusError,
    ErrorDetail,
    InternalServerError,
    InvocationStatus,
    NotFoundError,
    PaginationError,
)
from kernel_async._models import Page
from kernel_async._protocol import (
    PageHeaders,
    body_excerpt,
    interpret_page_response,
    page_step,
    parse_bool_header,
    read_page_headers,
    status_error,
)

from conftest import STATUS_ERRORS

INVOCATION: dict[str, Any] = {
    "id": "rr33xuugxj9h0bkf1rdt2bet",
    "app_name": "my-app",
    "version": "1.0.0",
    "action_name": "analyze",
    "payload": '{"data":"example input"}',
    "output": '{"result":"success"}',
    "started_at": "2025-06-01T12:34:56.123456789Z",
    "finished_at": "2025-06-01T12:35:01.5+02:00",
    "status": "succeeded",
    "status_reason": "Invocation completed successfully",
}
MORE = {"X-Limit": "2", "X-Offset": "0", "X-Next-Offset": "2", "X-Has-More": "true"}
LAST = {"X-Limit": "2", "X-Offset": "4", "X-Next-Offset": "0", "X-Has-More": "false"}


def body(*items: Any) -> bytes:
    return json.dumps(list(items)).encode()


# -- pagination headers (docs/api-behaviour.md) -------------------------------------------


def test_a_middle_page_points_at_the_absolute_next_offset() -> None:
    headers = read_page_headers({**MORE, "X-Request-Id": "req_1"}, requested_offset=0)
    assert headers.has_more is True
    assert headers.next_offset == 2
    assert headers.limit == 2
    assert headers.request_id == "req_1"


def test_the_last_page_ends_with_false_and_zero() -> None:
    headers = read_page_headers(LAST, requested_offset=4)
    assert headers.has_more is False
    assert headers.next_offset is None


def test_a_next_offset_is_used_verbatim_not_recomputed() -> None:
    # The official SDK once added len(items) to it and skipped every other page.
    headers = read_page_headers(
        {**MORE, "X-Offset": "100", "X-Next-Offset": "200"}, requested_offset=100
    )
    assert headers.next_offset == 200


def test_missing_has_more_defaults_to_false_as_the_spec_says() -> None:
    assert read_page_headers({}, requested_offset=0).has_more is False


@pytest.mark.parametrize("spelling", ["1", "t", "T", "TRUE", "true", "True"])
def test_true_is_read_as_go_reads_it(spelling: str) -> None:
    assert parse_bool_header(spelling) is True


@pytest.mark.parametrize("spelling", ["0", "f", "F", "FALSE", "false", "False"])
def test_false_is_read_as_go_reads_it(spelling: str) -> None:
    assert parse_bool_header(spelling) is False


@pytest.mark.parametrize(
    ("headers", "offset", "reason"),
    [
        ({"X-Has-More": "true"}, 0, "X-Next-Offset is missing or 0"),
        ({"X-Has-More": "true", "X-Next-Offset": "0"}, 0, "X-Next-Offset is missing or 0"),
        ({"X-Has-More": "true", "X-Next-Offset": "40"}, 40, "does not move forward"),
        ({"X-Has-More": "true", "X-Next-Offset": "20"}, 40, "does not move forward"),
        ({"X-Has-More": "true", "X-Next-Offset": "abc"}, 0, "X-Next-Offset is not"),
        ({"X-Has-More": "true", "X-Next-Offset": "-20"}, 0, "X-Next-Offset is not"),
        ({"X-Has-More": "true", "X-Next-Offset": "2.5"}, 0, "X-Next-Offset is not"),
        ({"X-Has-More": "yes", "X-Next-Offset": "20"}, 0, "not a boolean"),
        ({"X-Has-More": "false", "X-Limit": "many"}, 0, "X-Limit is not"),
        ({"X-Has-More": "false", "X-Limit": "0"}, 0, "X-Limit is 0"),
        ({**MORE, "X-Offset": "20"}, 0, "X-Offset 20 is not the offset requested"),
    ],
)
def test_contradictions_are_protocol_errors_not_the_end(
    headers: dict[str, str], offset: int, reason: str
) -> None:
    with pytest.raises(PaginationError, match=reason) as caught:
        read_page_headers({**headers, "X-Request-Id": "req_9"}, requested_offset=offset)
    assert caught.value.offset == offset
    assert caught.value.request_id == "req_9"
    assert "X-Request-Id" not in caught.value.headers


def test_page_step_prefers_the_next_offset_then_the_servers_limit() -> None:
    page = interpret_page_response(200, {**MORE, "X-Limit": "5"}, body(INVOCATION), offset=0)
    assert page_step(page) == 2
    no_limit = {k: v for k, v in MORE.items() if k != "X-Limit"}
    assert page_step(interpret_page_response(200, no_limit, body(), offset=0)) == 2
    assert page_step(interpret_page_response(200, LAST, body(), offset=4)) == 2
    assert page_step(interpret_page_response(200, {}, body(), offset=0)) is None


# -- status errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        *STATUS_ERRORS,
        (502, InternalServerError),
        (418, APIStatusError),
        (302, APIStatusError),
    ],
)
def test_each_status_maps_to_its_class(status: int, cls: type[APIStatusError]) -> None:
    error_body = {
        "code": "some_code",
        "message": "what happened",
        "details": [{"code": "invalid_input", "message": "bad version"}],
        "inner_error": {"code": "inner", "message": "deeper"},
    }
    error = status_error(
        status, {"X-Request-Id": "req_42"}, json.dumps(error_body).encode(), reason="Reason"
    )
    assert type(error) is cls
    assert error.status == status
    assert error.code == "some_code"
    if status < 400:  # a redirect says where it points instead (see below)
        assert error.message.startswith(f"{status} Reason: a redirect with no Location")
    else:
        assert error.message == f"{status} Reason: some_code: what happened"
    assert error.details == (ErrorDetail(code="invalid_input", message="bad version"),)
    assert error.inner_error == ErrorDetail(code="inner", message="deeper")
    assert error.request_id == "req_42"
    assert error.headers == {"X-Request-Id": "req_42"}
    assert "req_42" in str(error)


@pytest.mark.parametrize("status", [300, 301, 302, 303, 307, 308, 399])
def test_a_redirect_says_where_it_points_and_that_it_is_not_followed(status: int) -> None:
    location = "https://elsewhere.test/v1/invocations"
    error = status_error(status, {"Location": location, "X-Request-Id": "r"}, b"", reason="Moved")
    assert type(error) is APIStatusError
    assert (
        error.message == f"{status} Moved: redirected to '{location}'; redirects are not followed"
    )
    assert str(error) == f"{error.message} (request id r)"


def test_a_redirects_location_is_shown_escaped_and_short() -> None:
    error = status_error(302, {"Location": "/login\x1b[2J\u202e" + "a" * 5000}, b"")
    assert error.message.startswith("HTTP 302: redirected to '/login\\x1b[2J\\u202eaaa")
    assert error.message.endswith("aaa\u2026'; redirects are not followed")
    assert len(error.message) < 300
    without = status_error(307, {}, b"<html>moved</html>", reason="Temporary Redirect")
    assert without.message == (
        "307 Temporary Redirect: a redirect with no Location; redirects are not followed"
    )


@pytest.mark.parametrize(("length", "shown"), [(200, 200), (201, 200), (5000, 200)])
def test_a_redirects_location_is_cut_past_200_characters(length: int, shown: int) -> None:
    location = "/" + "a" * (length - 1)
    error = status_error(302, {"Location": location}, b"")
    quoted = error.message.removeprefix("HTTP 302: redirected to '")
    quoted = quoted.removesuffix("'; redirects are not followed")
    assert len(quoted) == shown
    assert quoted == (location if length <= 200 else location[:199] + "\u2026")


def test_a_page_that_does_not_fit_keeps_the_response_it_came_in() -> None:
    raw = body({**INVOCATION, "id": 5})
    with pytest.raises(APIResponseValidationError) as caught:
        interpret_page_response(200, {**LAST, "X-Request-Id": "r"}, raw, offset=4, url="u")
    response = caught.value.response
    assert response is not None
    assert (response.status_code, response.content, response.url) == (200, raw, "u")
    assert response.headers["X-Request-Id"] == "r"


def test_an_html_502_from_a_proxy_still_maps_with_an_excerpt() -> None:
    html = b"<html>\n<head><title>502 Bad Gateway</title></head>\n<body>nginx</body></html>"
    error = status_error(502, {"Content-Type": "text/html"}, html, reason="Bad Gateway")
    assert isinstance(error, InternalServerError)
    assert error.body is None
    assert error.code is None
    assert error.details == ()
    assert error.inner_error is None
    assert (
        error.body_excerpt
        == "<html> <head><title>502 Bad Gateway</title></head> <body>nginx</body></html>"
    )
    assert "502 Bad Gateway" in str(error)


def test_a_json_body_that_is_not_an_error_object_keeps_an_excerpt() -> None:
    error = status_error(500, {}, b'{"unexpected": true}')
    assert error.body is None
    assert error.body_excerpt == '{"unexpected": true}'
    assert status_error(500, {}, b"").message == "HTTP 500"


def test_an_error_body_with_malformed_details_keeps_code_and_message() -> None:
    error = status_error(400, {}, b'{"code":"bad_request","message":"nope","details":5}')
    assert error.code == "bad_request"
    assert error.details == ()


def test_excerpts_are_short_and_single_line() -> None:
    excerpt = body_excerpt(b"x" * 5000 + b"\n\n")
    assert len(excerpt) == 200
    assert excerpt.endswith("\u2026")
    assert body_excerpt(b"\xff\xfe broken") == "\ufffd\ufffd broken"


@pytest.mark.parametrize("char", ["\U0001d11e", "\u20ac", "\u00e9", "x"])  # 4, 3, 2, 1 bytes
def test_excerpts_count_characters_not_bytes(char: str) -> None:
    for count, expected in ((300, char * 199 + "\u2026"), (201, char * 199 + "\u2026")):
        assert body_excerpt((char * count).encode()) == expected
    assert body_excerpt((char * 200).encode()) == char * 200  # fits: no ellipsis


def test_an_excerpt_of_a_longer_body_ends_with_an_ellipsis_even_after_folding() -> None:
    # Whitespace folds away, so few characters are left, but the body went on.
    assert body_excerpt(b"a" + b" " * 1000 + b"b") == "a\u2026"
    assert body_excerpt(b"a" + b" " * 700 + b"b") == "a b"
    # A character cut in half at the end of the window is left out, not shown as U+FFFD.
    assert body_excerpt(b"a" + b" " * 802 + "\u20ac".encode() + b"z") == "a\u2026"
    assert body_excerpt(b" " * 5000) == ""


# -- bodies of successful responses ------------------------------------------------------------


def test_a_valid_page_is_typed_with_extras_ignored() -> None:
    extra = {**INVOCATION, "brand_new_field": {"nested": [1, 2]}}
    page = interpret_page_response(200, {**MORE, "X-Request-Id": "r"}, body(extra), offset=0)
    (inv,) = page.items
    assert inv.id == "rr33xuugxj9h0bkf1rdt2bet"
    assert inv.status is InvocationStatus.SUCCEEDED
    assert inv.started_at_ns % 1_000_000_000 == 123_456_789
    assert inv.finished_at is not None
    assert inv.finished_at.utcoffset() is not None
    assert page.request_id == "r"
    assert (page.offset, page.limit, page.has_more, page.next_offset) == (0, 2, True, 2)


def test_an_unknown_status_is_kept_verbatim() -> None:
    page = interpret_page_response(200, LAST, body({**INVOCATION, "status": "cancelled"}), offset=4)
    assert page.items[0].status == "cancelled"
    assert not isinstance(page.items[0].status, InvocationStatus)


def test_optional_fields_may_be_absent_or_null() -> None:
    minimal = {
        k: INVOCATION[k]
        for k in ("id", "app_name", "version", "action_name", "started_at", "status")
    }
    page = interpret_page_response(
        200, LAST, body(minimal, {**minimal, "finished_at": None, "payload": None}), offset=4
    )
    assert all(inv.finished_at is None and inv.payload is None for inv in page.items)


@pytest.mark.parametrize(
    ("raw", "path", "message"),
    [
        (b"", "$", "the response body is empty"),
        (b"   ", "$", "the response body is empty"),
        (b"<html>oops</html>", "$", "not valid JSON"),
        (b'[{"id": "a",', "$", "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "$", "not valid JSON"),
        (b'{"items": []}', "$", "expected an array of invocations, got object"),
        (b"null", "$", "expected an array of invocations, got null"),
        (body(INVOCATION, 7), "$[1]", r"expected an object \(Invocation\), got number \(request"),
        # An array or a string has no field to blame: the item itself is wrong.
        (body(INVOCATION, [1]), "$[1]", r"expected an object \(Invocation\), got array \(request"),
        (body([]), "$[0]", r"expected an object \(Invocation\), got array \(request"),
        (body("abc"), "$[0]", r"expected an object \(Invocation\), got string \(request"),
        (body(None), "$[0]", r"expected an object \(Invocation\), got null \(request"),
        (
            body({k: v for k, v in INVOCATION.items() if k != "version"}),
            "$[0].version",
            "required field missing",
        ),
        (body({**INVOCATION, "id": None}), "$[0].id", "expected a string, got null"),
        (body({**INVOCATION, "app_name": 12}), "$[0].app_name", "expected a string, got number"),
        (
            body(INVOCATION, {**INVOCATION, "status": False}),
            "$[1].status",
            "expected a status string, got boolean",
        ),
        (
            body({**INVOCATION, "payload": {"data": 1}}),
            "$[0].payload",
            "expected a string, got object",
        ),
        (
            body({**INVOCATION, "started_at": None}),
            "$[0].started_at",
            "expected an RFC 3339 string, got null",
        ),
        (body({**INVOCATION, "started_at": "2025-06-01T12:34:56"}), "$[0].started_at", "RFC 3339"),
        (body({**INVOCATION, "finished_at": 1717245296}), "$[0].finished_at", "got number"),
        (body({**INVOCATION, "status_reason": ["a"]}), "$[0].status_reason", "got array"),
    ],
)
def test_bodies_that_do_not_fit_name_the_json_path(raw: bytes, path: str, message: str) -> None:
    with pytest.raises(APIResponseValidationError, match=message) as caught:
        interpret_page_response(200, {**LAST, "X-Request-Id": "req_v"}, raw, offset=4, url="u")
    assert caught.value.path == path
    assert caught.value.status == 200
    assert caught.value.request_id == "req_v"
    assert caught.value.url == "u"


def test_strings_are_never_coerced_from_other_types() -> None:
    # cattrs by default would turn False into "False" and None into "None".
    for wrong in (False, 0, 1.5, None, [], {}):
        with pytest.raises(APIResponseValidationError):
            interpret_page_response(200, LAST, body({**INVOCATION, "version": wrong}), offset=4)


@pytest.mark.parametrize("spell", [str.lower, str.upper])
def test_page_header_names_are_case_insensitive(spell: Any) -> None:
    headers = {spell(name): value for name, value in {**MORE, "X-Request-Id": "r"}.items()}
    page_headers = read_page_headers(headers, requested_offset=0)
    assert (page_headers.has_more, page_headers.next_offset, page_headers.limit) == (True, 2, 2)
    assert page_headers.request_id == "r"
    with pytest.raises(PaginationError) as caught:
        read_page_headers(headers, requested_offset=5)
    assert caught.value.headers["X-Offset"] == "0"
    error = status_error(404, {spell("X-Request-Id"): "req_9"}, b"")
    assert error.request_id == "req_9"
    assert error.headers["x-request-id"] == error.headers["X-REQUEST-ID"] == "req_9"


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("X-Has-More", ["true", "false"]),
        ("x-has-more", ["false", "true"]),
        ("X-Next-Offset", ["2", "20"]),
        ("X-Limit", ["2", "3"]),
        ("X-Offset", ["0", "1"]),
    ],
)
def test_a_pagination_header_given_twice_with_different_values_is_a_contradiction(
    name: str, values: list[str]
) -> None:
    # A proxy that appends its own copy: read first-come, the walk could end early or run on.
    pairs = [(n, v) for n, v in MORE.items() if n.lower() != name.lower()]
    headers = CIMultiDictProxy(CIMultiDict([*pairs, *((name, value) for value in values)]))
    with pytest.raises(PaginationError, match="given 2 times, with different values") as caught:
        read_page_headers(headers, requested_offset=0)
    assert caught.value.headers[name] == ", ".join(values)  # as RFC 9110 section 5.3 joins them
    with pytest.raises(PaginationError):
        interpret_page_response(200, headers, b"[]", offset=0)


@pytest.mark.parametrize(
    ("name", "again", "read"),
    [
        ("x-has-more", "true", ("has_more", True)),
        ("X-Has-More", "True", ("has_more", True)),  # Go's ParseBool: the same value
        ("X-Has-More", "1", ("has_more", True)),
        ("X-Next-Offset", "02", ("next_offset", 2)),
        ("X-Limit", " 2 ", ("limit", 2)),
    ],
)
def test_a_pagination_header_repeated_with_the_same_value_says_it_once(
    name: str, again: str, read: tuple[str, object]
) -> None:
    headers = CIMultiDictProxy(CIMultiDict([*MORE.items(), (name, again)]))
    attribute, value = read
    assert getattr(read_page_headers(headers, requested_offset=0), attribute) == value


def test_a_repeated_pagination_header_with_a_value_it_cannot_read_says_so() -> None:
    headers = CIMultiDictProxy(CIMultiDict([*MORE.items(), ("X-Has-More", "maybe")]))
    with pytest.raises(PaginationError, match="not a boolean: 'maybe'"):
        read_page_headers(headers, requested_offset=0)


def test_a_non_2xx_response_raises_its_status_error_before_reading_headers() -> None:
    with pytest.raises(NotFoundError):
        interpret_page_response(404, {"X-Has-More": "garbage"}, b"", offset=0)


# -- edges the mutation run found untested ---------------------------------------------------


def test_a_contradiction_keeps_every_pagination_header_and_only_those() -> None:
    headers = {**MORE, "X-Next-Offset": "0", "X-Request-Id": "r", "Content-Type": "x"}
    with pytest.raises(PaginationError) as caught:
        read_page_headers(headers, requested_offset=0)
    assert dict(caught.value.headers) == {
        "X-Limit": "2",
        "X-Offset": "0",
        "X-Next-Offset": "0",
        "X-Has-More": "true",
    }
    assert caught.value.offset == 0
    assert caught.value.request_id == "r"


@pytest.mark.parametrize("blank", ["", "  "])
def test_a_blank_integer_header_is_absent(blank: str) -> None:
    headers = read_page_headers({**LAST, "X-Limit": blank, "X-Offset": blank}, requested_offset=4)
    assert (headers.limit, headers.offset, headers.has_more) == (None, 4, False)


def test_page_headers_are_built_by_keyword() -> None:
    with pytest.raises(TypeError):
        PageHeaders(True, 2, 2, 0, None)  # type: ignore[misc]


def test_page_step_is_the_distance_to_the_next_offset() -> None:
    page = Page(items=(), offset=100, limit=20, has_more=True, next_offset=150)
    assert page_step(page) == 50
    assert page_step(Page(items=(), offset=100, limit=20, has_more=False, next_offset=None)) == 20


@pytest.mark.parametrize("status", [199, 300, 304, 100])
def test_statuses_just_outside_2xx_are_status_errors(status: int) -> None:
    with pytest.raises(APIStatusError) as caught:
        interpret_page_response(status, MORE, body(INVOCATION), offset=0)
    assert caught.value.status == status


@pytest.mark.parametrize("status", [200, 203, 299])
def test_every_2xx_is_a_page(status: int) -> None:
    assert len(interpret_page_response(status, LAST, body(INVOCATION), offset=4)) == 1


def test_a_page_reads_its_request_id_whatever_the_spelling() -> None:
    headers = {name.lower(): value for name, value in {**LAST, "X-Request-Id": "r"}.items()}
    page = interpret_page_response(200, headers, body(INVOCATION), offset=4)
    assert page.request_id == "r"
    with pytest.raises(APIResponseValidationError) as caught:
        interpret_page_response(200, headers, b"[{", offset=4)
    assert caught.value.request_id == "r"


@pytest.mark.parametrize("raw", [b"[NaN]", b'[{"id": Infinity}]', b"[-Infinity]"])
def test_nan_and_infinity_are_not_json_and_not_retried(raw: bytes) -> None:
    with pytest.raises(APIResponseValidationError) as caught:
        interpret_page_response(200, {**LAST, "X-Request-Id": "r"}, raw, offset=4, url="u")
    error = caught.value
    assert (error.retryable, error.status, error.path, error.request_id, error.url) == (
        False,
        200,
        "$",
        "r",
        "u",
    )
    assert error.message.startswith("the response body is not JSON: ")


@pytest.mark.parametrize(("raw", "what"), [(b"[{", "not valid JSON: '[{'"), (b" ", "empty")])
def test_a_body_that_is_not_json_at_all_is_retryable(raw: bytes, what: str) -> None:
    with pytest.raises(APIResponseValidationError) as caught:
        interpret_page_response(200, {**LAST, "X-Request-Id": "r"}, raw, offset=4, url="u")
    error = caught.value
    assert (error.retryable, error.status, error.request_id, error.url) == (True, 200, "r", "u")
    assert error.message == f"the response body is {what}"


def test_a_lost_x_has_more_is_followed_when_the_next_offset_moves_forward() -> None:
    headers = {"X-Next-Offset": "40", "X-Limit": "20"}
    page = read_page_headers(headers, requested_offset=20)
    assert (page.has_more, page.next_offset) == (True, 40)
    assert page.anomalies == ("X-Has-More is missing but X-Next-Offset is 40",)
    for backward in ("20", "5"):
        with pytest.raises(
            PaginationError,
            match=f"X-Has-More is missing and X-Next-Offset {backward} does not move forward",
        ):
            read_page_headers({"X-Next-Offset": backward}, requested_offset=20)
    last = read_page_headers({"X-Next-Offset": "0"}, requested_offset=20)
    assert (last.has_more, last.anomalies) == (False, ())


def test_a_next_offset_past_int64_is_a_contradiction_not_a_request() -> None:
    # The server reads offset into a Go int64; a walk once sent offset=2**63 on its word.
    largest = 2**63 - 1
    for headers in (
        {"X-Has-More": "true", "X-Next-Offset": str(largest + 1)},
        {"X-Next-Offset": str(largest + 1)},  # X-Has-More lost
    ):
        with pytest.raises(PaginationError, match=r"past 2\*\*63 - 1") as caught:
            read_page_headers(headers, requested_offset=0)
        assert caught.value.offset == 0
    page = read_page_headers(
        {"X-Has-More": "true", "X-Next-Offset": str(largest)}, requested_offset=0
    )
    assert page.next_offset == largest


@pytest.mark.parametrize("spelling", [" 40", "40 ", "\t40\t"])
def test_an_integer_header_with_surrounding_whitespace_is_read(spelling: str) -> None:
    headers = {"X-Has-More": "true", "X-Next-Offset": spelling, "X-Limit": spelling}
    page = read_page_headers(headers, requested_offset=20)
    assert (page.next_offset, page.limit) == (40, 40)


def test_the_repr_of_page_headers_shows_every_field() -> None:
    page = read_page_headers({**MORE, "X-Request-Id": "req_1"}, requested_offset=0)
    assert repr(page) == (
        "PageHeaders(anomalies=(), has_more=True, limit=2, next_offset=2, offset=0, "
        "request_id='req_1')"
    )
