"""A small, safe expression language for rules over named numbers — never Python ``eval``.

The vehicle's trigger rules and the cloud's annotation routing rules are written in it.

Grammar (lowest precedence first)::

    expr       := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | comparison
    comparison := sum (("<" | "<=" | ">" | ">=" | "==" | "!=") sum)*     # chained like Python
    sum        := term (("+" | "-") term)*
    term       := unary (("*" | "/") unary)*
    unary      := "-" unary | atom
    atom       := NUMBER | "true" | "false" | NAME | NAME "(" [expr ("," expr)*] ")" | "(" expr ")"

Names are dotted identifiers (``min_confidence.pedestrian``). Values are floats; booleans are 1.0 and
0.0 and any non-zero value is true, so ``count.cyclist and speed > 3`` works. Division by zero yields
``inf`` / ``nan`` rather than an exception: a rule over a strange frame must not stop the agent.
Errors carry the 1-based column of the offending token.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from core.errors import ExpressionError

__all__ = [
    "FUNCTIONS",
    "Expression",
    "ExpressionError",
    "evaluate",
    "names_in",
    "parse",
    "tokenize",
]

#: Functions callable from an expression, with their allowed argument counts (min, max or None).
FUNCTIONS: dict[str, tuple[Callable[..., float], int, int | None]] = {
    "max": (lambda *a: float(max(a)), 1, None),
    "min": (lambda *a: float(min(a)), 1, None),
    "abs": (lambda a: float(abs(a)), 1, 1),
    "sqrt": (lambda a: math.sqrt(a) if a >= 0 else math.nan, 1, 1),
}

KEYWORDS = frozenset({"and", "or", "not", "true", "false"})
_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


@dataclass(frozen=True)
class Token:
    kind: str  # "num", "name", "op", "eof"
    text: str
    column: int  # 1-based


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens; raises ExpressionError at the first unexpected character."""
    tokens: list[Token] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        start = i
        if ch.isdigit() or (ch == "." and i + 1 < n and text[i + 1].isdigit()):
            while i < n and (text[i].isdigit() or text[i] == "."):
                i += 1
            if i < n and text[i] in "eE":
                j = i + 1
                if j < n and text[j] in "+-":
                    j += 1
                if j < n and text[j].isdigit():
                    i = j
                    while i < n and text[i].isdigit():
                        i += 1
            literal = text[start:i]
            try:
                float(literal)
            except ValueError:
                raise ExpressionError(f"malformed number {literal!r}", start + 1) from None
            tokens.append(Token("num", literal, start + 1))
        elif ch.isalpha() or ch == "_":
            while i < n and (text[i].isalnum() or text[i] in "_."):
                i += 1
            name = text[start:i]
            if name.endswith(".") or ".." in name:
                raise ExpressionError(f"malformed name {name!r}", start + 1)
            tokens.append(Token("name", name, start + 1))
        elif text.startswith(("<=", ">=", "==", "!="), i):
            tokens.append(Token("op", text[i : i + 2], start + 1))
            i += 2
        elif ch in "<>+-*/(),":
            tokens.append(Token("op", ch, start + 1))
            i += 1
        else:
            raise ExpressionError(f"unexpected character {ch!r}", start + 1)
    tokens.append(Token("eof", "", n + 1))
    return tokens


# --- AST -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Num:
    value: float
    column: int


@dataclass(frozen=True)
class Name:
    name: str
    column: int


@dataclass(frozen=True)
class Unary:
    op: str  # "-" or "not"
    operand: Node
    column: int


@dataclass(frozen=True)
class Binary:
    op: str  # + - * / and or
    left: Node
    right: Node
    column: int


@dataclass(frozen=True)
class Compare:
    first: Node
    rest: tuple[tuple[str, Node], ...]
    column: int


@dataclass(frozen=True)
class Call:
    function: str
    args: tuple[Node, ...]
    column: int


