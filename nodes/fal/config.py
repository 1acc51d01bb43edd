"""Where fal lives and who we are: hosts, credentials, CA bundle, limits.

Standard library only, so ComfyUI can ask "is a key configured?" at start-up without loading httpx.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from .errors import MissingKeyError
from .keyfile import read_key_file

FAL_QUEUE_URL = "https://queue.fal.run"
FAL_REST_URL = "https://rest.fal.ai"
FAL_CDN_URL = "https://v3.fal.media"
# fal's platform API (prices, billing; needs the key) and its public site (per-endpoint OpenAPI; no key).
FAL_PLATFORM_URL = "https://api.fal.ai"
FAL_SITE_URL = "https://fal.ai"

BASE_URL_ENV = "LUMA_FAL_BASE_URL"
CA_BUNDLE_ENV = "LUMA_FAL_CA_BUNDLE"
MAX_CONCURRENT_ENV = "LUMA_FAL_MAX_CONCURRENT"

# fal's own hosts: an https URL on one of these (default port) may carry the key. Suffix matches are on
# a dot boundary so "evil-fal.ai" never matches. falrun.com is fal's backup domain (its Python client
# retries there when fal.run does not connect).
_FAL_HOST_SUFFIXES = (".fal.run", ".fal.ai", ".fal.media", ".falrun.com")
_FAL_EXACT_HOSTS = ("fal.run", "fal.ai", "fal.media", "falrun.com")
_DEFAULT_PORTS = {"http": 80, "https": 443}

KeySource = Literal["env", "file"]


@dataclass(frozen=True)
class Hosts:
    """Base URLs (scheme://host[:port], no trailing slash) of fal's queue, REST API and CDN."""

    queue: str = FAL_QUEUE_URL
    rest: str = FAL_REST_URL
    cdn: str = FAL_CDN_URL
    platform: str = FAL_PLATFORM_URL
    site: str = FAL_SITE_URL
    # True when LUMA_FAL_BASE_URL put everything on one server (the sandbox, a test double, a relay).
    single_base: bool = False

    @classmethod
    def from_base_url(cls, base_url: str) -> Hosts:
        base = _normalise_base_url(base_url)
        return cls(queue=base, rest=base, cdn=base, platform=base, site=base, single_base=True)

    @property
    def distinct(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((self.queue, self.rest, self.cdn)))

    @property
    def key_origins(self) -> frozenset[str]:
        """The configured origins (scheme://host:port) of the queue, REST API and CDN."""
        return frozenset(o for o in (origin_of(url) for url in self.distinct) if o is not None)

    def may_receive_key(self, url: str) -> bool:
        """Whether a request to ``url`` may carry the key: THE one rule every call site goes through.

        Decided by origin, never by host name alone: the exact scheme, host and port of a configured
        base URL, or https on the default port of one of fal's own hosts. So a status URL that points
        at another port of the configured host, or plain http to a fal host, never gets the key.
        """
        parts = _origin_parts(url)
        if parts is None:
            return False
        if _format_origin(*parts) in self.key_origins:
            return True
        scheme, host, port = parts
        return scheme == "https" and port == 443 and is_fal_host(host)


def is_fal_host(host: str) -> bool:
    host = host.lower().rstrip(".")
    return host in _FAL_EXACT_HOSTS or host.endswith(_FAL_HOST_SUFFIXES)


def _origin_parts(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(str(url).strip())
        scheme, host, port = parts.scheme.lower(), parts.hostname, parts.port
    except ValueError:  # a port that is not a number, or out of range
        return None
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    return scheme, host.rstrip("."), port if port is not None else _DEFAULT_PORTS[scheme]


def origin_of(url: str) -> str | None:
    """``scheme://host:port`` of an http(s) URL, the port always written out; None for anything else.

    Safe to show to users: user names, passwords, paths and query strings (signed tokens) are dropped.
    """
    parts = _origin_parts(url)
    return None if parts is None else _format_origin(*parts)


def _format_origin(scheme: str, host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}"


def _normalise_base_url(url: str) -> str:
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or origin_of(url) is None:
        raise ValueError(f"{BASE_URL_ENV} must be an http(s) URL like http://127.0.0.1:8765, got {url!r}")
    if parts.scheme == "http" and is_fal_host(parts.hostname):
        # The key would cross the network in clear text; fal itself only speaks https.
        raise ValueError(f"{BASE_URL_ENV} must use https for fal's own hosts, got {url!r}")
    return url


def hosts_from_env(env: Mapping[str, str] | None = None) -> Hosts:
    env = os.environ if env is None else env
    base = env.get(BASE_URL_ENV, "").strip()
    return Hosts.from_base_url(base) if base else Hosts()


@dataclass(frozen=True)
class Credentials:
    """A fal key and where it came from. repr/str never show the key."""

    key: str = field(repr=False)
    source: KeySource

    def __repr__(self) -> str:
        return f"Credentials(source={self.source!r}, key=<hidden>)"

    __str__ = __repr__

    @property
    def authorization(self) -> str:
        return f"Key {self.key}"


def credentials_from_env(env: Mapping[str, str] | None = None) -> Credentials | None:
    env = os.environ if env is None else env
    key = env.get("FAL_KEY", "").strip()
    if key:
        return Credentials(key=key, source="env")
    key_id = env.get("FAL_KEY_ID", "").strip()
    secret = env.get("FAL_KEY_SECRET", "").strip()
    if key_id and secret:
        return Credentials(key=f"{key_id}:{secret}", source="env")
    return None


def find_credentials(
    key_file: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> Credentials | None:
    """The key from the environment (which wins) or else from the stored key file."""
    found = credentials_from_env(env)
    if found is not None:
        return found
    if key_file is not None:
        key = read_key_file(key_file)
        if key:
            return Credentials(key=key, source="file")
    return None


def load_credentials(
    key_file: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> Credentials:
    """Like ``find_credentials`` but raises ``MissingKeyError`` explaining how to set a key."""
    found = find_credentials(key_file, env)
    if found is None:
        raise MissingKeyError(key_file=str(key_file) if key_file is not None else None)
    return found


def key_source(
    key_file: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> KeySource | None:
    found = find_credentials(key_file, env)
    return found.source if found else None


def ca_bundle_from_env(env: Mapping[str, str] | None = None) -> str | None:
    """A CA bundle path for TLS: ours first, then the variables other tools already honour."""
    env = os.environ if env is None else env
    for name in (CA_BUNDLE_ENV, "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        value = env.get(name, "").strip()
        if value:
            if not Path(value).is_file():
                raise ValueError(f"{name} points at {value!r}, which is not a readable file")
            return value
    return None


# 8 so that a node's 8 takes (or 8 independent nodes) run side by side. fal itself queues what an account
# may not run yet, so the cap mostly bounds this machine's open connections and parallel downloads.
DEFAULT_MAX_CONCURRENT = 8


def max_concurrent_from_env(env: Mapping[str, str] | None = None, default: int = DEFAULT_MAX_CONCURRENT) -> int:
    env = os.environ if env is None else env
    raw = env.get(MAX_CONCURRENT_ENV, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{MAX_CONCURRENT_ENV} must be a whole number >= 1, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"{MAX_CONCURRENT_ENV} must be a whole number >= 1, got {raw!r}")
    return value


@dataclass(frozen=True)
class FalConfig:
    """Everything the transport needs to talk to fal. Build with ``FalConfig.from_env``."""

    hosts: Hosts = field(default_factory=Hosts)
    credentials: Credentials | None = None
    ca_bundle: str | None = None
    key_file: str | None = None

    @classmethod
    def from_env(
        cls, key_file: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
    ) -> FalConfig:
        return cls(
            hosts=hosts_from_env(env),
            credentials=find_credentials(key_file, env),
            ca_bundle=ca_bundle_from_env(env),
            key_file=str(key_file) if key_file is not None else None,
        )

    def require_credentials(self) -> Credentials:
        if self.credentials is None:
            raise MissingKeyError(key_file=self.key_file)
        return self.credentials
