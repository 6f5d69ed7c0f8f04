"""`requests` calls that present the token a test's server fixture exported as MLOS_TOKEN.

    from tests.authorized import http
    http.get(f"{url}/v1/plugins", timeout=5)
"""

from __future__ import annotations

import os
from typing import Any

import requests


class _Authorized:
    """`get`, `post`, `put`, `delete` of `requests` with `Authorization: Bearer $MLOS_TOKEN`."""

    def request(self, method: str, url: str, **options: Any) -> requests.Response:
        headers = dict(options.pop("headers", None) or {})
        token = os.environ.get("MLOS_TOKEN")
        if token:
            headers.setdefault("Authorization", f"Bearer {token}")
        return requests.request(method, url, headers=headers, **options)

    def get(self, url: str, **options: Any) -> requests.Response:
        return self.request("GET", url, **options)

    def post(self, url: str, **options: Any) -> requests.Response:
        return self.request("POST", url, **options)

    def put(self, url: str, **options: Any) -> requests.Response:
        return self.request("PUT", url, **options)

    def delete(self, url: str, **options: Any) -> requests.Response:
        return self.request("DELETE", url, **options)


http = _Authorized()
"""The instance tests use."""
