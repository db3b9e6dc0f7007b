"""Find credentials and personal data in a text: what kind and where, never what.

Why these detectors:

- **Credentials** come from detect-secrets (Yelp), a maintained scanner that runs offline. Its
  plugins know the shapes of real keys (AWS, GitHub, GitLab, Slack, Stripe, OpenAI, PyPI, npm,
  JWTs, PEM private keys, URLs with a password, ``password = "..."`` assignments), and its
  heuristic filters drop what only looks like one (sequences, UUIDs, ``${VAR}`` templates). We
  call the plugins line by line, as detect-secrets scans a file; its two high-entropy plugins are
  left out: on the 5 MB of public text in shared/corpora they flag about 240,000 ordinary words.
  No plugin's ``verify`` is called, so nothing is sent anywhere.
- Three shapes detect-secrets has no plugin for are our own rules: Hugging Face tokens
  (``hf_...``), Google API keys (``AIza...``) and the password of an ADO/ODBC connection string
  (``...;Password=...;``).
- **Phone numbers** come from ``phonenumbers`` (Google's libphonenumber): only numbers written
  internationally (``+49 30 ...``) unless a region is given for national formats; a region
  guessed for every text flags years and table cells (with ``DE``, 21 false hits on the public
  corpora, none without a region).
- **E-mail addresses** are one documented pattern (a finder library would be the same regex),
  minus the domains reserved for examples (RFC 2606/6761) and ``git@host`` SSH addresses.

A few placeholder values that documentation uses for keys (``YOUR_API_KEY``, ``<token>``,
``OPENAI_API_KEY``) are not findings. Everything else is reported as a :class:`Span` (kind and
character offsets); callers never need the value, so it is never handed out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cached_property
from typing import Any, Literal, NamedTuple

Category = Literal["credential", "personal_data"]

# detect-secrets plugins used, by class name (detect_secrets.core.plugins.util lists them all).
# Not used: Base64HighEntropyString and HexHighEntropyString (they flag ordinary words), and
# IPPublicDetector (an IP address in a document is rarely a secret, and often a documented one).
SECRET_PLUGINS = (
    "AWSKeyDetector", "ArtifactoryDetector", "AzureStorageKeyDetector", "BasicAuthDetector", "CloudantDetector",
    "DiscordBotTokenDetector", "GitHubTokenDetector", "GitLabTokenDetector", "IbmCloudIamDetector", "IbmCosHmacDetector",
    "JwtTokenDetector", "KeywordDetector", "MailchimpDetector", "NpmDetector", "OpenAIDetector", "PrivateKeyDetector",
    "PypiTokenDetector", "SendGridDetector", "SlackDetector", "SoftlayerDetector", "SquareOAuthDetector", "StripeDetector",
    "TelegramBotTokenDetector", "TwilioKeyDetector",
)
# Kinds whose value is often a documentation placeholder rather than a credential.
PLACEHOLDER_PRONE = {"secret_keyword", "basic_auth_credentials", "connection_string_password"}
PERSONAL_KINDS = {"email_address", "phone_number"}

# Our rules for shapes detect-secrets has no plugin for: kind -> pattern (group 1, if any, is the secret).
EXTRA_RULES: dict[str, re.Pattern[str]] = {
    "hugging_face_token": re.compile(r"\bhf_[A-Za-z0-9]{30,}\b"),
    "google_api_key": re.compile(r"\bAIza[0-9A-Za-z_\-]{35}(?![0-9A-Za-z_\-])"),
    "connection_string_password": re.compile(r"(?i)(?:^|[;\s\"'])(?:password|pwd)\s*=\s*([^;\s\"']{3,})"),
}
EMAIL = re.compile(r"(?<![\w.+%-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24})(?![\w-])")
RESERVED_DOMAINS = re.compile(r"(?i)(?:^|\.)(?:example\.(?:com|net|org)|example|test|invalid|localhost|local)$")
MIN_PHONE_DIGITS = 7

_PLACEHOLDER_WORDS = re.compile(r"(?i)your|example|placeholder|changeme|change_me|dummy|redacted|x{3,}|\*{3,}|\.\.\.|^here$|^none$|^null$|^password$|^passwd$|^pass$|^pwd$")
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")  # OPENAI_API_KEY: the name of a variable, not its value
_PEM_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
_PEM_END = re.compile(r"-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
_KEY_LINE = re.compile(r"[A-Za-z0-9+/=]{16,}")
MASK_MARK = "REDACTED:"


class Span(NamedTuple):
    """One finding inside a text: its kind and where it is (``text[start:end]``)."""

    kind: str
    start: int
    end: int


def category_of(kind: str) -> Category:
    return "personal_data" if kind in PERSONAL_KINDS else "credential"


def mask_for(kind: str) -> str:
    """What replaces a finding in redacted files."""
    return f"[{MASK_MARK}{kind}]"


def kind_of(secret_type: str) -> str:
    """detect-secrets' secret type as a kind: 'AWS Access Key' -> 'aws_access_key'."""
    return re.sub(r"[^a-z0-9]+", "_", secret_type.lower()).strip("_")


