"""A merchant's own plugin theme: an allowlist validator for uploaded CSS (SPEC §5).

Modelled on reddit's old ``cssfilter.py``: parse the sheet (tinycss2), walk every
rule, selector, declaration and value token, and accept only what is on a list —
never the other way round. Everything not named below is refused with its line,
column and reason. The stored sheet is re-serialised from the accepted tokens, never
copied from the upload, so comments and anything the parser skipped are gone.

Refused whatever the rest says: ``@import``, ``@font-face``, ``@namespace``,
``@charset`` and every at-rule but ``@media`` and ``@keyframes``; ``url()``,
``image-set()``, ``attr()`` and every function not on the list (``var()`` only names a
custom property, and custom properties are checked like any value, so none can carry
a URL); ``expression``, ``behavior``, ``-moz-binding``, ``javascript:``; any backslash
(escapes could spell any of these); control characters; ``<`` anywhere (nothing may
close the style element); files over 64 KiB.

``validate_css(text)`` returns a ``CssResult`` (``css``: the clean sheet or None,
``errors``: a list of ``CssProblem``). Plain function: the upload form, the merchant
API and the tests call it.
"""
import hashlib
import re
from dataclasses import dataclass, field

import tinycss2
from flask_babel import gettext as _
from tinycss2 import ast

MAX_CSS_BYTES = 64 * 1024
MAX_ERRORS = 50

ALLOWED_AT_RULES = {"media", "keyframes"}

# Properties a plugin theme may set. Layout, box, colour, type, motion.
ALLOWED_PROPERTIES = frozenset("""
accent-color align-content align-items align-self animation animation-delay animation-direction
animation-duration animation-fill-mode animation-iteration-count animation-name animation-play-state
animation-timing-function appearance aspect-ratio background background-color background-image
background-position background-repeat background-size border border-bottom border-bottom-color
border-bottom-left-radius border-bottom-right-radius border-bottom-style border-bottom-width border-collapse
border-color border-left border-left-color border-left-style border-left-width border-radius border-right
border-right-color border-right-style border-right-width border-spacing border-style border-top
border-top-color border-top-left-radius border-top-right-radius border-top-style border-top-width
border-width bottom box-shadow box-sizing caret-color clear color column-gap cursor display flex flex-basis
flex-direction flex-flow flex-grow flex-shrink flex-wrap float font font-family font-size font-style
font-variant font-weight gap grid-area grid-column grid-row grid-template-columns grid-template-rows height
inset justify-content justify-items justify-self left letter-spacing line-height list-style list-style-type
margin margin-bottom margin-left margin-right margin-top max-height max-width min-height min-width
object-fit opacity order outline outline-color outline-offset outline-style outline-width overflow
overflow-wrap overflow-x overflow-y padding padding-bottom padding-left padding-right padding-top
place-content place-items pointer-events position right row-gap text-align text-decoration
text-decoration-color text-decoration-line text-decoration-style text-overflow text-shadow text-transform
top transform transform-origin transition transition-delay transition-duration transition-property
transition-timing-function user-select vertical-align visibility white-space width word-break word-spacing
z-index
""".split()) | frozenset("""
margin-inline margin-inline-start margin-inline-end margin-block margin-block-start margin-block-end
padding-inline padding-inline-start padding-inline-end padding-block padding-block-start padding-block-end
border-inline border-inline-start border-inline-end border-inline-color border-inline-style border-inline-width
border-inline-start-color border-inline-start-style border-inline-start-width border-inline-end-color
border-inline-end-style border-inline-end-width border-block border-block-start border-block-end
border-start-start-radius border-start-end-radius border-end-start-radius border-end-end-radius
inset-inline inset-inline-start inset-inline-end inset-block inset-block-start inset-block-end
inline-size block-size min-inline-size max-inline-size min-block-size max-block-size
""".split())  # the logical ones: an own theme mirrors for right-to-left languages (Urdu) as ours do

