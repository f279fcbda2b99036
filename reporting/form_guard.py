"""Multipart bodies are refused with a 415 before Datasette's CSRF middleware reads them.

asgi-csrf 0.11 hands python-multipart a ``FileClass`` argument that python-multipart 0.0.25 and later no longer
take: any multipart POST carrying a cookie was a 500 and a logged traceback, which anyone could repeat. No form
here is multipart (sign-in, labels and the collector all take url-encoded or text bodies), so none is lost.
"""

from __future__ import annotations

from datasette.utils.asgi import Response

REFUSAL = "415 Unsupported Media Type: Content-Type: multipart/form-data is not accepted here; send the form " \
          "url-encoded\n"


def is_multipart(scope) -> bool:
    # Every Content-Type header: asgi-csrf reads the last one sent, a proxy may read the first.
    return any(name == b"content-type" and value.lstrip()[:19].lower() == b"multipart/form-data"
               for name, value in scope.get("headers", ()))


def asgi_wrapper(datasette):
    def wrap(app):
        async def refused(scope, receive, send):
            if scope.get("type") == "http" and scope.get("method") != "GET" and is_multipart(scope):
                return await Response.text(REFUSAL, status=415).asgi_send(send)
            return await app(scope, receive, send)

        return refused

    return wrap
