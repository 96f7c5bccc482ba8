"""The filter language: a lexer and a recursive-descent parser into a typed tree, and
the printer that writes a tree back as text.

>>> f = parse_filter('weather = "sunny" and not exists(reviewed)')
>>> to_text(f.root)
'weather = "sunny" and not exists(reviewed)'

Grammar (``docs/filters.md`` has the whole language)::

    filter     = or ;
    or         = and { "or" and } ;
    and        = unary { "and" unary } ;
    unary      = "not" unary | primary ;
    primary    = "(" or ")" | "exists" "(" field ")" | field predicate ;
    predicate  = ( "=" | "!=" | "<" | "<=" | ">" | ">=" ) value
               | [ "not" ] "in" "(" value { "," value } ")"
               | [ "not" ] "like" string ;
    value      = string | number | date | datetime | "true" | "false" ;
    field      = name | "`" quoted name "`" ;

Every error is a :class:`FilterError` that says where: the 1-based column and the
text with a caret under it. Hostile input is bounded (length, nesting, terms, values),
so a parse never recurses deeply nor runs long.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import ClassVar

from accessio.errors import AccessioError

MAX_LENGTH = 8192  # characters of filter text
MAX_DEPTH = 32  # nested parentheses and "not"s
MAX_TERMS = 256  # comparisons, in lists, likes and exists() in one filter
MAX_VALUES = 1000  # literal values in one filter
_EXCERPT = 60  # characters of context each side of the caret

KEYWORDS = frozenset({"and", "or", "not", "in", "like", "exists", "true", "false"})
COMPARISONS = ("=", "!=", "<", "<=", ">", ">=")

Scalar = str | int | float | bool | date | datetime


class FilterError(AccessioError):
    """A filter, sort key or cursor that cannot be used; says where.

    ``option`` names what was wrong ("where", "sort" or "after"), ``reason`` what,
    ``column`` is 1-based (``None`` when the whole value is at fault) and ``excerpt``
    shows the text with a caret under the column.
    """

    status = 400
    code = "filter.invalid"

    def __init__(self, reason: str, *, text: str = "", offset: int | None = None, option: str = "where") -> None:
        self.reason = reason
        self.option = option
        self.offset = offset
        self.column = None if offset is None else offset + 1
        self.text = text
        where = "" if offset is None else f" at column {offset + 1}"
        super().__init__(f"{option}: {reason}{where}")

    @property
    def excerpt(self) -> str:
        """Two lines: the text around the error, and a caret under it (empty without a column)."""
        if self.offset is None:
            return ""
        start = max(0, self.offset - _EXCERPT)
        shown = self.text[start : self.offset + _EXCERPT]
        lead = "…" if start else ""
        line = lead + "".join(char if char.isprintable() else " " for char in shown)  # one line
        return f"{line}\n{' ' * (len(lead) + self.offset - start)}^"


# The tree. Positions (offsets into the text) are kept out of equality, so a filter
# printed and parsed again equals the one it came from.


@dataclass(frozen=True)
class Field:
    """A built-in item field or a client metadata key; ``quoted`` (backticks) always
    means client metadata, even when the name is a built-in's."""

    name: str
    quoted: bool = False
    at: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Literal:
    value: Scalar
    at: int = field(default=0, compare=False)

    @property
    def kind(self) -> str:
        """string, number, boolean, date or datetime."""
        return literal_kind(self.value)

    def __eq__(self, other: object) -> bool:
        # 1 == True and 1 == 1.0 in Python; a boolean literal is not a number literal
        return isinstance(other, Literal) and self.kind == other.kind and self.value == other.value

    def __hash__(self) -> int:
        return hash((self.kind, self.value))


@dataclass(frozen=True)
class Compare:
    field: Field
    op: str
    value: Literal


@dataclass(frozen=True)
class InList:
    field: Field
    values: tuple[Literal, ...]


@dataclass(frozen=True)
class Like:
    field: Field
    pattern: Literal


@dataclass(frozen=True)
class Exists:
    field: Field