ALLOWED_FUNCTIONS = frozenset("""
rgb rgba hsl hsla hwb calc min max clamp var linear-gradient radial-gradient repeating-linear-gradient
repeating-radial-gradient translate translatex translatey scale scalex scaley rotate skew skewx skewy
matrix cubic-bezier steps minmax repeat
""".split())

ALLOWED_UNITS = frozenset("px em rem % vh vw vmin vmax ch ex pt s ms deg rad turn fr dpi dppx x".split())

# Pseudo-classes and pseudo-elements a selector may use; the functional ones take
# selectors (or an an+b formula) as arguments.
ALLOWED_PSEUDO = frozenset("""
hover focus focus-visible focus-within active disabled enabled checked first-child last-child only-child
first-of-type last-of-type only-of-type empty root before after placeholder selection invalid valid
required optional read-only link visited target marker
""".split())
SELECTOR_FUNCTIONS = frozenset("not is where nth-child nth-last-child nth-of-type nth-last-of-type".split())

# Words refused wherever they appear, with a reason naming them.
BANNED_WORDS = ("expression", "javascript", "behavior", "-moz-binding", "binding", "url", "image-set", "attr",
                "import", "vbscript", "data:")

STRING_PROPERTIES = frozenset({"font-family", "font"})
CUSTOM_PROPERTY = re.compile(r"^--[a-zA-Z0-9_-]{1,64}$")
HEX_COLOUR = re.compile(r"^(?:[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")
SAFE_STRING = re.compile(r"^[\w \-.,]{0,100}$")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
SELECTOR_LITERALS = {".", ",", ">", "+", "~", "*", ":"}
ATTRIBUTE_LITERALS = {"=", "~", "|", "^", "$", "*"}
VALUE_LITERALS = {",", "/", "+", "-", "*"}


@dataclass
class CssProblem:
    line: int
    column: int
    reason: str

    def as_json(self):
        return {"line": self.line, "column": self.column, "reason": str(self.reason)}


@dataclass
class CssResult:
    css: str = None
    errors: list = field(default_factory=list)

    @property
    def ok(self):
        return not self.errors and self.css is not None

    @property
    def digest(self):
        return hashlib.sha256(self.css.encode()).hexdigest() if self.css is not None else None


class _Stop(Exception):
    pass


def _position(text, index):
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


