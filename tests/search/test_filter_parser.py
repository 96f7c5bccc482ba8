"""The filter language's parser and printer: properties over generated filters, and
the errors it gives, each with the column of the offending token."""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from accessio.catalog.metadata_schema import MetadataSchema
from accessio.search.filter_sql import compile_filter
from accessio.search.filter_syntax import (
    KEYWORDS,
    MAX_DEPTH,
    MAX_LENGTH,
    MAX_TERMS,
    And,
    Compare,
    Exists,
    Field,
    Filter,
    FilterError,
    InList,
    Like,
    Literal,
    Node,
    Not,
    Or,
    _Lexer,
    parse_field,
    parse_filter,
    to_text,
)

SCHEMA = MetadataSchema.from_json(
    {
        "frames": {"ty": "variant", "hint": "number"},
        "site": {"ty": "variant", "hint": "varchar"},
        "notes": {"ty": "variant", "hint": "text"},
        "reviewed": {"ty": "variant", "hint": "boolean"},
        "captured_at": {"ty": "variant", "hint": "datetime"},
        "weather": {"ty": "enum", "values": ["sunny", "rainy"]},
        "clip": {"ty": "embedding", "size": 4},
    }
)

# Generated trees. A bare name may also be written quoted (``quoted=True`` keeps it a
# metadata key); a name that cannot be bare always prints in backticks, so it is
# generated quoted: the printer cannot tell the two apart otherwise.
bare_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.\-]{0,8}", fullmatch=True).filter(
    lambda name: name.lower() not in KEYWORDS
)
text_chars = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
any_names = st.text(text_chars, min_size=1, max_size=10)
fields = st.one_of(st.builds(Field, bare_names, st.booleans()), st.builds(Field, any_names, st.just(True)))
zones = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(-timedelta(hours=5, minutes=30))])
values = st.one_of(
    st.text(text_chars, max_size=12),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.dates(min_value=date(1, 1, 1)),
    st.datetimes(min_value=datetime(2, 1, 1), timezones=zones),
)
literals = st.builds(Literal, values)
leaves: st.SearchStrategy[Node] = st.one_of(
    st.builds(Compare, fields, st.sampled_from(["=", "!=", "<", "<=", ">", ">="]), literals),
    st.builds(InList, fields, st.lists(literals, min_size=1, max_size=4).map(tuple)),
    st.builds(Like, fields, st.builds(Literal, st.text(text_chars, max_size=8))),
    st.builds(Exists, fields),
)


