"""Error-body descriptions, status → exception mapping and Retry-After parsing."""

from __future__ import annotations

import email.utils
import json
import time

import pytest

from codestral_ls.mistral import (
    AuthenticationError,
    BadRequestError,
    MistralError,
    NetworkError,
    ProtocolError,
    RateLimitedError,
    ServerError,
    UpstreamTimeout,
    describe_error_body,
    error_from_response,
    parse_retry_after,
)

KEY = "sk-test-SECRET-0123456789"
ENDPOINT = "https://codestral.mistral.ai"


def _json(obj: object) -> bytes:
    return json.dumps(obj).encode()


# --------------------------------------------------------------------------- describe_error_body


@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        (
            _json(
                {
                    "object": "error",
                    "message": "Invalid model: codestral-nope",
                    "type": "invalid_model",
                    "param": None,
                    "code": "1500",
                }
            ),
            400,
            "Invalid model: codestral-nope",
        ),
        (_json({"message": "Unauthorized", "request_id": "abc"}), 401, "Unauthorized"),
        (
            _json(
                {
                    "detail": [
                        {
                            "loc": ["body", "max_tokens"],
                            "msg": "Input should be greater than or equal to 0",
                            "type": "greater_than_equal",
                        }
                    ]
                }
            ),
            422,
            "body.max_tokens: Input should be greater than or equal to 0",
        ),
        (
            _json(
                {
                    "detail": [
                        {
                            "loc": ["body", "foo"],
                            "msg": "Extra inputs are not permitted",
                            "type": "x",
                        },
                        {"loc": ["body", "messages", 0, "role"], "msg": "Bad role", "type": "y"},
                    ]
                }
            ),
            422,
            "body.foo: Extra inputs are not permitted; body.messages.0.role: Bad role",
        ),
        (_json({"detail": [{"loc": [], "msg": "Broken", "type": "z"}]}), 422, "Broken"),
        (_json({"detail": "Not Found"}), 404, "Not Found"),
        (
            _json(
                {
                    "object": "error",
                    "message": {
                        "detail": [
                            {"loc": ["body", "prompt"], "msg": "Field required", "type": "missing"}
                        ]
                    },
                    "type": "invalid_request_error",
                }
            ),
            422,
            "body.prompt: Field required",
        ),
        (_json({"message": {"error": "Upstream model crashed"}}), 500, "Upstream model crashed"),
        (
            _json({"message": ["first problem", "second problem"]}),
            400,
            "first problem; second problem",
        ),
        (
            _json({"error": {"message": "Incorrect API key provided", "type": "auth"}}),
            401,
            "Incorrect API key provided",
        ),
        (_json({"error": "invalid_grant"}), 400, "invalid_grant"),
        (_json("just a JSON string"), 500, "just a JSON string"),
        (_json({"message": "line one\n  line two"}), 400, "line one line two"),
        (
            b"upstream connect error\nor disconnect/reset before headers",
            503,
            "upstream connect error or disconnect/reset before headers",
        ),
        ("plain str body", 500, "plain str body"),
    ],
)
def test_describe_json_and_text_shapes(body: bytes | str, status: int, expected: str) -> None:
    assert describe_error_body(body, status) == expected


def test_describe_html_prefers_title() -> None:
    page = (
        b"<html>\n<head><title>502 Bad Gateway</title></head>\n<body>\n"
        b"<center><h1>502 Bad Gateway</h1></center>\n<hr><center>nginx</center>\n</body>\n</html>"
    )
    assert describe_error_body(page, 502) == "502 Bad Gateway"


def test_describe_html_without_title_strips_tags_scripts_and_entities() -> None:
    page = (
        "<!DOCTYPE html><html><head><style>body{color:red}</style></head><body>"
        "<script>var x = 1;</script><!-- hidden -->"
        "<h1>Service\n   Unavailable</h1><p>Try again &amp; again</p></body></html>"
    )
    assert describe_error_body(page, 503) == "Service Unavailable Try again & again"


def test_describe_caps_length_and_stays_on_one_line() -> None:
    page = "<html><body><p>" + "word " * 200 + "</p></body></html>"
    text = describe_error_body(page, 500)
    assert len(text) <= 200
    assert text.endswith("…")
    long_json = _json({"message": "x\n" * 500})
    described = describe_error_body(long_json, 400)
    assert len(described) <= 200
    assert "\n" not in described