class _Checker:
    def __init__(self):
        self.errors = []

    def fail(self, node, reason, line=None, column=None):
        self.errors.append(CssProblem(line or getattr(node, "source_line", 1) or 1,
                                      column or getattr(node, "source_column", 1) or 1, reason))
        if len(self.errors) >= MAX_ERRORS:
            raise _Stop()
        return None

    # -- words ------------------------------------------------------------------------
    def banned(self, node, word):
        lowered = word.lower()
        for bad in BANNED_WORDS:
            if bad in lowered:
                return self.fail(node, _("“%(word)s” is not allowed.", word=bad))
        return word

    # -- values -----------------------------------------------------------------------
    def value(self, tokens, prop, depth=0):
        """The accepted tokens of a value (comments dropped), or None after a refusal."""
        out = []
        ok = True
        for token in tokens:
            kept = self.token(token, prop, depth)
            if kept is False:
                ok = False
            elif kept is not None:
                out.append(kept)
        return out if ok else None

    def token(self, token, prop, depth):
        kind = token.type
        if kind == "comment":
            return None
        if kind == "whitespace":
            return ast.WhitespaceToken(token.source_line, token.source_column, " ")
        if kind == "ident":
            if self.banned(token, token.value) is None:
                return False
            return token
        if kind in ("number", "percentage"):
            return token
        if kind == "dimension":
            if token.lower_unit not in ALLOWED_UNITS:
                self.fail(token, _("The unit “%(unit)s” is not allowed.", unit=token.unit))
                return False
            return token
        if kind == "hash":
            if not HEX_COLOUR.match(token.value):
                self.fail(token, _("Only hexadecimal colours may start with “#” in a value."))
                return False
            return token
        if kind == "string":
            if not (prop in STRING_PROPERTIES or prop.startswith("--")) or not SAFE_STRING.match(token.value):
                self.fail(token, _("Strings are allowed only as plain font names."))
                return False
            if self.banned(token, token.value) is None:
                return False
            return token
        if kind == "literal":
            if token.value not in VALUE_LITERALS:
                self.fail(token, _("The character “%(char)s” is not allowed in a value.", char=token.value))
                return False
            return token
        if kind == "url":
            self.fail(token, _("url() is not allowed: a theme may not load anything."))
            return False
        if kind == "function":
            return self.function(token, prop, depth)
        if kind == "() block" and depth < 8:
            inner = self.value(token.content, prop, depth + 1)
            if inner is None:
                return False
            return ast.ParenthesesBlock(token.source_line, token.source_column, inner)
        self.fail(token, _("This part of a value is not allowed (%(kind)s).", kind=kind))
        return False

    def function(self, token, prop, depth):
        name = token.lower_name
        if name not in ALLOWED_FUNCTIONS:
            if self.banned(token, name) is not None:
                self.fail(token, _("The function %(name)s() is not allowed.", name=token.name))
            return False
        if depth >= 8:
            self.fail(token, _("Functions are nested too deeply."))
            return False
        if name == "var":
            args = [t for t in token.arguments if t.type not in ("whitespace", "comment")]
            if not args or args[0].type != "ident" or not CUSTOM_PROPERTY.match(args[0].value):
                self.fail(token, _("var() must name a custom property (--name)."))
                return False
        inner = self.value(token.arguments, prop, depth + 1)
        if inner is None:
            return False
        return ast.FunctionBlock(token.source_line, token.source_column, token.name, inner)

    # -- declarations ---------------------------------------------------------------
    def declarations(self, content):
        out = []
        for item in tinycss2.parse_declaration_list(content, skip_comments=True, skip_whitespace=True):
            if item.type == "error":
                self.fail(item, _("This declaration cannot be parsed: %(message)s", message=item.message))
                continue
            if item.type != "declaration":
                self.fail(item, _("Only declarations (property: value) are allowed inside a rule."))
                continue
            name = item.lower_name
            if name.startswith("--"):
                if not CUSTOM_PROPERTY.match(item.name):
                    self.fail(item, _("This custom property name is not allowed."))
                    continue
            elif name not in ALLOWED_PROPERTIES:
                if self.banned(item, name) is not None:
                    self.fail(item, _("The property “%(name)s” is not allowed.", name=item.name))
                continue
            value = self.value(item.value, name)
            if value is None:
                continue
            text = tinycss2.serialize(value).strip()
            if not text:
                self.fail(item, _("The property “%(name)s” has no value.", name=item.name))
                continue
            out.append(f"{item.name}: {text}{' !important' if item.important else ''};")
        return out

    # -- selectors --------------------------------------------------------------------
    def selector(self, tokens, node, inside=False, depth=0):
        out = []
        previous = None
        for token in tokens:
            kind = token.type
            if kind == "comment":
                continue
            if kind == "whitespace":
                out.append(" ")
            elif kind == "ident":
                if self.banned(token, token.value) is None:
                    return None
                if previous == ":" and token.lower_value not in ALLOWED_PSEUDO:
                    self.fail(token, _("The pseudo-class “%(name)s” is not allowed.", name=token.value))
                    return None
                out.append(tinycss2.serialize([token]))
            elif kind == "hash":
                out.append(tinycss2.serialize([token]))
            elif kind == "literal" and token.value in SELECTOR_LITERALS:
                out.append(token.value)
            elif kind in ("number", "dimension") and inside:
                if kind == "dimension" and not re.fullmatch(r"n(-\d*)?", token.lower_unit):
                    self.fail(token, _("This selector part is not allowed."))
                    return None
                out.append(tinycss2.serialize([token]))
            elif kind == "literal" and inside and token.value in ("+", "-"):
                out.append(token.value)
            elif kind == "[] block":
                inner = self.attribute(token)
                if inner is None:
                    return None
                out.append("[" + inner + "]")
            elif kind == "function" and previous == ":" and token.lower_name in SELECTOR_FUNCTIONS and depth < 4:
                inner = self.selector(token.arguments, node, inside=True, depth=depth + 1)
                if inner is None:
                    return None
                out.append(token.name + "(" + inner + ")")
            else:
                if kind == "url" or (kind == "function" and self.banned(token, token.lower_name) is None):
                    if kind == "url":
                        self.fail(token, _("url() is not allowed: a theme may not load anything."))
                    return None
                self.fail(token, _("This selector part is not allowed (%(kind)s).", kind=kind))
                return None
            if kind != "whitespace":
                previous = token.value if kind == "literal" else kind
        text = re.sub(r" +", " ", "".join(out)).strip()
        if not text and not inside:
            self.fail(node, _("A rule needs a selector."))
            return None
        return text

    def attribute(self, block):
        out = []
        for token in block.content:
            if token.type in ("whitespace", "comment"):
                continue
            if token.type == "ident":
                if self.banned(token, token.value) is None:
                    return None
                out.append(tinycss2.serialize([token]))
            elif token.type == "literal" and token.value in ATTRIBUTE_LITERALS:
                out.append(token.value)
            elif token.type == "string" and SAFE_STRING.match(token.value):
                if self.banned(token, token.value) is None:
                    return None
                out.append('"' + token.value + '"')
            else:
                self.fail(token, _("This attribute selector is not allowed."))
                return None
        return "".join(out)

    # -- rules --------------------------------------------------------------------------
    def rules(self, nodes, allow_at=True):
        out = []
        for node in nodes:
            if node.type in ("whitespace", "comment"):
                continue
            if node.type == "error":
                self.fail(node, _("This part cannot be parsed: %(message)s", message=node.message))
            elif node.type == "at-rule":
                if allow_at:
                    text = self.at_rule(node)
                    if text:
                        out.append(text)
                else:
                    self.fail(node, _("@%(name)s is not allowed here.", name=node.at_keyword))
            elif node.type == "qualified-rule":
                text = self.qualified_rule(node)
                if text:
                    out.append(text)
            else:
                self.fail(node, _("This part of the sheet is not allowed."))
        return out

    def qualified_rule(self, node):
        selector = self.selector(node.prelude, node)
        body = self.declarations(node.content)
        if selector is None:
            return None
        return selector + " {\n" + "".join("  " + d + "\n" for d in body) + "}"

    def at_rule(self, node):
        name = node.lower_at_keyword
        if name not in ALLOWED_AT_RULES:
            return self.fail(node, _("@%(name)s is not allowed: only @media and @keyframes are.", name=node.at_keyword))
        if node.content is None:
            return self.fail(node, _("@%(name)s needs a block.", name=node.at_keyword))
        if name == "media":
            query = self.media_query(node.prelude, node)
            if query is None:
                return None
            inner = self.rules(tinycss2.parse_rule_list(node.content, skip_comments=True, skip_whitespace=True),
                               allow_at=False)
            return "@media " + query + " {\n" + "\n".join(inner) + "\n}"
        prelude = [t for t in node.prelude if t.type not in ("whitespace", "comment")]
        if len(prelude) != 1 or prelude[0].type != "ident" or self.banned(prelude[0], prelude[0].value) is None:
            return self.fail(node, _("@keyframes needs one plain name."))
        frames = []
        for rule in tinycss2.parse_rule_list(node.content, skip_comments=True, skip_whitespace=True):
            if rule.type != "qualified-rule":
                self.fail(rule, _("Only keyframe selectors (from, to, 50%) are allowed in @keyframes."))
                continue
            steps = [t for t in rule.prelude if t.type not in ("whitespace", "comment")]
            good = all(
                (t.type == "percentage") or (t.type == "ident" and t.lower_value in ("from", "to"))
                or (t.type == "literal" and t.value == ",") for t in steps
            ) and steps
            if not good:
                self.fail(rule, _("Only keyframe selectors (from, to, 50%) are allowed in @keyframes."))
                continue
            body = self.declarations(rule.content)
            frames.append(tinycss2.serialize(steps).replace(",", ", ") + " {\n"
                          + "".join("    " + d + "\n" for d in body) + "  }")
        return "@keyframes " + prelude[0].value + " {\n" + "".join("  " + f + "\n" for f in frames) + "}"

    def media_query(self, tokens, node):
        out = []
        for token in tokens:
            if token.type in ("whitespace", "comment"):
                out.append(" ")
            elif token.type == "ident" and token.lower_value in ("screen", "print", "all", "and", "not", "only",
                                                                 "or"):
                out.append(token.lower_value)
            elif token.type == "literal" and token.value == ",":
                out.append(",")
            elif token.type == "() block":
                inner = [t for t in token.content if t.type not in ("whitespace", "comment")]
                if not inner or inner[0].type != "ident" or not re.fullmatch(r"[a-z-]{1,40}", inner[0].lower_value):
                    return self.fail(token, _("This media query is not allowed."))
                if self.banned(inner[0], inner[0].value) is None:
                    return None
                parts = [inner[0].lower_value]
                if len(inner) > 1:
                    if inner[1].type != "literal" or inner[1].value != ":" or len(inner) > 5:
                        return self.fail(token, _("This media query is not allowed."))
                    value = self.value(inner[2:], "media")
                    if value is None:
                        return None
                    parts.append(": " + tinycss2.serialize(value))
                out.append("(" + "".join(parts) + ")")
            else:
                return self.fail(token, _("This media query is not allowed."))
        text = re.sub(r" +", " ", "".join(out)).strip()
        return text or self.fail(node, _("This media query is not allowed."))