def _extend(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    several = st.lists(children, min_size=2, max_size=4).map(tuple)
    return st.one_of(st.builds(Not, children), st.builds(And, several), st.builds(Or, several))


trees = st.recursive(leaves, _extend, max_leaves=12)


def _parses(text: str) -> Node:
    try:
        return parse_filter(text).root
    except FilterError as exc:
        assume('nested "(" or "not"' not in exc.reason)  # deep trees are refused on purpose
        raise


@given(trees)
def test_printed_filters_parse_back_to_the_same_tree(tree: Node) -> None:
    assert _parses(to_text(tree)) == tree


@given(trees)
def test_printing_is_stable(tree: Node) -> None:
    text = to_text(tree)
    assert to_text(_parses(text)) == text


def _outcome(text: str) -> Filter | FilterError:
    """The filter, or the error it fails with (any other exception fails the test)."""
    try:
        source = parse_filter(text)
    except FilterError as exc:
        return exc
    for dialect in ("sqlite", "postgresql"):
        with contextlib.suppress(FilterError):
            compile_filter(source, dialect=dialect, schema=SCHEMA)
    return source


@given(st.text(max_size=200))
def test_any_text_parses_or_fails_with_a_filter_error(text: str) -> None:
    outcome = _outcome(text)
    if isinstance(outcome, FilterError):
        assert outcome.column is None or 1 <= outcome.column <= len(text) + 1


filter_alphabet = st.sampled_from(
    [*' ()`",=!<>-.:TZ\\', "and", "or", "not", "in", "like", "exists", "true", "1", "2024-01-01", "x", "frames"]
)


@given(st.lists(filter_alphabet, max_size=40).map("".join))
def test_near_miss_text_fails_only_with_a_filter_error(text: str) -> None:
    _outcome(text)


@given(trees, st.data())
def test_a_stray_character_is_reported_where_it_is(tree: Node, data: st.DataObject) -> None:
    text = to_text(tree)
    _parses(text)
    starts = [token.at for token in _Lexer(text).tokens()]
    at = data.draw(st.sampled_from(starts))
    broken = text[:at] + "@" + text[at:]
    with pytest.raises(FilterError) as caught:
        parse_filter(broken)
    assert caught.value.offset == at
    assert caught.value.reason == 'unexpected character "@"'
    assert caught.value.excerpt.splitlines()[1].endswith("^")


@given(trees, st.data())
def test_a_missing_value_is_reported_at_the_token_found_instead(tree: Node, data: st.DataObject) -> None:
    text = to_text(tree)
    _parses(text)
    tokens = [t for t in _Lexer(text).tokens() if t.kind in ("string", "number", "date", "datetime", "true", "false")]
    assume(tokens)
    token = data.draw(st.sampled_from(tokens))
    broken = text[: token.at] + "," + text[token.at + len(token.text) :]
    with pytest.raises(FilterError) as caught:
        parse_filter(broken)
    assert caught.value.offset == token.at
    assert caught.value.reason.startswith("expected ")


@given(trees, st.data())
def test_a_cut_filter_fails_at_or_before_the_cut(tree: Node, data: st.DataObject) -> None:
    text = to_text(tree)
    _parses(text)
    cut = data.draw(st.integers(0, len(text) - 1))
    outcome = _outcome(text[:cut])
    if isinstance(outcome, FilterError):
        assert outcome.offset is not None
        assert outcome.offset <= cut


# Examples: the language as documented


def test_precedence_is_not_then_and_then_or() -> None:
    root = parse_filter("a = 1 or b = 2 and not c = 3").root
    one, two, three = (Compare(Field(n), "=", Literal(v)) for n, v in (("a", 1), ("b", 2), ("c", 3)))
    assert root == Or((one, And((two, Not(three)))))


def test_keywords_ignore_case_and_not_in_and_not_like_are_negations() -> None:
    root = parse_filter('A IN (1) AND b NOT IN ("x") And c Not Like "%y"').root
    assert root == And(
        (
            InList(Field("A"), (Literal(1),)),
            Not(InList(Field("b"), (Literal("x"),))),
            Not(Like(Field("c"), Literal("%y"))),
        )
    )


def test_literals() -> None:
    root = parse_filter(
        'x in ("a\\"b\\u00e9", -12, 1.5e3, true, FALSE, 2024-01-31, 2024-01-31T10:00:00.25+02:00, 2024-01-31t10:00z)'
    ).root
    assert isinstance(root, InList)
    assert [v.value for v in root.values] == [
        'a"bé',
        -12,
        1500.0,
        True,
        False,
        date(2024, 1, 31),
        datetime(2024, 1, 31, 10, 0, 0, 250000, tzinfo=timezone(timedelta(hours=2))),
        datetime(2024, 1, 31, 10, 0, tzinfo=UTC),
    ]
    # a datetime without a zone is UTC; an integer past 64 bits is a float
    assert parse_filter("x = 2024-01-31T10:00").root == Compare(
        Field("x"), "=", Literal(datetime(2024, 1, 31, 10, tzinfo=UTC))
    )
    assert parse_filter("x = 99999999999999999999").root == Compare(Field("x"), "=", Literal(1e20))


def test_names_bare_and_quoted() -> None:
    root = parse_filter("camera.model-2 = 1 and `my key` = 2 and `width` = 3 and `a``b` = 4").root
    assert isinstance(root, And)
    assert [c.field for c in root.operands if isinstance(c, Compare)] == [
        Field("camera.model-2"),
        Field("my key", quoted=True),
        Field("width", quoted=True),
        Field("a`b", quoted=True),
    ]
    assert to_text(root) == "camera.model-2 = 1 and `my key` = 2 and `width` = 3 and `a``b` = 4"
    assert parse_field("`and`") == Field("and", quoted=True)
    assert parse_field(" frames ") == Field("frames")


IN_HINT = "(a key named 'in' is written `in`)"


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("weather = ", 'expected a value after "=", found the end of the filter', 11),
        ('weather = "sunny" and', "expected a field name at the start of a condition, found the end of the filter", 22),
        ("frames > 10px", "'10px' is not a number", 10),
        ("frames >> 1", 'expected a value after ">", found ">"', 9),
        ("frames == 1", 'expected a value after "=", found "="', 9),
        (
            "frames 1",
            'expected an operator (=, !=, <, <=, >, >=, in, not in, like or not like) after frames, found "1"',
            8,
        ),
        ('site = "Oran', "unterminated string", 8),
        ('site = "a\\qb"', 'unknown escape in a string (use \\" \\\\ \\n \\t or \\uXXXX)', 10),
        ('site = "\\ud800"', "a string holds a lone surrogate (\\ud800-\\udfff)", 8),
        ("site = Oran", 'expected a value after "=", found "Oran" (strings are in "double quotes")', 8),
        ("(a = 1", 'unclosed "(" (no ")" after it)', 1),
        ("a = 1)", 'unexpected ")" (no "(" before it)', 6),
        ("a in ()", "an in list needs at least one value", 7),
        ("a in (1 2)", 'expected "," or ")" in the in list, found "2"', 9),
        ("a like 5", 'like needs a "quoted pattern", found number 5', 8),
        ("exists frames", 'expected "(" after exists, found "frames"', 8),
        ("d = 2024-02-30", "2024-02-30 is not a valid date (day is out of range for month)", 5),
        ("d = 2024-01-01T10:00+24:00", "2024-01-01T10:00+24:00 is not a valid date (an offset is at most ±23:59)", 5),
        ("a = 1 # b", 'unexpected character "#"', 7),
        ("()", 'empty parentheses: expected a condition after "("', 2),
        ("in = 1", f"expected a field name at the start of a condition, found the keyword 'in' {IN_HINT}", 1),
        ("``", "an empty `quoted name`", 1),
        ("   ", "the filter is empty", 1),
        ("x = 1e999", "1e999 is out of the range of a 64-bit float", 5),
    ],
)
def test_errors_say_what_and_where(text: str, message: str, column: int) -> None:
    with pytest.raises(FilterError) as caught:
        parse_filter(text)
    assert caught.value.reason == message
    assert caught.value.column == column
    assert caught.value.message == f"where: {message} at column {column}"
    line, caret = caught.value.excerpt.split("\n")
    assert line == text
    assert caret == " " * (column - 1) + "^"


