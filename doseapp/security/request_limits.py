"""How large a request body may be: MAX_CONTENT_LENGTH for logged-in users (the patient size CSV is
the largest thing anyone uploads: DOSEAPP_MAX_UPLOAD_MB plus room for the form around it), and
ANONYMOUS_MAX_CONTENT_LENGTH for everyone else (a login form is a few hundred bytes). Larger bodies
are answered 413 without being read.

Two places enforce it, because waitress receives a whole request before the application sees it
(a 300 MB POST to /login used to be spooled to disk first):
- the web server (serve()): its parser refuses a body over the limit as soon as the headers are in —
  the anonymous limit when the request carries no signed session of a logged-in user. Checking the
  signature needs no database, so the server's network thread never waits on one;
- the application (init_request_limits()): the same limits by Content-Length before anything reads
  the body (ahead of the CSRF check, which parses forms), with the session checked against the
  database; and Werkzeug stops reading a chunked body at the limit.
"""
from __future__ import annotations

import copy
import logging

from flask import Flask, abort, render_template, request
from flask_login import current_user
from werkzeug.http import parse_cookie

log = logging.getLogger(__name__)

ANONYMOUS_MAX_CONTENT_LENGTH = 64 * 1024
FORM_ROOM = 1024 * 1024  # multipart boundaries and the other fields around an uploaded file


def limits(upload_mb: int) -> dict:
    """The Flask config entries for an upload limit of `upload_mb` MB."""
    upload = upload_mb * 1024 * 1024
    return {"MAX_UPLOAD_BYTES": upload, "MAX_CONTENT_LENGTH": upload + FORM_ROOM,
            "ANONYMOUS_MAX_CONTENT_LENGTH": ANONYMOUS_MAX_CONTENT_LENGTH}


def _describe(size: int) -> str:
    return f"{size // (1024 * 1024)} MB" if size >= 1024 * 1024 else f"{size // 1024} KB"


def init_request_limits(app: Flask) -> None:
    def limit_anonymous_bodies():
        if current_user.is_authenticated:
            return None
        limit = app.config["ANONYMOUS_MAX_CONTENT_LENGTH"]
        if (request.content_length or 0) > limit:
            abort(413)
        request.max_content_length = limit  # a chunked body is cut off at the limit too
        return None

    # First of all before-request functions: CSRFProtect's (registered earlier) reads the form.
    app.before_request_funcs.setdefault(None, []).insert(0, limit_anonymous_bodies)

    @app.errorhandler(413)
    def _too_large(_err):
        logged_in = current_user.is_authenticated
        limit = app.config["MAX_UPLOAD_BYTES" if logged_in else "ANONYMOUS_MAX_CONTENT_LENGTH"]
        message = (f"This is larger than doseapp accepts ({_describe(limit)}"
                   + ("; split the file into smaller ones)." if logged_in else " before you log in)."))
        return render_template("error.html", code=413, title="Too large", message=message), 413


# --- the web server --------------------------------------------------------------------------------

def _has_signed_login(app: Flask, cookie_header: str) -> bool:
    """Whether the request carries a session cookie that this app signed with a user logged in."""
    value = parse_cookie(cookie_header or "").get(app.config.get("SESSION_COOKIE_NAME", "session"))
    if not value:
        return False
    serializer = app.session_interface.get_signing_serializer(app)
    try:
        data = serializer.loads(value, max_age=int(app.permanent_session_lifetime.total_seconds()))
    except Exception:  # bad signature, expired, not ours
        return False
    return isinstance(data, dict) and "_user_id" in data


def _channel_class(app: Flask, adj):
    from waitress.channel import HTTPChannel
    from waitress.parser import HTTPRequestParser

    anonymous = copy.copy(adj)
    # waitress refuses a body of max_request_body_size bytes or more.
    anonymous.max_request_body_size = app.config["ANONYMOUS_MAX_CONTENT_LENGTH"] + 1

    class Parser(HTTPRequestParser):
        def parse_header(self, header_plus):
            super().parse_header(header_plus)
            # The body limit is checked right after this, before any of the body is read.
            if not _has_signed_login(app, self.headers.get("COOKIE", "")):
                self.adj = anonymous

    class Channel(HTTPChannel):
        parser_class = Parser

    return Channel


def serve(app: Flask, host: str, port: int, threads: int) -> None:
    """Run the waitress web server with the body limits above."""
    from waitress.server import BaseWSGIServer, create_server

    servers: dict = {}
    server = create_server(app, map=servers, host=host, port=port, threads=threads, ident="doseapp",
                           max_request_body_size=app.config["MAX_CONTENT_LENGTH"] + 1)
    for listener in list(servers.values()):
        if isinstance(listener, BaseWSGIServer):
            listener.channel_class = _channel_class(app, listener.adj)
    server.print_listen("Serving on http://{}:{}")
    server.run()