def _raw_problems(text):
    """What is refused before parsing: characters no theme needs."""
    problems = []
    for pattern, reason in (
        (CONTROL, _("Control characters are not allowed.")),
        (re.compile(r"\\"), _("Backslash escapes are not allowed.")),
        (re.compile(r"<"), _("“<” is not allowed anywhere (it could close the style element).")),
    ):
        for match in pattern.finditer(text):
            line, column = _position(text, match.start())
            problems.append(CssProblem(line, column, reason))
            if len(problems) >= MAX_ERRORS:
                return problems
    return problems


def validate_css(source):
    """Check an uploaded sheet against the allowlist; return a ``CssResult``."""
    if isinstance(source, str):
        raw = source.encode("utf-8", "surrogatepass")
    else:
        raw = bytes(source or b"")
    if len(raw) > MAX_CSS_BYTES:
        return CssResult(errors=[CssProblem(1, 1, _("The file is over %(n)d KiB.", n=MAX_CSS_BYTES // 1024))])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _position(raw[:exc.start].decode("utf-8", "replace"), exc.start)
        return CssResult(errors=[CssProblem(line, column, _("The file is not UTF-8 text."))])
    if text.startswith("\ufeff"):
        text = text[1:]
    problems = _raw_problems(text)
    if problems:
        return CssResult(errors=problems)
    checker = _Checker()
    try:
        rules = checker.rules(tinycss2.parse_stylesheet(text, skip_comments=True, skip_whitespace=True))
    except _Stop:
        rules = []
    except RecursionError:
        return CssResult(errors=[CssProblem(1, 1, _("The sheet is nested too deeply."))])
    if checker.errors:
        return CssResult(errors=checker.errors)
    css = "\n\n".join(rules) + ("\n" if rules else "")
    # Belt and braces: what we write must pass the raw checks too.
    final = _raw_problems(css)
    if final or re.search(r"url\(|expression|@import", css, re.IGNORECASE):
        return CssResult(errors=final or [CssProblem(1, 1, _("The sheet could not be made safe."))])
    return CssResult(css=css)


def problems_json(result):
    return [p.as_json() for p in result.errors]