@pytest.mark.parametrize("body", [None, b"", "", b"   \n", _json({}), _json([]), _json(None)])
def test_empty_bodies_fall_back_to_status_line(body: bytes | str | None) -> None:
    assert describe_error_body(body, 502) == "HTTP 502 Bad Gateway"
    assert describe_error_body(body, 429) == "HTTP 429 Too Many Requests"


def test_unknown_status_and_shapes() -> None:
    assert describe_error_body(b"", 599) == "HTTP 599"
    assert describe_error_body(_json({"foo": 1}), 500) == '{"foo": 1}'
    # Undecodable bytes do not crash.
    assert describe_error_body(b"\xff\xfe oops", 500).endswith("oops")


def test_describe_redacts_bearer_tokens() -> None:
    body = _json({"message": f"Header was 'Authorization: Bearer {KEY}'"})
    text = describe_error_body(body, 401)
    assert KEY not in text
    assert "Bearer [redacted]" in text


# --------------------------------------------------------------------------- error_from_response


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (404, BadRequestError),
        (422, BadRequestError),
        (413, BadRequestError),
        (401, AuthenticationError),
        (403, AuthenticationError),
        (429, RateLimitedError),
        (408, UpstreamTimeout),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (504, ServerError),
    ],
)
def test_status_maps_to_class(status: int, cls: type[MistralError]) -> None:
    err = error_from_response(status, {}, b"", endpoint=ENDPOINT, model="codestral-latest")
    assert type(err) is cls
    assert err.status == status
    assert isinstance(err, MistralError)
    assert err.message and "\n" not in err.message
    assert str(err) == err.message


def test_unexpected_status_is_base_class() -> None:
    err = error_from_response(302, {"Location": "/x"}, b"", endpoint=ENDPOINT, model=None)
    assert type(err) is MistralError
    assert "302" in err.message


def test_class_hierarchy() -> None:
    assert issubclass(ProtocolError, ServerError)
    for cls in (
        AuthenticationError,
        BadRequestError,
        RateLimitedError,
        ServerError,
        UpstreamTimeout,
        NetworkError,
        ProtocolError,
    ):
        assert issubclass(cls, MistralError)


@pytest.mark.parametrize("status", [401, 403])
def test_auth_message_names_host_and_key_difference(status: int) -> None:
    body = _json({"message": "Unauthorized", "request_id": "r1"})
    err = error_from_response(status, {}, body, endpoint=ENDPOINT + "/", model="codestral-latest")
    assert isinstance(err, AuthenticationError)
    assert "rejected by codestral.mistral.ai" in err.message
    assert "codestral.mistral.ai and api.mistral.ai are different" in err.message
    assert "Unauthorized" in err.message


def test_auth_message_without_key() -> None:
    err = error_from_response(
        401, {}, b"", endpoint="https://api.mistral.ai", model=None, key_sent=False
    )
    assert "No API key" in err.message
    assert "api.mistral.ai" in err.message


def test_host_includes_explicit_port() -> None:
    err = error_from_response(500, {}, b"", endpoint="http://127.0.0.1:8765", model=None)
    assert "127.0.0.1:8765" in err.message


def test_bad_request_keeps_server_message_and_model() -> None:
    body = _json(
        {
            "detail": [
                {
                    "loc": ["body", "max_tokens"],
                    "msg": "Input should be a valid integer",
                    "type": "int",
                }
            ]
        }
    )
    err = error_from_response(422, {}, body, endpoint=ENDPOINT, model="codestral-latest")
    assert isinstance(err, BadRequestError)
    assert err.model == "codestral-latest"
    assert err.detail == "body.max_tokens: Input should be a valid integer"
    assert "body.max_tokens: Input should be a valid integer" in err.message
    assert not err.is_unknown_model


