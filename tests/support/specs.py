"""Check a sandbox's real HTTP responses against the vendor's own API description
(tests/vendor_specs/, copied verbatim with their provenance in SOURCES.md)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

SPECS = Path(__file__).resolve().parents[1] / "vendor_specs"


@cache
def spec(relative: str) -> OpenAPI:
    """The description, checked against the OpenAPI schema when it passes; some vendors'
    own files fail that strict check on details that do not touch the responses (Xero's
    accounting spec writes `default: 'false'` for booleans, Harvest's puts
    `externalDocs` where the schema does not allow it): those are read unchecked, and
    responses are still validated against them."""
    path = str(SPECS / relative)
    try:
        return OpenAPI.from_file_path(path)
    except OpenAPIValidationError:
        return OpenAPI.from_file_path(path, config=Config(spec_validator_cls=None))


def check(relative: str, response: httpx.Response) -> None:
    """Raise if `response` (to a request a connector made) breaks the vendor's spec."""
    openapi = spec(relative)
    server = str(openapi.spec["servers"][0]["url"]).rstrip("/")
    base = urlsplit(server).path
    request = response.request
    path = request.url.path
    assert path.startswith(base), f"{path} is not under the spec's server path {base}"
    # The whole path under the server's host: MockRequest joins host and path with
    # urljoin, which would drop a server path such as Harvest's `/v2`.
    parts = urlsplit(server)
    mock_request = MockRequest(
        f"{parts.scheme}://{parts.netloc}",
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
