"""Authentication and authorization, as the official server does them (``langgraph_sdk.auth``).

Two modes, off unless configured:

- **Custom auth**: ``langgraph.json`` ``"auth": {"path": "./auth.py:auth"}`` names a
  ``langgraph_sdk.Auth`` instance. Its ``@auth.authenticate`` handler runs on every request but
  ``PUBLIC_PATHS`` (``/ok``, ``/info``, ``/metrics``, ``/openapi.json``, ``/docs``), called with
  the parameters it names among ``request`` (the Flask request), ``body`` (the parsed JSON body or
  None), ``path``, ``method``, ``path_params``, ``query_params``, ``headers`` (``{bytes: bytes}``,
  keys lower-case) and ``authorization`` (the header's value or None). It returns an identity
  string or a user dict/object (``identity``, optional ``permissions``, ``display_name``); raising
  ``Auth.exceptions.HTTPException`` answers its status, detail and headers. Its ``@auth.on``
  handlers are then called per action (``authorize``): the most specific one of (resource, action),
  (resource, ``*``), (``*``, action), then the global one; none → allowed. A handler returns
  None/True (allowed), False (403) or a filter dict restricting what the request may see and touch
  (``app.store.filters``); it may change ``value`` (stamp ``metadata.owner``, rewrite a store
  namespace) and the server uses the changed value.
- **API keys** (no handlers to write): ``CALLBOARD_API_KEYS`` = comma-separated keys. Every
  request but the public paths must carry one in ``x-api-key`` (what ``langgraph-sdk`` sends from
  ``api_key=`` / ``LANGGRAPH_API_KEY``, and Studio) or ``Authorization: Bearer <key>``; keys are
  compared in constant time. The identity is ``api-key-<n>`` (n = the key's position). With both
  modes, the key is checked first, then the custom handler runs.

Handlers are ``async`` (the SDK requires it, asking that their IO be non-blocking); they run on
one event loop per process, in a daemon thread started on first use (after gunicorn forks), as an
ASGI server would run them: a request thread waits for its handler's result.
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import logging
import os
import threading
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langgraph_sdk.auth import Auth
from langgraph_sdk.auth.exceptions import HTTPException as AuthHTTPException
from langgraph_sdk.auth.types import AuthContext

from app.errors import CallboardError, ConfigurationError

logger = logging.getLogger(__name__)

PUBLIC_PATHS = ("/ok", "/info", "/metrics", "/openapi.json", "/docs")
API_KEY_HEADER = "x-api-key"
AUTHENTICATE_PARAMS = frozenset(
    {
        "request",
        "body",
        "path",
        "method",
        "path_params",
        "query_params",
        "headers",
        "authorization",
    }
)


class AuthError(CallboardError):
    """A request refused by authentication or authorization: ``status`` (401, 403, or what an
    ``Auth.exceptions.HTTPException`` said), ``detail``, extra response ``headers``."""

    def __init__(self, status: int, detail: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})


class User:
    """The authenticated user as ``@auth.on`` handlers see it (``ctx.user``): the SDK's
    ``BaseUser`` protocol over what ``authenticate`` returned, whose other keys stay readable
    (``user["org_id"]``)."""

    def __init__(self, fields: Mapping[str, Any]) -> None:
        self._fields = dict(fields)

    @classmethod
    def of(cls, returned: Any) -> User:
        """From what an ``authenticate`` handler returned (a string, a mapping or an object).

        Raises:
            ConfigurationError: it returned something without an identity.
        """
        if isinstance(returned, str):
            return cls({"identity": returned})
        if isinstance(returned, Mapping):
            fields = dict(returned)
        else:
            fields = {
                name: getattr(returned, name)
                for name in ("identity", "permissions", "display_name", "is_authenticated")
                if hasattr(returned, name)
            }
        if not isinstance(fields.get("identity"), str) or not fields["identity"]:
            raise ConfigurationError(
                f"the auth handler returned {type(returned).__name__} without an identity string"
            )
        return cls(fields)

    @property
    def identity(self) -> str:
        return self._fields["identity"]

    @property
    def display_name(self) -> str:
        return self._fields.get("display_name") or self.identity

    @property
    def is_authenticated(self) -> bool:
        return bool(self._fields.get("is_authenticated", True))

    @property
    def permissions(self) -> Sequence[str]:
        return list(self._fields.get("permissions") or [])

    def __getitem__(self, key: str) -> Any:
        if key in ("identity", "display_name", "is_authenticated", "permissions"):
            return getattr(self, key)
        return self._fields[key]

    def __contains__(self, key: object) -> bool:
        return key in self._fields

    def __iter__(self) -> Any:
        return iter(self._fields)

    def __repr__(self) -> str:
        return f"User(identity={self.identity!r})"


ANONYMOUS = User({"identity": "anonymous", "is_authenticated": False})

_loop: asyncio.AbstractEventLoop | None = None
_loop_pid: int | None = None
_loop_lock = threading.Lock()


def _handler_loop() -> asyncio.AbstractEventLoop:
    """The process's handler loop (a new one in a forked child: threads do not survive fork)."""
    global _loop, _loop_pid
    with _loop_lock:
        if _loop is None or _loop_pid != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(
                target=loop.run_forever, name="callboard-auth-handlers", daemon=True
            ).start()
            _loop, _loop_pid = loop, os.getpid()
        return _loop