def is_placeholder(value: str) -> bool:
    """A value documentation writes in place of a real key: ``YOUR_API_KEY``, ``OPENAI_API_KEY``, ``xxx``, ``password``."""
    return bool(_PLACEHOLDER_WORDS.search(value) or _ENV_NAME.match(value) or MASK_MARK in value)


class Detector:
    """Finds credentials and personal data in texts; see the module docstring for what and why.

    ``phone_region`` (ISO 3166 code such as ``US``) also finds phone numbers in that region's
    national format; without it only international numbers (``+...``) are found.
    """

    def __init__(self, phone_region: str | None = None) -> None:
        self.phone_region = phone_region.upper() if phone_region else None

    @cached_property
    def _plugins(self) -> list[tuple[str, Any, re.Pattern[str]]]:
        """(kind, plugin, prefilter) per detect-secrets plugin; see :func:`_prefilter_of`."""
        from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

        classes = {plugin.__name__: plugin for plugin in get_mapping_from_secret_type_to_class().values()}
        missing = [name for name in SECRET_PLUGINS if name not in classes]
        if missing:  # a detect-secrets release renamed a plugin: fail loudly rather than scan less
            raise RuntimeError(f"detect-secrets has no plugin {', '.join(missing)}; check the installed version")
        plugins = [classes[name]() for name in SECRET_PLUGINS]
        return [(kind_of(plugin.secret_type), plugin, _prefilter_of(plugin)) for plugin in plugins]

    @cached_property
    def _secret_filters(self) -> list[Any]:
        """The heuristic filters detect-secrets applies to a secret found in an ad-hoc line scan."""
        from detect_secrets.filters import heuristic

        return [heuristic.is_sequential_string, heuristic.is_potential_uuid, heuristic.is_templated_secret,
                heuristic.is_prefixed_with_dollar_sign, heuristic.is_not_alphanumeric_string]

    def spans(self, text: str) -> list[Span]:
        """Every finding in ``text``, sorted by position (spans of two kinds may overlap)."""
        if not text:
            return []
        found = set(self._credential_spans(text))
        found.update(self._email_spans(text))
        found.update(self._phone_spans(text))
        return sorted(found, key=lambda span: (span.start, span.end, span.kind))

    def redact(self, text: str) -> tuple[str, list[Span]]:
        """``text`` with every finding replaced by its mask, and the spans that were masked (overlaps merged)."""
        merged = merge_spans(self.spans(text))
        for span in reversed(merged):
            text = text[: span.start] + mask_for(span.kind) + text[span.end :]
        return text, merged

    # -- credentials ------------------------------------------------------------------

    def _credential_spans(self, text: str) -> Iterator[Span]:
        from detect_secrets.filters.heuristic import is_likely_id_string

        active = [(kind, plugin, prefilter) for kind, plugin, prefilter in self._plugins if prefilter.search(text)]
        offset = 0
        for line in text.splitlines(keepends=True):
            content = line.rstrip("\r\n")
            if content.strip():
                for kind, plugin, prefilter in active:
                    if not prefilter.search(content):
                        continue
                    for start, end in _plugin_spans(plugin, content):
                        value = content[start:end]
                        if any(check(value) for check in self._secret_filters) or is_likely_id_string(value, content, plugin):
                            continue
                        if kind in PLACEHOLDER_PRONE and is_placeholder(value):
                            continue
                        yield _private_key_span(text, offset + start) if kind == "private_key" else Span(kind, offset + start, offset + end)
                for kind, pattern in EXTRA_RULES.items():
                    for match in pattern.finditer(content):
                        group = 1 if pattern.groups else 0
                        if kind in PLACEHOLDER_PRONE and is_placeholder(match.group(group)):
                            continue
                        yield Span(kind, offset + match.start(group), offset + match.end(group))
            offset += len(line)
        yield from _orphan_key_ends(text)

    # -- personal data ----------------------------------------------------------------

    def _email_spans(self, text: str) -> Iterator[Span]:
        if "@" not in text:
            return
        for match in EMAIL.finditer(text):
            address = match.group(0)
            if RESERVED_DOMAINS.search(match.group(1)) or address.lower().startswith("git@") or _in_url_userinfo(text, match.start()):
                continue
            yield Span("email_address", match.start(), match.end())

    def _phone_spans(self, text: str) -> Iterator[Span]:
        if not (self.phone_region or "+" in text):
            return
        from phonenumbers import Leniency, PhoneNumberMatcher

        for match in PhoneNumberMatcher(text, self.phone_region, leniency=Leniency.VALID):
            if sum(character.isdigit() for character in match.raw_string) >= MIN_PHONE_DIGITS:
                yield Span("phone_number", match.start, match.end)


