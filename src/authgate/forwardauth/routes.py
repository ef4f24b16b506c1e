"""Forward-auth route rules (spec §6): which permission a proxied request needs.

A rule matches on the host (compared case-insensitively, without the port), the method
and a path pattern whose ``{param}`` placeholders each match exactly one non-empty segment
of the percent-decoded path (the query is ignored). The first matching rule decides.

A path that could mean two things to two programs is refused rather than guessed at
(:class:`AmbiguousPath`): ``.`` and ``..`` segments (plain or encoded), an encoded ``/``
or ``\\``, a ``\\``, a ``;`` (servlet containers drop what follows it), invalid
percent-encoding or UTF-8, and control characters. Upstreams that normalise such paths
would otherwise serve a resource other than the one the rule matched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import unquote

from authgate.errors import InvalidInput
from authgate.rbac.permissions import check_permission
from authgate.rbac.service import check_scope

MAX_PATH = 1000
MAX_HOST = 255
MAX_AUDIENCE = 500
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]{0,63})\}")
_METHOD = re.compile(r"^[A-Z][A-Z0-9_-]{0,31}\Z")
_HOST = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,253}[a-z0-9])?\Z|^\[[0-9a-f:.]+\]\Z")
_LITERAL_BAD = re.compile(r"[{}%?#;\\\x00-\x20\x7f]")
_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_SUSPECT = re.compile(r"[\\;\x00-\x1f\x7f]")


class AmbiguousPath(Exception):
    """The request path can be read in more than one way (403, never a guess)."""


@dataclass(frozen=True, slots=True)
class RouteRule:
    """One validated rule. ``segments``: per path segment, the literal text or, for a
    ``{param}``, None with the name in ``params`` at the same index."""

    path: str
    permission: str | None
    public: bool
    host: str | None
    methods: frozenset[str] | None
    audience: str | None
    resource: str | None
    segments: tuple[str | None, ...]
    params: tuple[str | None, ...]
    template: tuple[tuple[bool, str], ...]  # the resource: (is_param, literal or name)
    id: str | None = None  # rules from the admin API; None for the config file's

    def build_resource(self, values: Mapping[str, str]) -> str | None:
        """The resource path with the decoded values filled in; None when a value cannot
        be part of one (it holds ``/``)."""
        parts = []
        for is_param, text in self.template:
            if is_param:
                value = values[text]
                if "/" in value:
                    return None
                parts.append(value)
            else:
                parts.append(text)
        return "".join(parts)


def rule(
    path: str,
    *,
    permission: str | None = None,
    public: bool = False,
    host: str | None = None,
    methods: Iterable[str] | None = None,
    audience: str | None = None,
    resource: str | None = None,
    id: str | None = None,
) -> RouteRule:
    """A rule from its written form; raises :class:`InvalidInput` saying what is wrong."""
    if (permission is None) == (not public):
        raise InvalidInput(f"route {path!r}: give exactly one of permission or public = true")
    if permission is not None:
        check_permission(permission)
    segments, params = _compile_path(path)
    named = {name for name in params if name is not None}
    template: tuple[tuple[bool, str], ...] = ()
    if resource is not None:
        if public:
            raise InvalidInput(f"route {path!r}: a public route has no resource")
        template = _compile_resource(path, resource, named)
    if audience is not None and (
        not audience or len(audience) > MAX_AUDIENCE or not audience.isprintable()
    ):
        raise InvalidInput(
            f"route {path!r}: audience must be 1-{MAX_AUDIENCE} printable characters"
        )
    return RouteRule(
        path=path,
        permission=permission,
        public=public,
        host=_compile_host(path, host),
        methods=_compile_methods(path, methods),
        audience=audience,
        resource=resource,
        segments=segments,
        params=params,
        template=template,
        id=id,
    )


def _compile_path(path: str) -> tuple[tuple[str | None, ...], tuple[str | None, ...]]:
    if not path.startswith("/") or len(path) > MAX_PATH:
        raise InvalidInput(
            f"route path {path!r} must start with / and be at most {MAX_PATH} characters"
        )
    segments: list[str | None] = []
    params: list[str | None] = []
    for text in path[1:].split("/"):
        found = _PARAM.fullmatch(text)
        if found is not None:
            if found.group(1) in params:
                raise InvalidInput(f"route path {path!r} names {{{found.group(1)}}} twice")
            segments.append(None)
            params.append(found.group(1))
        elif _LITERAL_BAD.search(text) or text in (".", ".."):
            raise InvalidInput(
                f"route path {path!r}: segment {text!r} must be a whole {{param}} (letters, "
                "digits, _) or literal text without braces, %, ?, #, ;, \\, spaces or dots alone"
            )
        else:
            segments.append(text)
            params.append(None)
    return tuple(segments), tuple(params)


def _compile_resource(path: str, resource: str, named: set[str]) -> tuple[tuple[bool, str], ...]:
    template: list[tuple[bool, str]] = []
    position = 0
    for found in _PARAM.finditer(resource):
        if found.group(1) not in named:
            raise InvalidInput(
                f"route {path!r}: resource {resource!r} uses {{{found.group(1)}}}, which the "
                "path does not define"
            )
        if found.start() > position:
            template.append((False, resource[position : found.start()]))
        template.append((True, found.group(1)))
        position = found.end()
    if position < len(resource):
        template.append((False, resource[position:]))
    sample = "".join("x" if is_param else text for is_param, text in template)
    if "{" in sample or "}" in sample:
        raise InvalidInput(f"route {path!r}: resource {resource!r} has a malformed {{param}}")
    try:
        check_scope(sample)
    except InvalidInput:
        raise InvalidInput(
            f"route {path!r}: resource {resource!r} must be type:id segments joined by /, "
            "such as order:{order_id} or org:acme/project:{project}"
        ) from None
    return tuple(template)


def _compile_host(path: str, host: str | None) -> str | None:
    if host is None:
        return None
    name = normalise_host(host)
    if not name or not _HOST.match(name):
        raise InvalidInput(
            f"route {path!r}: host {host!r} must be a host name such as api.example.com"
        )
    return name


def _compile_methods(path: str, methods: Iterable[str] | None) -> frozenset[str] | None:
    if methods is None:
        return None
    names = frozenset(method.upper() for method in methods)
    if not names or not all(_METHOD.match(name) for name in names):
        raise InvalidInput(f"route {path!r}: methods must be HTTP method names such as GET")
    return names


def normalise_host(host: str) -> str:
    """Lower-cased, without the port or a trailing dot (``API.example.com:443`` →
    ``api.example.com``); bracketed IPv6 literals keep their brackets."""
    name = host.strip().lower()
    if name.startswith("["):
        end = name.find("]")
        return name[: end + 1] if end > 0 else name
    return name.partition(":")[0].rstrip(".")


def split_path(uri: str) -> tuple[str, ...]:
    """The percent-decoded segments of ``uri``'s path (RFC 3986 §3.3), without the query
    and fragment; raises :class:`AmbiguousPath` for input a guess would be needed for."""
    path = uri.partition("?")[0].partition("#")[0]
    if not path.startswith("/") or len(path) > 4 * MAX_PATH:
        raise AmbiguousPath("the path must start with /")
    if _SUSPECT.search(path):
        raise AmbiguousPath("the path holds \\, ; or control characters")
    raw = path[1:].split("/")
    if "%" not in path:
        if "." in path and any(s in (".", "..") for s in raw):
            raise AmbiguousPath("the path holds . or .. segments")
        return tuple(raw)
    if _ESCAPE.search(path):
        raise AmbiguousPath("the path holds % not followed by two hex digits")
    lowered = path.lower()
    if "%2f" in lowered or "%5c" in lowered:
        raise AmbiguousPath("the path holds an encoded / or \\")
    segments = []
    for text in raw:
        try:
            value = unquote(text, errors="strict")
        except UnicodeDecodeError:
            raise AmbiguousPath("the path is not UTF-8 once decoded") from None
        if value in (".", "..") or _SUSPECT.search(value):
            raise AmbiguousPath("the decoded path holds . or .. segments or control characters")
        segments.append(value)
    return tuple(segments)


@dataclass(frozen=True, slots=True)
class Match:
    rule: RouteRule
    index: int
    resource: str | None  # the scoped resource path, when the rule has one


class RouteTable:
    """Rules in order: the config file's first, then the admin API's by position."""

    def __init__(self, rules: Sequence[RouteRule]) -> None:
        self.rules = tuple(rules)

    def match(self, method: str, host: str | None, segments: tuple[str, ...]) -> Match | None:
        """The first rule matching; None when none does. A match whose resource cannot be
        built (a value holding ``/``) raises :class:`AmbiguousPath`."""
        count = len(segments)
        for index, candidate in enumerate(self.rules):
            if len(candidate.segments) != count:
                continue
            if candidate.host is not None and candidate.host != host:
                continue
            if candidate.methods is not None and method not in candidate.methods:
                continue
            values = _bind(candidate, segments)
            if values is None:
                continue
            if not candidate.template:
                return Match(candidate, index, None)
            resource = candidate.build_resource(values)
            if resource is None:
                raise AmbiguousPath("a path parameter holds /")
            try:
                resource = check_scope(resource)
            except InvalidInput:
                raise AmbiguousPath("a path parameter cannot be part of a resource path") from None
            return Match(candidate, index, resource)
        return None


def _bind(candidate: RouteRule, segments: tuple[str, ...]) -> dict[str, str] | None:
    values: dict[str, str] = {}
    for literal, name, segment in zip(candidate.segments, candidate.params, segments, strict=True):
        if literal is not None:
            if literal != segment:
                return None
        elif not segment:
            return None
        else:
            values[name or ""] = segment
    return values
