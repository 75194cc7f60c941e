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

* no comparison (``=``, ``!=``, ``<``...) of two node-sets, which XPath
  makes between every pair of their nodes: ``a/b = c/d`` costs the number
  of ``b`` times the number of ``d`` (a path compared with a value, or with
  at most one node such as ``.`` or ``@id``, costs the path's nodes).
  :class:`_Kinds` reads the expression's grammar (XPath 1.0, section 3) to
  tell which operands are node-sets.

What remains visits each node of a thing a bounded number of times per
predicate, so a filter costs time proportional to the data it reads. A
:class:`Budget` bounds that time for one request as well (between things:
libxml2 cannot be stopped inside one evaluation, which is why the subset
must bound the cost of each).
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
        compiled = etree.XPath(expression, smart_strings=False)
    except etree.XPathSyntaxError as exc:
        raise _invalid(f"invalid xpath filter: {exc}") from None
    _Kinds(_tokens(expression)).check()
    return compiled


#: What an expression gives: a value (string, number, boolean), at most one
#: node, or a node-set of any size.
_VALUE, _ONE, _NODES = "value", "one", "nodes"
#: Binary operators from the loosest to the tightest (XPath 1.0, 3.4 and 3.5).
_LEVELS = (
    frozenset({"or"}),
    frozenset({"and"}),
    frozenset({"=", "!="}),
    frozenset({"<", "<=", ">", ">="}),
    frozenset({"+", "-"}),
    frozenset({"*", "div", "mod"}),
)
_COMPARISONS = _LEVELS[2] | _LEVELS[3]
_NODE_TYPES = frozenset({"node", "text", "comment", "processing-instruction"})


class _Kinds:
    """A recursive-descent reading of an expression (already compiled by
    libxml2, so well-formed) that finds what each operand gives and refuses
    comparisons of two node-sets."""

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.at = 0

    def check(self) -> None:
        self._expr()
        if self.at != len(self.tokens):
            raise self._unexpected()

    def _peek(self, ahead: int = 0) -> tuple[str, str]:
        i = self.at + ahead
        return self.tokens[i] if i < len(self.tokens) else ("", "")

    def _take(self) -> tuple[str, str]:
        token = self._peek()
        if not token[0]:
            raise self._unexpected()
        self.at += 1
        return token

    def _expect(self, text: str) -> None:
        if self._take() != ("op", text):
            raise self._unexpected()

    def _unexpected(self) -> PlatformError:
        return _invalid(f"invalid xpath filter: unexpected {self._peek()[1] or 'end'} (part {self.at + 1})")

    def _expr(self, level: int = 0) -> str:
        if level == len(_LEVELS):
            return self._unary()
        left = self._expr(level + 1)
        while self._peek()[0] in ("op", "name") and self._peek()[1] in _LEVELS[level]:
            operator = self._take()[1]
            right = self._expr(level + 1)
            if operator in _COMPARISONS and left == right == _NODES:
                raise _invalid(
                    f"the xpath filter compares two node-sets ({operator}), which costs the product of their "
                    "sizes; compare a path with a value, or with one node (string(path) takes the first)"
                )
            left = _VALUE
        return left

    def _unary(self) -> str:
        if self._peek() == ("op", "-"):
            self._take()
            self._unary()
            return _VALUE
        kind = self._path()
        while self._peek() == ("op", "|"):
            self._take()
            self._path()
            kind = _NODES
        return kind

    def _starts_step(self) -> bool:
        kind, text = self._peek()
        following = self._peek(1)
        if kind == "op":
            return text in (".", "..", "@", "*")
        if kind != "name":
            return False
        if following == ("op", "("):
            return text in _NODE_TYPES
        return True

    def _path(self) -> str:
        if self._peek() in (("op", "/"), ("op", "//")):
            slash = self._take()[1]
            if slash == "/" and not self._starts_step():
                return _ONE  # the root
            self._relative()
            return _NODES
        if self._starts_step():
            return self._relative()
        kind = self._primary()
        while self._peek() == ("op", "["):
            self._predicate()
            kind = _NODES
        if self._peek() in (("op", "/"), ("op", "//")):
            self._take()
            self._relative()
            kind = _NODES
        return kind

    def _relative(self) -> str:
        steps = [self._step()]
        while self._peek() in (("op", "/"), ("op", "//")):
            if self._take()[1] == "//":
                steps.append("other")
            steps.append(self._step())
        # At most one node: self steps only, and perhaps one named attribute last.
        if all(s == "self" for s in steps[:-1]) and steps[-1] in ("self", "attribute"):
            return _ONE
        return _NODES

    def _step(self) -> str:
        kind, text = self._take()
        if (kind, text) == ("op", "."):
            axis = "self"
        elif (kind, text) == ("op", ".."):
            axis = "other"
        else:
            axis = "child"
            if (kind, text) == ("op", "@"):
                axis = "attribute"
                kind, text = self._take()
            elif kind == "name" and self._peek() == ("op", "::"):
                axis = text if text in ("self", "attribute") else "other"
                self._take()
                kind, text = self._take()
            if (kind, text) == ("op", "*"):
                axis = "other" if axis == "attribute" else axis
            elif kind != "name":
                raise self._unexpected()
            elif self._peek() == ("op", "("):  # node(), text(), comment(), processing-instruction('x')
                self._take()
                if self._peek()[0] == "string":
                    self._take()
                self._expect(")")
                axis = "other" if axis == "attribute" else axis
        while self._peek() == ("op", "["):
            self._predicate()
        return axis

    def _predicate(self) -> None:
        self._expect("[")
        self._expr()
        self._expect("]")

    def _primary(self) -> str:
        kind, text = self._take()
        if kind in ("string", "number"):
            return _VALUE
        if (kind, text) == ("op", "("):
            inner = self._expr()
            self._expect(")")
            return inner
        if (kind, text) == ("op", "$"):
            self._take()
            return _NODES
        if kind == "name" and self._peek() == ("op", "("):
            self._take()
            if self._peek() != ("op", ")"):
                self._expr()
                while self._peek() == ("op", ","):
                    self._take()
                    self._expr()
            self._expect(")")
            return _VALUE  # every function of the subset gives a value, none a node-set
        raise self._unexpected()


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
