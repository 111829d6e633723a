"""How huggingface_hub's HTTP client behaves in this app: fail fast with one clear message, never hang.

huggingface_hub talks to the hub through one shared ``httpx2.Client``. Out of the box it suits
scripts, not a window: a refused connection is retried five times with 1+2+4+8+8 s of sleeps, the
listing calls pass ``timeout=None`` (a silent server blocks forever), and an answer is read whole into
memory, however large. ``install()`` gives it (through its public ``set_client_factory``) a client
whose transport

- answers a refused connection, a failed name lookup or a timeout with a ``HubError`` at once (not an
  ``httpx2`` error, so huggingface_hub's retry loop lets it through);
- puts a timeout on every request, whatever the caller passed;
- refuses an API answer (``/api/…``) larger than ``limits.max_bytes`` and answers a busy hub (429,
  5xx) at once instead of sleeping and retrying.

Downloads of model files do not go through here (``assistant.models.download``). The limits are a
context variable, so each ``HubClient`` call uses its own without touching the others.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 15.0
DEFAULT_MAX_BYTES = 8 << 20  # a 100-repository search page is ~40 KB; a 5000-file tree ~1.5 MB
_BUSY = (408, 429, 500, 502, 503, 504)


class HubError(Exception):
    """The hub could not answer; ``str()`` says why and what to do. ``offline``: nothing was reached
    (no network, refused, no name, no answer in time), as opposed to an answer we refused."""

    def __init__(self, message: str, offline: bool = False) -> None:
        super().__init__(message)
        self.offline = offline


@dataclass(frozen=True)
class Limits:
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_bytes: int = DEFAULT_MAX_BYTES


_LIMITS: contextvars.ContextVar[Limits | None] = contextvars.ContextVar("hub_limits", default=None)
_installed = False
_lock = threading.Lock()


@contextlib.contextmanager
def limits(value: Limits) -> Iterator[None]:
    """Calls made inside use ``value`` (on this thread only)."""
    token = _LIMITS.set(value)
    try:
        yield
    finally:
        _LIMITS.reset(token)


def install() -> None:
    """Makes huggingface_hub use the guarded client in this process (once; cheap afterwards)."""
    global _installed
    if _installed:
        return
    with _lock:
        if _installed:
            return
        import huggingface_hub

        huggingface_hub.set_client_factory(_client)
        _installed = True


def uninstall() -> None:
    """Gives huggingface_hub its own client back (``assistant bench download`` compares both)."""
    global _installed
    with _lock:
        import huggingface_hub
        from huggingface_hub.utils._http import default_client_factory

        huggingface_hub.set_client_factory(default_client_factory)
        _installed = False


def _client() -> Any:
    import httpx2

    return httpx2.Client(event_hooks={"request": [_request_hook]}, follow_redirects=True,
                         timeout=DEFAULT_TIMEOUT_S, transport=_guarded_transport())


def _request_hook(request: Any) -> None:
    """huggingface_hub's own hook (it refuses every request while HF_HUB_OFFLINE is set) for calls
    made by anyone else in this process. A ``HubClient`` call is one the user asked for (Browse,
    ``models search``), and the app's rule is that such a request connects: HF_HUB_OFFLINE, which the
    engine process and the tests set so that no library fetches anything by accident, does not stop it."""
    if _LIMITS.get() is None:
        from huggingface_hub.utils._http import hf_request_event_hook

        hf_request_event_hook(request)


def _guarded_transport() -> Any:
    import httpx2

    class GuardedTransport(httpx2.BaseTransport):
        def __init__(self) -> None:
            self._inner = httpx2.HTTPTransport()

        def handle_request(self, request: httpx2.Request) -> httpx2.Response:
            limit = _LIMITS.get() or Limits()
            t = limit.timeout_s
            request.extensions["timeout"] = {"connect": t, "read": t, "write": t, "pool": t}
            host = request.url.host
            try:
                response = self._inner.handle_request(request)
            except httpx2.TransportError as error:
                raise unreachable(host, error) from None
            if not request.url.path.startswith("/api/"):
                return response
            if response.status_code in _BUSY:
                response.close()
                raise HubError(f"{host} is busy or failing (it answered {response.status_code}); "
                               "try again in a minute")
            length = response.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > limit.max_bytes:
                response.close()
                raise too_large(host, limit.max_bytes)
            return httpx2.Response(response.status_code, headers=response.headers,
                                   stream=BoundedStream(response.stream, host, limit.max_bytes),
                                   extensions=response.extensions)

        def close(self) -> None:
            self._inner.close()

    class BoundedStream(httpx2.SyncByteStream):
        """The body, cut off with a HubError past ``max_bytes`` (a server that sends no length)."""

        def __init__(self, inner: Any, host: str, max_bytes: int) -> None:
            self._inner, self._host, self._max = inner, host, max_bytes

        def __iter__(self) -> Iterator[bytes]:
            seen = 0
            try:
                for chunk in self._inner:
                    seen += len(chunk)
                    if seen > self._max:
                        raise too_large(self._host, self._max)
                    yield chunk
            except httpx2.TransportError as error:
                raise unreachable(self._host, error) from None

        def close(self) -> None:
            self._inner.close()

    return GuardedTransport()


def too_large(host: str, max_bytes: int) -> HubError:
    return HubError(f"{host} sent more than {max_bytes >> 20} MB for one answer; that is not what a "
                    "hub sends, so it was not read (check the hub address in Settings)")


def unreachable(host: str, error: BaseException) -> HubError:
    return HubError(f"Cannot reach the model hub ({host}): {_why(error)}. You may be offline; check the "
                    "connection (or the hub address in Settings) and try again.", offline=True)


def _why(error: BaseException) -> str:
    import httpx2

    text = str(error).lower()
    if isinstance(error, httpx2.TimeoutException):
        return "no answer in time"
    if any(s in text for s in ("name or service not known", "temporary failure in name resolution",
                               "nodename nor servname", "no address associated", "getaddrinfo")):
        return "its name does not resolve"
    if "refused" in text:
        return "the connection was refused"
    if "unreachable" in text:
        return "the network is unreachable"
    return str(error) or type(error).__name__


def translate(error: Exception, what: str) -> HubError:
    """Any failure of a huggingface_hub call as a HubError with a sentence for the user; ``what`` names
    the thing asked for ("the search", "repository owner/name")."""
    if isinstance(error, HubError):
        return error
    from huggingface_hub import errors

    if isinstance(error, errors.OfflineModeIsEnabled):
        return HubError("HF_HUB_OFFLINE is set, so the hub is not contacted; unset it to browse models",
                        offline=True)
    if isinstance(error, errors.GatedRepoError):
        return HubError(f"{what} is gated: accept its licence on the hub's website first (downloads "
                        "then need a token, which this app does not use)")
    if isinstance(error, errors.RevisionNotFoundError):
        return HubError(f"{what} has no such revision (branch, tag or commit)")
    if isinstance(error, (errors.RepositoryNotFoundError, errors.DisabledRepoError)):
        return HubError(f"{what} was not found on the hub (or is private); check its id, e.g. "
                        "'Qwen/Qwen2.5-1.5B-Instruct-GGUF'")
    if isinstance(error, errors.HfHubHTTPError):
        status = error.response.status_code if error.response is not None else "an error"
        return HubError(f"the hub answered {status} for {what}; try again later")
    if isinstance(error, (ValueError, KeyError, TypeError, AttributeError)):
        log.info("hub answer not understood for %s: %r", what, error)
        return HubError(f"the hub's answer for {what} was not understood (not the JSON a hub sends); "
                        "check the hub address in Settings")
    log.warning("unexpected hub failure for %s", what, exc_info=error)
    return HubError(f"{what} failed: {error}")


__all__ = ["HubError", "Limits", "install", "limits", "translate", "uninstall"]