def test_hostile_input_is_bounded() -> None:
    deep = "(" * 10_000 + "a = 1" + ")" * 10_000
    with pytest.raises(FilterError, match="more than 8,192"):
        parse_filter(deep)
    nested = "(" * (MAX_DEPTH + 1) + "a = 1" + ")" * (MAX_DEPTH + 1)
    with pytest.raises(FilterError) as caught:
        parse_filter(nested)
    assert caught.value.column == MAX_DEPTH + 1
    assert caught.value.reason == f'more than {MAX_DEPTH} nested "(" or "not"'
    with pytest.raises(FilterError, match="nested"):
        parse_filter("not " * 1000 + "a = 1")
    with pytest.raises(FilterError, match=f"more than {MAX_TERMS} conditions"):
        parse_filter(" or ".join(f"a = {n}" for n in range(MAX_TERMS + 1)))
    with pytest.raises(FilterError, match="more than 1000 values"):
        parse_filter("a in (" + ", ".join("1" for _ in range(1001)) + ")")
    assert len("a" * (MAX_LENGTH - 4) + " = 1") == MAX_LENGTH
    parse_filter("a" * (MAX_LENGTH - 4) + " = 1")
    with pytest.raises(FilterError, match="not valid Unicode"):
        parse_filter("a = 1 and b\udcff = 2")


def test_deepest_allowed_filter_compiles() -> None:
    text = "not (a = 1 or " * (MAX_DEPTH // 2) + "b = 2" + ")" * (MAX_DEPTH // 2)
    source = parse_filter(text)
    for dialect in ("sqlite", "postgresql"):
        condition = compile_filter(source, dialect=dialect, schema=SCHEMA)
        assert str(condition.compile())


# Errors that need the schema: a typed key compared with a value of another type


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ('frames > "many"', 'frames (number) compares with a number, not string "many"', 10),
        ("site = 1", 'site (varchar) compares with a "string", not number 1', 8),
        ("reviewed > true", "reviewed (boolean) is a boolean: compare it with = or !=", 1),
        ("reviewed = 1", "reviewed (boolean) compares with true or false, not number 1", 12),
        (
            'captured_at >= "yesterday"',
            'captured_at (datetime) compares with a date or date-time, not string "yesterday"',
            16,
        ),
        ('weather in ("sunny", "snowy")', 'weather (enum): "snowy" is not one of its values ("sunny", "rainy")', 22),
        ('frames like "1%"', "like needs a text field; frames (number) is not one", 1),
        ('width like "1%"', "like needs a text field; width (number) is not one", 1),
        ("clip = 1", "clip is embedding: only scalar and enum keys compare and sort", 1),
        ('loose in (1, "a")', "the values for loose mix number and string values: use one kind", 11),
        ('name like "100\\\\"', 'in a like pattern a backslash escapes only %, _ or itself ("100\\\\%")', 11),
        ("createdAt > 5", "createdAt (datetime) compares with a date or date-time, not number 5", 13),
    ],
)
def test_type_errors_name_the_key_and_its_type(text: str, message: str, column: int) -> None:
    for dialect in ("sqlite", "postgresql"):
        with pytest.raises(FilterError) as caught:
            compile_filter(parse_filter(text), dialect=dialect, schema=SCHEMA)
        assert (caught.value.reason, caught.value.column) == (message, column)


def test_values_are_bound_never_written_into_the_statement() -> None:
    sneaky = "x'); DROP TABLE items; --"
    source = parse_filter(f'site = "{sneaky}" and `a b` in ("{sneaky}") and name like "%{sneaky}"')
    for dialect in ("sqlite", "postgresql"):
        condition = compile_filter(source, dialect=dialect, schema=SCHEMA)
        assert sneaky not in str(condition.compile())