@dataclass(frozen=True)
class Not:
    operand: Node
    at: int = field(default=0, compare=False)


@dataclass(frozen=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Node, ...]


Node = Compare | InList | Like | Exists | Not | And | Or


@dataclass(frozen=True)
class Filter:
    """A parsed filter: its text (for error excerpts) and its tree."""

    text: str
    root: Node

    def error(self, reason: str, at: int) -> FilterError:
        return FilterError(reason, text=self.text, offset=at)

    def names(self, builtin: str) -> bool:
        """Whether the filter names the built-in field ``builtin`` anywhere (a quoted name
        is client metadata, not the built-in)."""
        pending: list[Node] = [self.root]
        while pending:
            node = pending.pop()
            if isinstance(node, And | Or):
                pending.extend(node.operands)
            elif isinstance(node, Not):
                pending.append(node.operand)
            elif node.field.name == builtin and not node.field.quoted:
                return True
        return False


def literal_kind(value: Scalar) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, datetime):
        return "datetime"
    if isinstance(value, date):
        return "date"
    return "string"


# The lexer


@dataclass(frozen=True)
class Token:
    kind: str  # "(", ")", ",", "op", "string", "number", "datetime", "date", "name", "quoted", a keyword, "end"
    text: str
    at: int
    value: Scalar | None = None


_SPACE = re.compile(r"\s+")
_NAME = re.compile(r"[^\W\d][\w.\-]*")
_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
ISO_MOMENT = re.compile(
    r"(?P<y>[0-9]{4})-(?P<mo>[0-9]{2})-(?P<d>[0-9]{2})"
    r"(?:[Tt](?P<h>[0-9]{2}):(?P<mi>[0-9]{2})(?::(?P<s>[0-9]{2})(?:\.(?P<f>[0-9]{1,9}))?)?"
    r"(?P<z>[Zz]|(?P<sign>[+-])(?P<oh>[0-9]{2})(?::?(?P<om>[0-9]{2}))?)?)?"
)
_OPERATOR = re.compile(r"!=|<=|>=|=|<|>")
_WORD_CHAR = re.compile(r"[\w.\-]")
INT64 = 2**63


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, reason: str, at: int) -> FilterError:
        return FilterError(reason, text=self.text, offset=at)

    def tokens(self) -> list[Token]:
        found: list[Token] = []
        while True:
            token = self.next()
            found.append(token)
            if token.kind == "end":
                return found

    def next(self) -> Token:
        text = self.text
        space = _SPACE.match(text, self.pos)
        if space:
            self.pos = space.end()
        at = self.pos
        if at >= len(text):
            return Token("end", "", at)
        char = text[at]
        if char in "(),":
            self.pos += 1
            return Token(char, char, at)
        if char == '"':
            return self._string(at)
        if char == "`":
            return self._quoted(at)
        operator = _OPERATOR.match(text, at)
        if operator:
            self.pos = operator.end()
            return Token("op", operator.group(), at)
        moment = ISO_MOMENT.match(text, at)
        if moment:
            return self._moment(moment, at)
        number = _NUMBER.match(text, at)
        if number:
            return self._number(number.group(), at)
        name = _NAME.match(text, at)
        if name:
            self.pos = name.end()
            word = name.group()
            lowered = word.lower()
            if lowered in KEYWORDS:
                value: Scalar | None = {"true": True, "false": False}.get(lowered)
                return Token(lowered, word, at, value)
            return Token("name", word, at, word)
        shown = json.dumps(char, ensure_ascii=True)
        raise self.error(f"unexpected character {shown}", at)

    def _after_word(self, kind: str, at: int) -> None:
        """A literal runs into letters (``10px``, ``2024-01-01x``): say so at its start."""
        if self.pos < len(self.text) and _WORD_CHAR.match(self.text, self.pos):
            end = self.pos
            while end < len(self.text) and _WORD_CHAR.match(self.text, end):
                end += 1
            raise self.error(f"{self.text[at:end]!r} is not a {kind}", at)

    def _string(self, at: int) -> Token:
        text = self.text
        pos = at + 1
        while pos < len(text):
            char = text[pos]
            if char == '"':
                break
            if char == "\\":
                escape = text[pos + 1 : pos + 2]
                if escape == "u":
                    if not re.fullmatch(r"[0-9a-fA-F]{4}", text[pos + 2 : pos + 6]):
                        raise self.error("a \\u escape needs four hexadecimal digits", pos)
                    pos += 6
                    continue
                if escape not in ('"', "\\", "/", "b", "f", "n", "r", "t"):
                    raise self.error('unknown escape in a string (use \\" \\\\ \\n \\t or \\uXXXX)', pos)
                pos += 2
                continue
            if ord(char) < 0x20:
                raise self.error("a control character in a string (write it as an escape)", pos)
            pos += 1
        else:
            raise self.error("unterminated string", at)
        raw = text[at : pos + 1]
        value = json.loads(raw)
        if "\x00" in value:
            raise self.error("a string cannot hold the character U+0000", at)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise self.error("a string holds a lone surrogate (\\ud800-\\udfff)", at) from None
        self.pos = pos + 1
        return Token("string", raw, at, value)

    def _quoted(self, at: int) -> Token:
        text = self.text
        pos = at + 1
        parts: list[str] = []
        while True:
            end = text.find("`", pos)
            if end < 0:
                raise self.error("unterminated `quoted name`", at)
            parts.append(text[pos:end])
            if text.startswith("``", end):  # a doubled backtick is one backtick
                parts.append("`")
                pos = end + 2
                continue
            break
        name = "".join(parts)
        if not name:
            raise self.error("an empty `quoted name`", at)
        if "\x00" in name:
            raise self.error("a name cannot hold the character U+0000", at)
        self.pos = end + 1
        return Token("quoted", text[at : end + 1], at, name)

    def _moment(self, match: re.Match[str], at: int) -> Token:
        self.pos = match.end()
        self._after_word("date", at)
        try:
            value = moment_value(match)
        except ValueError as exc:
            raise self.error(f"{match.group()} is not a valid date ({exc})", at) from None
        return Token("datetime" if isinstance(value, datetime) else "date", match.group(), at, value)

    def _number(self, raw: str, at: int) -> Token:
        self.pos = at + len(raw)
        self._after_word("number", at)
        value: int | float
        if re.fullmatch(r"-?[0-9]+", raw):
            value = int(raw)
            if not -INT64 <= value < INT64:
                value = float(raw)
        else:
            value = float(raw)
        if value in (float("inf"), float("-inf")):
            raise self.error(f"{raw} is out of the range of a 64-bit float", at)
        return Token("number", raw, at, value)


