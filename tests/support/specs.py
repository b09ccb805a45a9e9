"""Check a sandbox's real HTTP responses against the vendor's own API description
(tests/vendor_specs/, copied verbatim with their provenance in SOURCES.md)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

SPECS = Path(__file__).resolve().parents[1] / "vendor_specs"


@cache
def spec(relative: str) -> OpenAPI:
    return OpenAPI.from_file_path(str(SPECS / relative))


def check(relative: str, response: httpx.Response) -> None:
    """Raise if `response` (to a request a connector made) breaks the vendor's spec."""
    openapi = spec(relative)
    server = str(openapi.spec["servers"][0]["url"]).rstrip("/")
    base = urlsplit(server).path
    request = response.request
    path = request.url.path
    assert path.startswith(base), f"{path} is not under the spec's server path {base}"
    # openapi-core joins host_url and path with urljoin, which drops a server's own
    # path ("/api/v9"): give it the server's origin and the request's whole path.
    parts = urlsplit(server)
    origin = f"{parts.scheme}://{parts.netloc}" if parts.netloc else "http://localhost"
    mock_request = MockRequest(
        origin,
        request.method.lower(),
        path,
        args=dict(request.url.params),
        headers=dict(request.headers),
    )
    mock_response = MockResponse(
        response.content,
        status_code=response.status_code,
        content_type=response.headers.get("content-type", "").split(";")[0],
        headers=dict(response.headers),
    )
    openapi.validate_response(mock_request, mock_response)