def run_handler(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run an ``async`` handler to completion on the process's handler loop and return its
    result (or raise what it raised)."""
    return asyncio.run_coroutine_threadsafe(coroutine, _handler_loop()).result()


@dataclass(frozen=True)
class RequestInfo:
    """What ``authenticate`` may ask for, taken from the Flask request by the caller."""

    request: Any
    method: str
    path: str
    path_params: dict[str, str]
    query_params: dict[str, str]
    headers: dict[bytes, bytes]

    @property
    def authorization(self) -> str | None:
        value = self.headers.get(b"authorization")
        return value.decode("latin-1") if value is not None else None

    def get(self, name: str) -> Any:
        """The value of the ``authenticate`` parameter ``name`` (``body``: the JSON body, or
        None when there is none or it is not JSON)."""
        if name == "body":
            return self.request.get_json(silent=True)
        return getattr(self, name)


class Authenticator:
    """The loaded auth of a deployment: an ``Auth`` instance, API keys, or both.

    Parameters:
        auth: the user's ``langgraph_sdk.Auth`` (None: no custom auth).
        api_keys: accepted API keys (empty: no key is required).
    """

    def __init__(self, auth: Auth | None, api_keys: Sequence[str] = ()) -> None:
        self.auth = auth
        self.api_keys = tuple(k.encode() for k in api_keys if k)

    @classmethod
    def load(
        cls, auth_config: Mapping[str, Any] | None, base: Path, api_keys: Sequence[str] = ()
    ) -> Authenticator | None:
        """From ``langgraph.json``'s ``auth`` object (its ``path``) and the API keys; None when
        neither is configured.

        Raises:
            ConfigurationError: ``auth.path`` is missing or names something that is not an
                ``Auth`` instance. GraphLoadError: it cannot be imported.
        """
        from app.graphs import import_object

        auth = None
        path = (auth_config or {}).get("path")
        if auth_config is not None and path is not None:
            if not isinstance(path, str) or ":" not in path:
                raise ConfigurationError(f"auth.path: expected 'file.py:attr', got {path!r}")
            auth = import_object(path, base)
            if not isinstance(auth, Auth):
                raise ConfigurationError(
                    f"auth.path {path!r} is a {type(auth).__name__}, not a langgraph_sdk.Auth"
                )
            logger.info("custom auth loaded from %s", path)
        if auth is None and not api_keys:
            return None
        return cls(auth, api_keys)

    # --- authentication ------------------------------------------------------------------

    def authenticate(self, info: RequestInfo) -> User:
        """The user making the request.

        Raises:
            AuthError: no or a wrong API key (401), or the handler refused the request.
        """
        user = ANONYMOUS
        if self.api_keys:
            user = self._check_api_key(info)
        handler = self.auth._authenticate_handler if self.auth is not None else None
        if handler is None:
            return user
        wanted = inspect.signature(handler).parameters
        kwargs = {name: info.get(name) for name in wanted if name in AUTHENTICATE_PARAMS}
        try:
            return User.of(run_handler(handler(**kwargs)))
        except AuthHTTPException as exc:
            raise AuthError(exc.status_code, str(exc.detail), exc.headers) from None

    def _check_api_key(self, info: RequestInfo) -> User:
        given = info.headers.get(API_KEY_HEADER.encode())
        if given is None:
            scheme, _, token = (info.authorization or "").partition(" ")
            given = token.strip().encode() if scheme.lower() == "bearer" else None
        if not given:
            raise AuthError(401, "Missing API key (x-api-key header)")
        matched = None
        for index, key in enumerate(self.api_keys):  # every key compared: constant time
            if hmac.compare_digest(given, key):
                matched = index
        if matched is None:
            raise AuthError(401, "Invalid API key")
        return User({"identity": f"api-key-{matched + 1}", "permissions": ["authenticated"]})

    # --- authorization -------------------------------------------------------------------

    def handler_for(self, resource: str, action: str) -> Any:
        """The ``@auth.on`` handler the SDK's docstring says applies, or None."""
        if self.auth is None:
            return None
        for key in ((resource, action), (resource, "*"), ("*", action)):
            handlers = self.auth._handlers.get(key)
            if handlers:
                return handlers[-1]
        return self.auth._global_handlers[-1] if self.auth._global_handlers else None

    def authorize(self, user: User, resource: str, action: str, value: dict) -> dict | None:
        """Call the handler of ``resource``/``action`` with ``value`` (which it may change).
        Returns its filter dict, or None (no restriction).

        Raises:
            AuthError: the handler returned False (403) or raised ``HTTPException``.
            ConfigurationError: it returned something that is neither a bool nor a dict.
        """
        handler = self.handler_for(resource, action)
        if handler is None:
            return None
        ctx = AuthContext(
            permissions=user.permissions,
            user=user,
            resource=resource,
            action=action,  # type: ignore[arg-type]
        )
        try:
            result = run_handler(handler(ctx=ctx, value=value))
        except AuthHTTPException as exc:
            raise AuthError(exc.status_code, str(exc.detail), exc.headers) from None
        if result is None or result is True:
            return None
        if result is False:
            raise AuthError(403, "Forbidden")
        if isinstance(result, dict):
            return result or None
        raise ConfigurationError(
            f"auth handler for {resource}.{action} returned {type(result).__name__}; expected "
            "None, a bool or a filter dict"
        )