def moment_value(match: re.Match[str]) -> date | datetime:
    """The date or (aware) datetime an ``ISO_MOMENT`` match writes; no zone means UTC."""
    day = date(int(match["y"]), int(match["mo"]), int(match["d"]))
    if match["h"] is None:
        return day
    fraction = (match["f"] or "").ljust(6, "0")[:6]
    zone = UTC
    if match["sign"]:
        hours, minutes = int(match["oh"]), int(match["om"] or 0)
        if hours > 23 or minutes > 59:
            raise ValueError("an offset is at most ±23:59")
        offset = timedelta(hours=hours, minutes=minutes)
        zone = timezone(-offset if match["sign"] == "-" else offset)
    return datetime(
        day.year, day.month, day.day, int(match["h"]), int(match["mi"]), int(match["s"] or 0), int(fraction),
        tzinfo=zone,
    )  # fmt: skip


# The parser


class _Parser:
    OPERATORS: ClassVar[str] = "=, !=, <, <=, >, >=, in, not in, like or not like"

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _Lexer(text).tokens()
        self.index = 0
        self.depth = 0
        self.terms = 0
        self.values = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def error(self, reason: str, at: int) -> FilterError:
        return FilterError(reason, text=self.text, offset=at)

    def found(self, token: Token) -> str:
        return "the end of the filter" if token.kind == "end" else json.dumps(token.text, ensure_ascii=False)

    def expect(self, kind: str, after: str) -> Token:
        token = self.token
        if token.kind != kind:
            raise self.error(f'expected "{kind}" {after}, found {self.found(token)}', token.at)
        return self.advance()

    def parse(self) -> Node:
        if self.token.kind == "end":
            raise self.error("the filter is empty", 0)
        node = self.disjunction()
        token = self.token
        if token.kind == ")":
            raise self.error('unexpected ")" (no "(" before it)', token.at)
        if token.kind != "end":
            raise self.error(f'expected "and", "or" or the end of the filter, found {self.found(token)}', token.at)
        return node

    def nest(self, at: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f'more than {MAX_DEPTH} nested "(" or "not"', at)

    def disjunction(self) -> Node:
        operands = [self.conjunction()]
        while self.token.kind == "or":
            self.advance()
            operands.append(self.conjunction())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def conjunction(self) -> Node:
        operands = [self.unary()]
        while self.token.kind == "and":
            self.advance()
            operands.append(self.unary())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def unary(self) -> Node:
        token = self.token
        if token.kind != "not":
            return self.primary()
        self.advance()
        self.nest(token.at)
        operand = self.unary()
        self.depth -= 1
        return Not(operand, token.at)

    def primary(self) -> Node:
        token = self.token
        if token.kind == "(":
            self.advance()
            self.nest(token.at)
            if self.token.kind == ")":
                raise self.error('empty parentheses: expected a condition after "("', self.token.at)
            node = self.disjunction()
            if self.token.kind != ")":
                if self.token.kind == "end":
                    raise self.error('unclosed "(" (no ")" after it)', token.at)
                raise self.error(f'expected ")", "and" or "or", found {self.found(self.token)}', self.token.at)
            self.advance()
            self.depth -= 1
            return node
        if token.kind == "exists":
            self.advance()
            self.expect("(", "after exists")
            name = self.field("in exists(...)")
            self.expect(")", "after the name in exists(...)")
            self.term(token.at)
            return Exists(name)
        subject = self.field("at the start of a condition")
        return self.predicate(subject)

    def term(self, at: int) -> None:
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise self.error(f"more than {MAX_TERMS} conditions in one filter", at)

    def field(self, where: str) -> Field:
        token = self.token
        if token.kind == "name":
            self.advance()
            return Field(token.text, False, token.at)
        if token.kind == "quoted":
            self.advance()
            assert isinstance(token.value, str)
            return Field(token.value, True, token.at)
        if token.kind in KEYWORDS:
            hint = f" (a key named {token.text!r} is written `{token.text}`)"
            raise self.error(f"expected a field name {where}, found the keyword {token.text!r}{hint}", token.at)
        raise self.error(f"expected a field name {where}, found {self.found(token)}", token.at)

    def predicate(self, subject: Field) -> Node:
        token = self.token
        self.term(subject.at)
        if token.kind == "op":
            self.advance()
            return Compare(subject, token.text, self.value(f'after "{token.text}"'))
        negated = token.kind == "not"
        if negated:
            self.advance()
        operator = self.token
        if operator.kind == "in":
            self.advance()
            node: Node = self.in_list(subject)
        elif operator.kind == "like":
            self.advance()
            pattern = self.value('after "like"')
            if pattern.kind != "string":
                raise self.error(
                    f'like needs a "quoted pattern", found {pattern.kind} {self.shown(pattern)}', pattern.at
                )
            node = Like(subject, pattern)
        else:
            after = "not" if negated else subject.name
            raise self.error(
                f"expected an operator ({self.OPERATORS}) after {after}, found {self.found(operator)}", operator.at
            )
        return Not(node, token.at) if negated else node

    def in_list(self, subject: Field) -> InList:
        opening = self.expect("(", 'after "in"')
        if self.token.kind == ")":
            raise self.error("an in list needs at least one value", self.token.at)
        values = [self.value('in the "in" list')]
        while self.token.kind == ",":
            self.advance()
            values.append(self.value('after ","'))
        if self.token.kind != ")":
            if self.token.kind == "end":
                raise self.error('unclosed "(" of the in list', opening.at)
            raise self.error(f'expected "," or ")" in the in list, found {self.found(self.token)}', self.token.at)
        self.advance()
        return InList(subject, tuple(values))

    def value(self, where: str) -> Literal:
        token = self.token
        if token.kind in ("string", "number", "date", "datetime", "true", "false"):
            self.advance()
            self.values += 1
            if self.values > MAX_VALUES:
                raise self.error(f"more than {MAX_VALUES} values in one filter", token.at)
            assert token.value is not None
            return Literal(token.value, token.at)
        hint = ' (strings are in "double quotes")' if token.kind in ("name", "quoted") else ""
        raise self.error(f"expected a value {where}, found {self.found(token)}{hint}", token.at)

    @staticmethod
    def shown(literal: Literal) -> str:
        return to_text_value(literal.value)


