"""Auth that allows everything (the existing suites run under it with ``CALLBOARD_TEST_AUTH=1``):
every request is authenticated (as ``tester``, or the bearer token's text), every handler runs
and allows."""

from __future__ import annotations

from typing import Any

from langgraph_sdk import Auth

auth = Auth()
calls: list[tuple[str, str]] = []  # (resource, action) of every authorization, in order


@auth.authenticate
async def authenticate(authorization: str | None, path: str, method: str) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    return token if scheme.lower() == "bearer" and token else "tester"


@auth.on
async def allow_all(ctx: Auth.types.AuthContext, value: Any) -> bool:
    calls.append((ctx.resource, ctx.action))
    return True
