"""Typed application keys, declared in one place (aiohttp's AppKey)."""

from __future__ import annotations

from aiohttp import web

from bridge.process.runtime import Runtime

RUNTIME = web.AppKey("runtime", Runtime)
