"""Connecting to a Label Studio server: the managed local one, or any other from the environment.

``LABEL_STUDIO_URL`` and ``LABEL_STUDIO_API_KEY`` point every command at another server;
otherwise the managed server's URL is the one ``serve`` last recorded (so ``serve --port P``
then ``push`` uses P), else ``[tool.sahelwire] label_studio_url``, and its token comes from
the 0600 credentials file. Tokens never appear in messages.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

import httpx
from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError

from sahelwire.io.config import Settings
from sahelwire.io.paths import ProjectPaths
from sahelwire.labelstudio import server


class ConnectionProblem(RuntimeError):
    """The server is unreachable, refuses the token, or answers with an error."""


@dataclass(frozen=True)
class Connection:
    url: str
    client: LabelStudio
    api_key: str

    def __repr__(self) -> str:
        return f"Connection(url={self.url!r}, api_key=***)"


def redact(message: str, *secrets_: str) -> str:
    for s in secrets_:
        if s:
            message = message.replace(s, "***")
    # Belt and braces: anything that looks like a token in a server message.
    return re.sub(r"\b[0-9a-f]{40}\b", "***", message)


def describe(exc: BaseException, url: str, api_key: str = "") -> str:
    """A one-line, secret-free explanation of a failed call."""
    if isinstance(exc, ApiError):
        code = exc.status_code
        if code == 401 or code == 403:
            return (
                f"Label Studio at {url} refused the API key (HTTP {code}); check "
                "LABEL_STUDIO_API_KEY or .sahelwire/labelstudio/credentials.json"
            )
        return redact(f"Label Studio at {url} answered HTTP {code}: {str(exc.body)[:300]}", api_key)
    if isinstance(exc, httpx.TimeoutException):
        return f"Label Studio at {url} did not answer in time ({type(exc).__name__})"
    if isinstance(exc, (httpx.TransportError, OSError)):
        return f"cannot reach Label Studio at {url} ({type(exc).__name__}); is it running? (sahelwire labelstudio serve)"
    return redact(f"Label Studio at {url}: {type(exc).__name__}: {exc}", api_key)


def connect(paths: ProjectPaths, *, timeout: float = 60.0) -> Connection:
    url = (
        os.environ.get("LABEL_STUDIO_URL")
        or server.served_url(paths)
        or Settings.load(paths).label_studio_url
    )
    api_key = os.environ.get("LABEL_STUDIO_API_KEY", "")
    if not api_key:
        cred_file = server.credentials_file(paths)
        if not cred_file.exists():
            raise ConnectionProblem(
                "no API key: set LABEL_STUDIO_API_KEY, or start the managed server once "
                "with `sahelwire labelstudio serve` (it creates "
                f"{cred_file})"
            )
        try:
            api_key = server.load_or_create_credentials(paths, url).api_key
        except server.ServerError as exc:  # a damaged or world-readable credentials file
            raise ConnectionProblem(str(exc)) from None
    url = url.rstrip("/")
    client = LabelStudio(base_url=url, api_key=api_key, timeout=timeout)
    conn = Connection(url, client, api_key)
    call(conn, lambda: client.users.whoami())
    return conn


def call(conn: Connection, fn: Any) -> Any:
    """Run one SDK call, turning every failure into a ConnectionProblem without secrets."""
    try:
        return fn()
    except (ApiError, httpx.HTTPError, OSError) as exc:
        raise ConnectionProblem(describe(exc, conn.url, conn.api_key)) from None
