"""The pdpyras half of the PagerDuty client (client.py): the sessions its worker threads
keep, and the exceptions pdpyras and requests raise. The only module importing them.

client.py imports this module at the first PagerDuty call, in the worker thread making
it, not at start-up: requests, urllib3, charset_normalizer (and the codecs it loads) and
pdpyras are about 5.7 MiB of an idle bot's RSS, while a bot that is never paged through,
or only hours after it started, needs none of it. The price is paid once per process, off
the event loop: about 50 ms (40-75 ms on the 2-core bench machine) added to the first
call, against a PagerDuty round trip of a few hundred.
"""

from __future__ import annotations

import os
import time
import warnings
from typing import Any

import requests

from bot.core.pagerduty.models import PagingError

with warnings.catch_warnings():
    # pdpyras warns on import that it is deprecated; known, and why it lives only here.
    warnings.simplefilter("ignore", UserWarning)
    import pdpyras

# What a call may raise that client.py turns into PagingError (`_as_paging_error`).
CLIENT_ERRORS: tuple[type[Exception], ...] = (
    pdpyras.PDClientError,
    pdpyras.URLError,
    requests.RequestException,
)
PDHTTPError = pdpyras.PDHTTPError


class _OneAttempt:
    """Replaces pdpyras' retrying `request` with one attempt (one retry for GETs).

    pdpyras' helpers (rget, rput, rpost, iter_all) all go through `request`, so they keep
    working on top of it: URL and params normalising, entity wrapping, classic pagination.
    """

    get_retries = 1
    get_backoff = 0.2

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        session: Any = self
        method = method.strip().upper()
        kw = dict(kwargs)
        kw["headers"] = session.prepare_headers(method, user_headers=kwargs.get("headers") or {})
        kw["timeout"] = session.timeout
        if kwargs.get("params"):
            kw["params"] = session.normalize_params(kwargs["params"])
        full_url = session.normalize_url(url)
        attempts = 1 + (self.get_retries if method == "GET" else 0)
        for attempt in range(attempts):
            last = attempt + 1 == attempts
            try:
                response: requests.Response = requests.Session.request(
                    session, method, full_url, **kw
                )
            except requests.RequestException as exc:
                if last:
                    raise PagingError(
                        f"{method} {url}: {type(exc).__name__}: {exc}", retryable=True
                    ) from exc
            else:
                if response.status_code < 500 or last:
                    session.postprocess(response)
                    return response
            time.sleep(self.get_backoff * 2**attempt)
        raise AssertionError("unreachable")


class RestSession(_OneAttempt, pdpyras.APISession):
    pass


class EventsSession(_OneAttempt, pdpyras.EventsAPISession):
    pass


def rest_session(
    api_key: str, *, from_email: str | None, url: str, timeout: float, accept: str
) -> RestSession:
    session = RestSession(api_key, default_from=from_email)
    session.url = url
    session.timeout = timeout
    session.headers["Accept"] = accept
    _environment_once(session, url)
    return session


def events_session(routing_key: str, *, url: str, timeout: float) -> EventsSession:
    session = EventsSession(routing_key)
    session.url, session.timeout = url, timeout
    _environment_once(session, url)
    return session


def _environment_once(session: requests.Session, url: str) -> None:
    """What requests reads from the environment for every request (the proxy for `url`,
    NO_PROXY included, and a CA bundle), read once for the session's life instead: a
    session trusting the environment scans all of it per call."""
    session.proxies.update(requests.utils.get_environ_proxies(url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    session.trust_env = False
