"""URLs in messages: credentials and query strings never reach a log line or an error.

``LABEL_STUDIO_URL`` may carry credentials (``http://user:secret@host``) and a request
URL may carry a token in its query string (``?token=...``, signed storage URLs). Every
message, log line and stored URL built from one goes through :func:`redact_url` (one URL)
or :func:`redact_text` (a text that may contain URLs). Pure string code; secrets still
holding ``.env.example``'s placeholder are refused (:func:`refuse_placeholder`).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from relabel.errors import ConfigError

#: What replaces userinfo, query values and fragments.
MASK = "***"

_SCHEME = r"[A-Za-z][A-Za-z0-9+.\-]*://"
# the authority's userinfo: everything up to the LAST "@" before the path (a password
# may hold a raw "@"); also without a scheme (``user:secret@host``, a mistyped URL)
_USERINFO = re.compile(rf"^((?:{_SCHEME})?)[^/?#\s]*@")
_URL_IN_TEXT = re.compile(rf"{_SCHEME}[^\s'\"<>]+")


def _mask_query(query: str) -> str:
    parts = []
    for item in query.split("&"):
        if not item:
            continue
        key, eq, _ = item.partition("=")
        parts.append(f"{key}={MASK}" if eq else MASK)
    return "&".join(parts) or MASK


def redact_url(url: str) -> str:
    """Return ``url`` without secrets: userinfo becomes ``***@``, query values ``***``.

    ``http://user:secret@host:8080/base/?token=abc&page=2#x`` becomes
    ``http://***@host:8080/base/?token=***&page=***#***``. Without a scheme
    (``user:secret@host``, ``/api/tasks/?token=abc``) the same is masked. Anything else
    is unchanged.

    Parameters
    ----------
    url : str
        A URL or path; other text is returned as it is (with the same masking applied).
    """
    text = str(url)
    text = _USERINFO.sub(lambda m: f"{m.group(1)}{MASK}@", text, count=1)
    base, hash_, fragment = text.partition("#")
    base, qmark, query = base.partition("?")
    out = base
    if qmark:
        out += "?" + _mask_query(query)
    if hash_:
        out += "#" + (MASK if fragment else "")
    return out


def redact_text(text: str) -> str:
    """Apply :func:`redact_url` to every ``scheme://`` URL inside a message, and mask every
    secret :func:`remember_secrets` was given, wherever it appears."""
    out = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), str(text))
    for secret in _SECRETS:
        if secret in out:
            out = out.replace(secret, MASK)
    return out


#: Secrets seen in this process (tokens, passwords, query values of a server's URL),
#: longest first, so that :func:`redact_text` masks them in any text, URL or not.
_SECRETS: list[str] = []
#: Values shorter than this are not taken for secrets (``page=2``, ``debug=true``): they
#: are masked inside URLs only.
_MIN_SECRET = 6


def remember_secrets(url: str, token: str | None = None) -> None:
    """Remember the secrets of a server's URL (its userinfo and query values) and its API
    token, so that every later :func:`redact_text` masks them (the CLI's log lines and
    error messages go through it, at every verbosity).

    Parameters
    ----------
    url : str
        The server's URL as given (``http://user:secret@host/?key=value``).
    token : str, optional
        The API token.
    """
    parts = urlsplit(str(url).strip())
    found = [token or "", parts.password or ""]
    found += [value for _, value in parse_qsl(parts.query, keep_blank_values=True)]
    for value in found:
        for form in {value, unquote(value), quote(value, safe="")}:
            if len(form) >= _MIN_SECRET and form not in _SECRETS:
                _SECRETS.append(form)
    _SECRETS.sort(key=len, reverse=True)


def same_server(a: str, b: str) -> bool:
    """True when two server URLs are the same once redacted and normalised.

    Normalised: surrounding spaces and trailing slashes removed, scheme and host compared
    without case. A different host name for the same machine (``localhost`` and
    ``127.0.0.1``) or another port is a DIFFERENT URL: that is a server move.
    """
    return _normal(a) == _normal(b)


def _normal(url: str) -> str:
    text = redact_url(str(url).strip()).rstrip("/")
    m = re.match(rf"^({_SCHEME})([^/?#]*)(.*)$", text)
    if not m:
        return text
    return m.group(1).lower() + m.group(2).lower() + m.group(3).rstrip("/")


#: The prefix of every secret of ``.env.example``, to be replaced before use.
PLACEHOLDER = "change-me"


def refuse_placeholder(what: str, value: str | None) -> None:
    """Refuse a secret still holding ``.env.example``'s placeholder (``change-me-...``).

    Raises
    ------
    ConfigError
        Naming what holds it (never the value).
    """
    if value and value.strip().lower().startswith(PLACEHOLDER):
        raise ConfigError(
            f"{what} is still the placeholder of .env.example ({PLACEHOLDER}...): replace it "
            'with a secret of your own, e.g. python3 -c "import secrets; '
            'print(secrets.token_urlsafe(32))"'
        )
