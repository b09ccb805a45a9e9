"""Check a sandbox's real HTTP responses against the vendor's own API description
(tests/vendor_specs/, copied verbatim with their provenance in SOURCES.md)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from openapi_core import Config, OpenAPI
from openapi_core.templating.paths.exceptions import PathError
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


def servers(openapi: OpenAPI) -> list[str]:
    """Every server URL the description names: its own, and those of paths and
    operations (an API on several hosts, e.g. Clockify's reports host)."""
    with openapi.spec.open() as raw:
        found = [str(s["url"]) for s in raw.get("servers", [])]
        for item in raw.get("paths", {}).values():
            found += [str(s["url"]) for s in item.get("servers", [])]
            for operation in item.values():
                if isinstance(operation, dict):
                    found += [str(s["url"]) for s in operation.get("servers", [])]
    return list(dict.fromkeys(url.rstrip("/") for url in found))


def check(relative: str, response: httpx.Response) -> None:
    """Raise if `response` (to a request a connector made) breaks the vendor's spec.

    The request is matched as if it had gone to the vendor: to each server whose path
    the request's path starts with (the longest first), under that server's host, so
    a server path such as `/api/v1` is kept when the operation is looked up."""
    openapi = spec(relative)
    request = response.request
    path = request.url.path
    candidates = sorted(
        (url for url in servers(openapi) if path.startswith(urlsplit(url).path)),
        key=lambda url: -len(urlsplit(url).path),
    )
    assert candidates, f"{path} is not under any of the spec's server paths"
    mock_response = MockResponse(
        response.content,
        status_code=response.status_code,
        content_type=response.headers.get("content-type", "").split(";")[0],
        headers=dict(response.headers),
    )
    for number, server in enumerate(candidates, 1):
        parts = urlsplit(server)
        mock_request = MockRequest(
            f"{parts.scheme}://{parts.netloc}",
            request.method.lower(),
            path,
            args=dict(request.url.params),
            headers=dict(request.headers),
        )
        try:
            openapi.validate_response(mock_request, mock_response)
            return
        except PathError:
            if number == len(candidates):
                raise