def parse_filter(text: str) -> Filter:
    """Parse a filter into its tree; a :class:`FilterError` says what is wrong and where.

    >>> parse_filter("frames > 100").root
    Compare(field=Field(name='frames', quoted=False), op='>', value=Literal(value=100))
    """
    _check_text(text)
    return Filter(text, _Parser(text).parse())


def parse_field(text: str, *, option: str = "sort") -> Field:
    """One field name as a filter writes it (``frames``, ```my key```), e.g. a sort key."""
    _check_text(text, option=option)
    try:
        tokens = _Lexer(text).tokens()
    except FilterError as exc:
        raise FilterError(exc.reason, text=text, offset=exc.offset, option=option) from None
    first = tokens[0]
    if first.kind not in ("name", "quoted"):
        raise FilterError(f"expected a field name, found {json.dumps(first.text)}", text=text, offset=first.at,
                          option=option)  # fmt: skip
    if tokens[1].kind != "end":
        raise FilterError("expected one field name", text=text, offset=tokens[1].at, option=option)
    name = first.value if first.kind == "quoted" else first.text
    assert isinstance(name, str)
    return Field(name, first.kind == "quoted", first.at)


def _check_text(text: str, *, option: str = "where") -> None:
    if len(text) > MAX_LENGTH:
        raise FilterError(f"too long: {len(text):,} characters, more than {MAX_LENGTH:,}", text=text, option=option)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise FilterError("the text is not valid Unicode", text=text, offset=exc.start, option=option) from None


