"""XPath filters of GetThings, limited to a subset whose cost is bounded.

The platform refused ``//``, ``*`` and the descendant, ancestor and sibling
axes. The local platform also refuses what lets one expression revisit a
document once per node, which is how a short filter grows as the number of
images to the power of its nesting depth:

* inside a predicate or a function's arguments, a path may not start at the
  root (``/``) and no path may step up (``..``, ``parent::``);
* only the child, attribute and self axes; no variables;
* only the functions in :data:`FUNCTIONS`;
* predicates nest at most :data:`MAX_NESTING` deep, and an expression has at
  most :data:`MAX_TOKENS` tokens and :data:`MAX_LENGTH` characters.

What remains visits each node of a thing a bounded number of times per
predicate, so a filter costs time proportional to the data it reads. A
:class:`Budget` bounds that time for one request as well.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from lxml import etree

from healthvault.status import StatusCode

from .errors import PlatformError

MAX_LENGTH = 1024
MAX_TOKENS = 256
MAX_NESTING = 3

#: Functions a filter may call (XPath 1.0 core functions without id(),
#: lang() and the node-set functions that reach other documents).
FUNCTIONS = frozenset(
    """boolean ceiling concat contains count false floor last local-name name normalize-space not
    number position round starts-with string string-length substring substring-after
    substring-before sum text node translate true""".split()
)

_ALLOWED_AXES = frozenset({"child", "attribute", "self"})
_OPERATOR_NAMES = frozenset({"and", "or", "div", "mod"})

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>"[^"]*"|'[^']*')
    | (?P<number>\d+(?:\.\d*)?|\.\d+)
    | (?P<op>//|::|\.\.|!=|<=|>=|[/\[\]()@,|=<>+\-.$*])
    | (?P<name>[A-Za-z_][\w.\-]*(?::[A-Za-z_][\w.\-]*)?)
    )""",
    re.VERBOSE,
)


def _invalid(message: str) -> PlatformError:
    return PlatformError(StatusCode.INVALID_FILTER, message)


def _tokens(expression: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    at = 0
    end = len(expression.rstrip())
    while at < end:
        match = _TOKEN.match(expression, at)
        if match is None or match.end() == at:
            raise _invalid(f"invalid xpath filter: unexpected character at {at + 1}")
        kind = match.lastgroup or ""
        found.append((kind, match.group(kind)))
        at = match.end()
    return found


def check(expression: str) -> None:
    """Refuse an expression outside the subset (status INVALID_FILTER)."""
    if len(expression) > MAX_LENGTH:
        raise _invalid(f"the xpath filter is longer than {MAX_LENGTH} characters")
    tokens = _tokens(expression)
    if len(tokens) > MAX_TOKENS:
        raise _invalid(f"the xpath filter has more than {MAX_TOKENS} parts")
    # Each open bracket or parenthesis: "[" or "(".
    stack: list[str] = []
    previous = ("", "")
    for i, (kind, text) in enumerate(tokens):
        following = tokens[i + 1] if i + 1 < len(tokens) else ("", "")
        if kind == "op":
            if text == "//" or text == "*":
                raise _invalid("the xpath filter may not use //, *, or descendant, ancestor or sibling axes")
            if text == "$":
                raise _invalid("the xpath filter may not use variables")
            if text == "..":
                raise _invalid("the xpath filter may not step to a parent (..)")
            if text in "[(":
                stack.append(text)
                if stack.count("[") > MAX_NESTING:
                    raise _invalid(f"the xpath filter nests predicates more than {MAX_NESTING} deep")
            elif text in "])":
                if not stack:
                    raise _invalid("invalid xpath filter: unbalanced brackets")
                stack.pop()
            elif text == "/" and stack and _starts_path(previous):
                raise _invalid("a path inside a predicate or function must be relative (not start with /)")
        elif kind == "name":
            if following == ("op", "::"):
                if text not in _ALLOWED_AXES:
                    raise _invalid(f"the xpath filter may not use the {text} axis (only child, attribute and self)")
            elif following == ("op", "(") and previous != ("op", "::") and previous != ("op", "@"):
                if text not in FUNCTIONS and text not in _OPERATOR_NAMES:
                    raise _invalid(f"the xpath filter may not call {text}()")
        previous = (kind, text)


def _starts_path(previous: tuple[str, str]) -> bool:
    """Whether a "/" after ``previous`` begins a path (rather than separating steps)."""
    kind, text = previous
    if kind == "op":
        return text in ("[", "(", ",", "|", "=", "!=", "<", "<=", ">", ">=", "+", "-")
    return kind == "name" and text in _OPERATOR_NAMES


def compile_filter(expression: str) -> etree.XPath:
    """A compiled filter within the subset."""
    check(expression)
    try:
        return etree.XPath(expression, smart_strings=False)
    except etree.XPathSyntaxError as exc:
        raise _invalid(f"invalid xpath filter: {exc}") from None


@dataclass
class Budget:
    """Seconds of filter evaluation one request may spend."""

    seconds: float
    spent: float = 0.0

    def matches(self, compiled: etree.XPath, root: etree._Element) -> bool:
        started = time.perf_counter()
        try:
            result = compiled(root)
        except etree.XPathEvalError:
            return False
        finally:
            self.spent += time.perf_counter() - started
            if self.spent > self.seconds:
                raise PlatformError(
                    StatusCode.INVALID_FILTER,
                    f"the xpath filters took more than {self.seconds:g} s; narrow the query "
                    "(a type, dates or fewer things)",
                )
        return bool(result)