Node = Num | Name | Unary | Binary | Compare | Call


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.pos = 0

    def peek(self) -> Token:
        return self.tokens[self.pos]

    def take(self) -> Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def accept(self, kind: str, text: str) -> Token | None:
        token = self.peek()
        if token.kind == kind and token.text == text:
            self.pos += 1
            return token
        return None

    def expect(self, text: str) -> Token:
        token = self.peek()
        if token.kind == "op" and token.text == text:
            self.pos += 1
            return token
        found = "end of expression" if token.kind == "eof" else repr(token.text)
        raise ExpressionError(f"expected {text!r}, found {found}", token.column)

    def parse(self) -> Node:
        node = self.or_expr()
        token = self.peek()
        if token.kind != "eof":
            raise ExpressionError(f"unexpected {token.text!r}", token.column)
        return node

    def or_expr(self) -> Node:
        node = self.and_expr()
        while (token := self.accept("name", "or")) is not None:
            node = Binary("or", node, self.and_expr(), token.column)
        return node

    def and_expr(self) -> Node:
        node = self.not_expr()
        while (token := self.accept("name", "and")) is not None:
            node = Binary("and", node, self.not_expr(), token.column)
        return node

    def not_expr(self) -> Node:
        token = self.accept("name", "not")
        if token is not None:
            return Unary("not", self.not_expr(), token.column)
        return self.comparison()

    def comparison(self) -> Node:
        first = self.sum()
        rest: list[tuple[str, Node]] = []
        column = self.peek().column
        while self.peek().kind == "op" and self.peek().text in _COMPARISONS:
            op = self.take().text
            rest.append((op, self.sum()))
        return Compare(first, tuple(rest), column) if rest else first

    def sum(self) -> Node:
        node = self.term()
        while self.peek().kind == "op" and self.peek().text in "+-":
            token = self.take()
            node = Binary(token.text, node, self.term(), token.column)
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.peek().kind == "op" and self.peek().text in "*/":
            token = self.take()
            node = Binary(token.text, node, self.unary(), token.column)
        return node

    def unary(self) -> Node:
        token = self.accept("op", "-")
        if token is not None:
            return Unary("-", self.unary(), token.column)
        return self.atom()

    def atom(self) -> Node:
        token = self.take()
        if token.kind == "num":
            return Num(float(token.text), token.column)
        if token.kind == "op" and token.text == "(":
            node = self.or_expr()
            self.expect(")")
            return node
        if token.kind == "name":
            if token.text == "true":
                return Num(1.0, token.column)
            if token.text == "false":
                return Num(0.0, token.column)
            if token.text in KEYWORDS:
                raise ExpressionError(f"unexpected keyword {token.text!r}", token.column)
            if self.accept("op", "(") is not None:
                return self.call(token)
            return Name(token.text, token.column)
        found = "end of expression" if token.kind == "eof" else repr(token.text)
        raise ExpressionError(f"expected a value, found {found}", token.column)

    def call(self, name: Token) -> Node:
        if name.text not in FUNCTIONS:
            known = ", ".join(sorted(FUNCTIONS))
            raise ExpressionError(f"unknown function {name.text!r} (known: {known})", name.column)
        args: list[Node] = []
        if self.accept("op", ")") is None:
            args.append(self.or_expr())
            while self.accept("op", ",") is not None:
                args.append(self.or_expr())
            self.expect(")")
        _, low, high = FUNCTIONS[name.text]
        if len(args) < low or (high is not None and len(args) > high):
            expected = f"{low}" if high == low else f"at least {low}"
            raise ExpressionError(
                f"{name.text}() takes {expected} argument(s), got {len(args)}", name.column
            )
        return Call(name.text, tuple(args), name.column)


def parse(text: str) -> Node:
    """Parse ``text`` into an AST; raises ExpressionError with the column of the first error."""
    return _Parser(text).parse()


def names_in(node: Node) -> list[Name]:
    """Every signal reference in ``node``, in source order."""
    match node:
        case Num():
            return []
        case Name():
            return [node]
        case Unary():
            return names_in(node.operand)
        case Binary():
            return names_in(node.left) + names_in(node.right)
        case Compare():
            out = names_in(node.first)
            for _, operand in node.rest:
                out += names_in(operand)
            return out
        case Call():
            return [n for arg in node.args for n in names_in(arg)]


def evaluate(node: Node, signals: Mapping[str, float]) -> float:
    """Evaluate ``node`` over ``signals``; booleans come back as 1.0 / 0.0.

    A name missing from ``signals`` evaluates to NaN (every comparison with NaN is false), so a
    signal that a source omits for one frame cannot fire a rule by accident.
    """
    match node:
        case Num():
            return node.value
        case Name():
            return float(signals.get(node.name, math.nan))
        case Unary():
            value = evaluate(node.operand, signals)
            if node.op == "-":
                return -value
            return 0.0 if _truthy(value) else 1.0
        case Binary():
            return _binary(node, signals)
        case Compare():
            left = evaluate(node.first, signals)
            for op, operand in node.rest:
                right = evaluate(operand, signals)
                if not _COMPARISONS[op](left, right):
                    return 0.0
                left = right
            return 1.0
        case Call():
            function = FUNCTIONS[node.function][0]
            return function(*(evaluate(arg, signals) for arg in node.args))


def _truthy(value: float) -> bool:
    return value != 0.0 and not math.isnan(value)


def _binary(node: Binary, signals: Mapping[str, float]) -> float:
    left = evaluate(node.left, signals)
    # and/or short-circuit like Python, but always return a truth value
    if node.op == "and":
        return 1.0 if _truthy(left) and _truthy(evaluate(node.right, signals)) else 0.0
    if node.op == "or":
        return 1.0 if _truthy(left) or _truthy(evaluate(node.right, signals)) else 0.0
    right = evaluate(node.right, signals)
    if node.op == "+":
        return left + right
    if node.op == "-":
        return left - right
    if node.op == "*":
        return left * right
    if right == 0.0:
        return math.nan if left == 0.0 or math.isnan(left) else math.copysign(math.inf, left)
    return left / right


@dataclass(frozen=True)
class Expression:
    """A parsed, validated expression; ``__call__`` returns whether it holds for the signals."""

    text: str
    tree: Node

    @classmethod
    def compile(cls, text: str, known_signals: frozenset[str] | set[str]) -> Expression:
        """Parse ``text`` and refuse names not in ``known_signals`` (ExpressionError with column)."""
        tree = parse(text)
        for ref in names_in(tree):
            if ref.name not in known_signals:
                hint = _closest(ref.name, known_signals)
                suffix = f" (did you mean {hint!r}?)" if hint else ""
                raise ExpressionError(f"unknown signal {ref.name!r}{suffix}", ref.column)
        return cls(text, tree)

    def value(self, signals: Mapping[str, float]) -> float:
        return evaluate(self.tree, signals)

    def __call__(self, signals: Mapping[str, float]) -> bool:
        return _truthy(self.value(signals))


def _closest(name: str, candidates: frozenset[str] | set[str]) -> str | None:
    import difflib

    matches = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.8)
    return matches[0] if matches else None