# The printer


def to_text(node: Node) -> str:
    """A tree written back as filter text that parses to an equal tree."""
    return _print(node, 0)


_PRECEDENCE = {Or: 1, And: 2}


def _print(node: Node, parent: int) -> str:
    match node:
        case Or(operands) | And(operands):
            level = _PRECEDENCE[type(node)]
            word = " or " if isinstance(node, Or) else " and "
            text = word.join(_print(operand, level) for operand in operands)
            # a child of the same kind keeps its parentheses: the tree is not flattened
            return f"({text})" if parent >= level else text
        case Not(operand):
            inner = _print(operand, 3)
            return f"not {inner}"
        case Compare(subject, op, value):
            return f"{to_text_field(subject)} {op} {to_text_value(value.value)}"
        case InList(subject, values):
            return f"{to_text_field(subject)} in ({', '.join(to_text_value(v.value) for v in values)})"
        case Like(subject, pattern):
            return f"{to_text_field(subject)} like {to_text_value(pattern.value)}"
        case Exists(subject):
            return f"exists({to_text_field(subject)})"


def to_text_field(subject: Field) -> str:
    """A field as a filter writes it: bare when it can be, else in backticks."""
    bare = _NAME.fullmatch(subject.name) is not None and subject.name.lower() not in KEYWORDS
    if bare and not subject.quoted:
        return subject.name
    return "`" + subject.name.replace("`", "``") + "`"


def to_text_value(value: Scalar) -> str:
    """A literal as a filter writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return json.dumps(value, ensure_ascii=False)
