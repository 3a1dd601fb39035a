"""Security headers on every response: a Content-Security-Policy with a per-request script nonce,
no framing, no MIME sniffing, referrers only to ourselves, and no caching of anything but static files.

Scripts run only from doseapp itself or, inline, with this request's nonce (base.html hands it to
htmx, which gives it to the scripts of the parts it swaps in). Pages that draw Bokeh charts need two
allowances, and only those pages get them (charts.bokeh_script_urls calls allow_bokeh(); the study lists
with charts and the fluoroscopy study page with its skin dose map):
- 'unsafe-eval' in script-src: BokehJS compiles every CustomJS callback (chart taps, the histogram
  and weekday menus) with `new Function`, and has no other way to run them;
- 'unsafe-inline' in style-src: BokehJS writes <style> elements into its shadow roots and offers no
  nonce for them (a nonce in style-src would make browsers ignore 'unsafe-inline').
htmx itself is told not to evaluate attribute code (allowEval false), so 'unsafe-eval' reaches no
markup.
"""
from __future__ import annotations

import secrets

from flask import Flask, g, request

# Static files may be cached; every page, fragment, download and API answer may hold identifiers.
CACHEABLE_ENDPOINTS = {"static", "bokehjs.file", "site.favicon"}


def csp_nonce() -> str:
    """This request's script nonce (made on first use)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(18)
    return g.csp_nonce


def with_nonce(script_html: str) -> str:
    """Bokeh's `components()` script tag(s) with this request's nonce, for a full page (an HTMX swap
    runs its scripts through htmx instead). Bokeh writes `<script type="text/javascript">` or plain
    `<script>` depending on its version: every opening tag gets the nonce."""
    return script_html.replace("<script", f'<script nonce="{csp_nonce()}"')


def allow_bokeh() -> None:
    """This page draws Bokeh charts: relax the policy as the module docstring explains."""
    g.csp_bokeh = True


def content_security_policy(nonce: str, bokeh: bool) -> str:
    script = f"'self' 'nonce-{nonce}'" + (" 'unsafe-eval'" if bokeh else "")
    style = "'self' 'unsafe-inline'" if bokeh else f"'self' 'nonce-{nonce}'"
    return "; ".join((
        "default-src 'self'", f"script-src {script}", f"style-src {style}",
        "img-src 'self' data:",  # BokehJS's toolbar icons are data: images
        "object-src 'none'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'"))


def init_security_headers(app: Flask) -> None:
    app.add_template_global(csp_nonce)

    @app.after_request
    def _security_headers(resp):
        headers = resp.headers
        headers["Content-Security-Policy"] = content_security_policy(csp_nonce(), g.get("csp_bokeh", False))
        headers["X-Frame-Options"] = "DENY"
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "same-origin"
        if request.endpoint not in CACHEABLE_ENDPOINTS:
            headers["Cache-Control"] = "no-store"
        return resp
