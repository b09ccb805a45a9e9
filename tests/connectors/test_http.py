"""The shared HTTP core against a real server on loopback: retries, waits, errors."""

from __future__ import annotations

import base64

import pytest
from fastapi import Request
from fastapi.responses import JSONResponse, Response

from billsync.connectors.http import AuthFailed, Retry, VendorClient, VendorError
from billsync.connectors.platforms import toggl
from billsync.sandbox.base import Sandbox, serve


class Echo(Sandbox):
    platform = "echo"

    def __init__(self) -> None:
        super().__init__()
        self.app.get("/v1/things")(self.things)
        self.app.get("/v1/private")(self.private)
        self.app.get("/v1/broken")(self.broken)
        self.app.get("/v1/gzip")(self.not_gzip)
        self.app.get("/v1/quote")(self.quote)
        self.app.get("/v1/nan")(self.nan)
        self.nan_headers: dict[str, str] = {}
        self.nan_left = 0

    async def things(self, request: Request) -> dict[str, object]:
        return {"things": [1, 2], "page": request.query_params.get("page")}

    async def private(self, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != "Bearer right":
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        return JSONResponse({"ok": True})

    async def broken(self) -> JSONResponse:
        return JSONResponse({"message": "x" * 1000}, status_code=422)

    async def quote(self, request: Request) -> JSONResponse:
        """A 401 that quotes what the request carried, whole, decoded and in pieces."""
        said = [request.headers.get(k, "") for k in ("authorization", "x-api-key")]
        scheme, _, token = said[0].partition(" ")
        if scheme == "Basic":
            said.append(base64.b64decode(token).decode())
        said += [f"({value[:9]}...)" for value in said if value]
        return JSONResponse({"error": "refused: " + "; ".join(said)}, status_code=401)

    async def not_gzip(self) -> Response:
        """A proxy that says gzip and sends plain JSON."""
        return Response(b'{"ok": true}', headers={"content-encoding": "gzip"})

    async def nan(self) -> JSONResponse:
        """429s whose wait is not a number, then an answer."""
        if self.nan_left > 0:
            self.nan_left -= 1
            return JSONResponse({"error": "slow down"}, 429, headers=self.nan_headers)
        return JSONResponse({"ok": True})


@pytest.fixture
def echo() -> Echo:
    return Echo()


def client(url: str, waits: list[float], **kwargs: object) -> VendorClient:
    return VendorClient("echo", url, sleep=waits.append, **kwargs)  # type: ignore[arg-type]


def test_a_429_waits_as_long_as_retry_after_says(echo: Echo) -> None:
    waits: list[float] = []
    echo.faults.throttle_next, echo.faults.throttle_seconds = 2, 3
    with serve(echo) as url:
        body = client(url, waits).json("GET", "/v1/things", params={"page": 2})
    assert body == {"things": [1, 2], "page": "2"}
    assert waits == [3.0, 3.0]


def test_server_errors_are_retried_with_growing_back_off(echo: Echo) -> None:
    waits: list[float] = []
    echo.faults.fail_next = 3
    with serve(echo) as url:
        assert client(url, waits).json("GET", "/v1/things")["things"] == [1, 2]
    assert len(waits) == 3
    assert waits[0] < waits[2]  # 0.25..0.5 s, then 0.5..1, then 1..2


def test_a_storm_that_does_not_pass_fails_naming_platform_and_call(echo: Echo) -> None:
    waits: list[float] = []
    echo.faults.fail_next = 100
    with serve(echo) as url, pytest.raises(VendorError) as caught:
        client(url, waits, retry=Retry(attempts=4)).json(
            "GET", "/v1/things?access_token=SECRET-123"
        )
    message = str(caught.value)
    assert message.startswith("echo: GET /v1/things: 503")
    assert "gave up after 4 tries" in message
    assert "SECRET-123" not in message  # the query string never reaches an error
    assert len(waits) == 3


def test_wrong_credentials_fail_loudly_without_the_secret(echo: Echo) -> None:
    with serve(echo) as url:
        wrong = client(url, [], headers={"Authorization": "Bearer wrong-secret-value"})
        with pytest.raises(AuthFailed) as caught:
            wrong.json("GET", "/v1/private")
        right = client(url, [], headers={"Authorization": "Bearer right"})
        assert right.json("GET", "/v1/private") == {"ok": True}
    assert caught.value.status == 401
    assert "wrong-secret-value" not in str(caught.value)
    assert "invalid_token" in str(caught.value)


def test_a_client_error_is_not_retried_and_its_detail_is_cut_short(echo: Echo) -> None:
    waits: list[float] = []
    with serve(echo) as url, pytest.raises(VendorError) as caught:
        client(url, waits).json("GET", "/v1/broken")
    assert caught.value.status == 422
    assert len(caught.value.detail) == 300
    assert waits == []


def test_a_slow_server_times_out_and_is_retried(echo: Echo) -> None:
    waits: list[float] = []
    echo.faults.slow_seconds = 0.5
    with serve(echo) as url, pytest.raises(VendorError) as caught:
        client(url, waits, timeout=0.1, retry=Retry(attempts=2)).json("GET", "/v1/things")
    assert "timed out" in str(caught.value)
    assert len(waits) == 1


def test_an_unreachable_host_is_a_vendor_error_not_a_crash() -> None:
    with pytest.raises(VendorError) as caught:
        VendorClient("echo", "http://127.0.0.1:9", sleep=lambda s: None, retry=Retry(2)).json(
            "GET", "/v1/things"
        )
    assert "unreachable" in str(caught.value)


def test_paths_join_the_base_url_path(echo: Echo) -> None:
    with serve(echo) as url:
        assert client(url + "/v1/", []).json("GET", "/things")["things"] == [1, 2]


def test_a_body_that_does_not_decode_as_its_encoding_says_is_a_vendor_error(echo: Echo) -> None:
    with serve(echo) as url, pytest.raises(VendorError) as caught:
        client(url, []).json("GET", "/v1/gzip")
    assert str(caught.value).startswith("echo: GET /v1/gzip: ")
    assert "does not decode" in str(caught.value)


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf"])
def test_a_wait_that_is_not_a_finite_number_is_the_usual_back_off(echo: Echo, value: str) -> None:
    waits: list[float] = []
    echo.nan_headers, echo.nan_left = {"Retry-After": value}, 2
    with serve(echo) as url:
        assert client(url, waits).json("GET", "/v1/nan") == {"ok": True}
    assert len(waits) == 2
    assert all(0 < wait < 1 for wait in waits)  # the back-off's first steps


def test_toggls_quota_header_as_nan_is_the_usual_back_off(echo: Echo) -> None:
    waits: list[float] = []
    echo.nan_headers, echo.nan_left = {"X-Toggl-Quota-Resets-In": "NaN"}, 1
    with serve(echo) as url:
        answer = client(url, waits, wait_of=toggl.wait_of).json("GET", "/v1/nan")
    assert answer == {"ok": True}
    assert len(waits) == 1 and 0 < waits[0] < 1


@pytest.mark.parametrize(
    "headers, secrets",
    [
        ({"Authorization": "Bearer hv-SECRET-TOKEN-1234567890"}, ["hv-SECRET-TOKEN-1234567890"]),
        ({"X-Api-Key": "ck-SECRET-APIKEY-1234567890"}, ["ck-SECRET-APIKEY-1234567890"]),
        (
            {
                "Authorization": "Basic "
                + base64.b64encode(b"tg-SECRET-1234567890:api_token").decode()
            },
            ["tg-SECRET-1234567890", base64.b64encode(b"tg-SECRET-1234567890:api_token").decode()],
        ),
    ],
)
def test_a_credential_quoted_back_never_reaches_the_error(
    echo: Echo, headers: dict[str, str], secrets: list[str]
) -> None:
    with serve(echo) as url, pytest.raises(AuthFailed) as caught:
        client(url, [], headers=headers).json("GET", "/v1/quote")
    message = str(caught.value)
    assert message.startswith("echo: GET /v1/quote: 401 ") and "refused: " in message
    assert "[redacted]" in message
    assert [s for s in secrets if s in message or s[:9] in message] == []


class Gone(Sandbox):
    """A 404 as a platform says it (JSON), and as a proxy in front of it does (HTML)."""

    platform = "gone"

    def __init__(self) -> None:
        super().__init__()
        self.app.get("/v1/json/{ident}")(self.json_404)
        self.app.get("/v1/page/{ident}")(self.page_404)

    async def json_404(self, ident: str) -> JSONResponse:
        return JSONResponse({"status": 404, "error": "Not Found"}, status_code=404)

    async def page_404(self, ident: str) -> Response:
        page = "<html><body><h1>404 Not Found</h1><hr>nginx</body></html>"
        return Response(page, status_code=404, media_type="text/html")


def test_a_404_the_caller_takes_as_not_there_must_come_from_the_platform() -> None:
    with serve(Gone()) as url:
        http = client(url, [])
        said = http.request("GET", "/v1/json/7", ok=frozenset({404}))
        with pytest.raises(VendorError, match="web page, not the platform's API") as caught:
            http.request("GET", "/v1/page/7", ok=frozenset({404}))
        with pytest.raises(VendorError, match="404"):  # not taken as an answer: as before
            http.request("GET", "/v1/page/7")
    assert said.status_code == 404
    assert caught.value.status == 404 and caught.value.call == "GET /v1/page/7"