@pytest.mark.parametrize(
    ("status", "body", "model", "unknown"),
    [
        # the documented shapes
        (
            400,
            _json({"object": "error", "message": "Invalid model: foo", "type": "invalid_model"}),
            "foo",
            True,
        ),
        (400, _json({"message": "Invalid model: foo", "code": "1500"}), "foo", True),
        (400, _json({"message": "Model codestral-9999 does not exist"}), "codestral-9999", True),
        (404, _json({"error": "model 'nope:7b' not found"}), "nope:7b", True),
        (
            404,
            _json({"error": 'model "nope:7b" not found, try pulling it first'}),
            "nope:7b",
            True,
        ),
        (
            404,
            _json({"error": {"message": "The model `gpt-x` does not exist.", "code": None}}),
            "gpt-x",
            True,
        ),
        (404, _json({"error": {"message": "gone", "code": "model_not_found"}}), "gpt-x", True),
        (404, _json({"error": {"code": "DeploymentNotFound", "message": "x"}}), "d", True),
        # anything else is not, even when it names the model or says "not found"
        (404, _json({"detail": "Not Found"}), "codestral-latest", False),
        (400, _json({"message": "Deployment not found"}), None, False),
        (
            400,
            _json({"message": "Prompt is too long for the model context"}),
            "codestral-latest",
            False,
        ),
        (
            400,
            _json({"message": "Prompt of 40000 tokens is too long for codestral-latest"}),
            "codestral-latest",
            False,
        ),
        (
            422,
            _json({"message": "max_tokens too large for model codestral-latest"}),
            "codestral-latest",
            False,
        ),
        (400, _json({"message": "Invalid model: foo"}), "foo", True),
        (409, _json({"message": "Invalid model: foo", "type": "invalid_model"}), "foo", False),
        (400, _json({"message": "The file was not found in model storage"}), "m", False),
        (
            422,
            _json({"detail": [{"loc": ["body", "top_p"], "msg": "too big", "type": "x"}]}),
            "m",
            False,
        ),
    ],
)
def test_is_unknown_model(status: int, body: bytes, model: str | None, unknown: bool) -> None:
    err = error_from_response(status, {}, body, endpoint=ENDPOINT, model=model)
    assert isinstance(err, BadRequestError)
    assert err.is_unknown_model is unknown


def test_server_error_message() -> None:
    err = error_from_response(
        503, {}, b"<html><title>Service Unavailable</title></html>", endpoint=ENDPOINT, model=None
    )
    assert isinstance(err, ServerError)
    assert "codestral.mistral.ai" in err.message
    assert "Service Unavailable" in err.message


# --------------------------------------------------------------------------- Retry-After


def test_retry_after_delta_seconds() -> None:
    err = error_from_response(429, {"Retry-After": "7"}, b"", endpoint=ENDPOINT, model=None)
    assert isinstance(err, RateLimitedError)
    assert err.retry_after == 7.0
    assert "retry after 7 s" in err.message
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after("-3") == 0.0


def test_retry_after_header_name_is_case_insensitive() -> None:
    err = error_from_response(429, {"retry-after": "3"}, b"", endpoint=ENDPOINT, model=None)
    assert isinstance(err, RateLimitedError)
    assert err.retry_after == 3.0


def test_retry_after_http_date() -> None:
    now = 1_700_000_000.0
    header = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(header, now=now) == pytest.approx(30.0)
    assert parse_retry_after(email.utils.formatdate(now - 60, usegmt=True), now=now) == 0.0

    future = email.utils.formatdate(time.time() + 120, usegmt=True)
    err = error_from_response(429, {"Retry-After": future}, b"", endpoint=ENDPOINT, model=None)
    assert isinstance(err, RateLimitedError)
    assert err.retry_after is not None
    assert 100.0 < err.retry_after <= 121.0


@pytest.mark.parametrize("value", [None, "", "soon", "nan", "inf", "Someday, 99 Foo 20xx"])
def test_retry_after_garbage(value: str | None) -> None:
    assert parse_retry_after(value) is None


def test_rate_limited_without_header() -> None:
    err = error_from_response(
        429, {}, _json({"message": "Requests rate limit exceeded"}), endpoint=ENDPOINT, model=None
    )
    assert isinstance(err, RateLimitedError)
    assert err.retry_after is None
    assert "Requests rate limit exceeded" in err.message


# --------------------------------------------------------------------------- secrets


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422, 429, 500, 503])
def test_key_never_in_messages(status: int) -> None:
    bodies = [
        b"",
        _json({"message": "Unauthorized"}),
        _json({"message": f"bad header: Bearer {KEY}"}),
        f"<html><title>Bearer {KEY}</title></html>".encode(),
    ]
    for body in bodies:
        err = error_from_response(
            status, {"Retry-After": "1"}, body, endpoint=ENDPOINT, model="codestral-latest"
        )
        assert KEY not in err.message
        assert KEY not in repr(err)
        assert KEY not in str(err)