def _prefilter_of(plugin: Any) -> re.Pattern[str]:
    """A pattern that matches a whole text wherever the plugin could match one of its lines.

    Most texts hold no secret, and running 24 plugins on every line costs about 0.6 ms a line;
    one search per plugin over the whole text skips them. The plugin's own patterns, joined and
    compiled with MULTILINE (``^``/``$`` at line ends), match the text wherever they match a line,
    so nothing is skipped that the plugin would find. The keyword plugin's patterns all need one
    of its keywords (``password``, ``secret``, ``api_key``, ...): its keyword list is the filter.
    """
    from detect_secrets.plugins import keyword
    from detect_secrets.plugins.base import RegexBasedDetector

    if isinstance(plugin, RegexBasedDetector):
        parts = []
        for regex in plugin.denylist:
            flags = "".join(letter for flag, letter in ((re.IGNORECASE, "i"), (re.VERBOSE, "x"), (re.DOTALL, "s")) if regex.flags & flag)
            parts.append(f"(?{flags}:{regex.pattern})" if flags else f"(?:{regex.pattern})")
        return re.compile("|".join(parts), re.MULTILINE)
    return re.compile(keyword.DENYLIST_REGEX, re.IGNORECASE)


def _plugin_spans(plugin: Any, line: str) -> Iterator[tuple[int, int]]:
    """Where a detect-secrets plugin finds a secret in ``line``, as (start, end).

    A regex plugin's patterns are run here with ``finditer`` (the plugin itself returns values
    only, from ``findall``): a first group that starts after the match is the secret behind its
    context (``aws_secret_key = "..."``, ``://user:...@``); a group at the start is a label
    inside the token (``(ghp|gho)_...``), so the whole match is the secret. Other plugins (the
    keyword one) give values, which are located in the line.
    """
    from detect_secrets.plugins.base import RegexBasedDetector

    if isinstance(plugin, RegexBasedDetector):
        for regex in plugin.denylist:
            for match in regex.finditer(line):
                if regex.groups and match.group(1) and match.start(1) > match.start():
                    yield match.span(1)
                elif match.end() > match.start():
                    yield match.span()
        return
    for secret in plugin.analyze_line(filename="passage", line=line, line_number=0):
        if isinstance(secret.secret_value, str) and secret.secret_value:
            for match in re.finditer(re.escape(secret.secret_value), line):
                yield match.span()


def merge_spans(spans: list[Span]) -> list[Span]:
    """Overlapping spans as one (named after the first), in order: what a mask replaces."""
    merged: list[Span] = []
    for span in sorted(spans, key=lambda span: (span.start, -span.end)):
        if merged and span.start < merged[-1].end:
            last = merged[-1]
            merged[-1] = Span(last.kind, last.start, max(last.end, span.end))
        else:
            merged.append(span)
    return merged


def _in_url_userinfo(text: str, position: int) -> bool:
    """``scheme://user:password@host``: the ``password@host`` part is a URL's credentials (a basic-auth finding), not an address."""
    token_start = max(text.rfind(" ", 0, position), text.rfind("\n", 0, position)) + 1
    return position > 0 and text[position - 1] == ":" and "://" in text[token_start:position]


def _private_key_span(text: str, position: int) -> Span:
    """The whole PEM block around a private-key header detect-secrets found: header, body and END line.

    Without an END line in this text (the block goes on in the next passage) the rest of the text goes.
    """
    position = max(position, 0)
    begin = _PEM_BEGIN.search(text, max(0, position - 40))
    start = begin.start() if begin and begin.start() <= position + 40 else text.rfind("\n", 0, position) + 1
    end_match = _PEM_END.search(text, position)
    return Span("private_key", start, end_match.end() if end_match else len(text))


def _orphan_key_ends(text: str) -> Iterator[Span]:
    """The tail of a PEM private key whose BEGIN line is in an earlier passage: its key lines and END line."""
    for end_match in _PEM_END.finditer(text):
        if _PEM_BEGIN.search(text, 0, end_match.start()):
            continue  # the block is whole here: the header's span covers it
        start = end_match.start()
        while True:
            previous_end = text.rfind("\n", 0, start)
            if previous_end < 0:
                break
            line_start = text.rfind("\n", 0, previous_end) + 1
            if not _KEY_LINE.fullmatch(text[line_start:previous_end].strip()):
                break
            start = line_start
        yield Span("private_key", start, end_match.end())
