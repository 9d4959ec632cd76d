"""The own-theme validator: a hostile corpus refused, the built-in themes accepted and
round-tripping, and a property test over generated sheets."""
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backoffice import ROOT
from backoffice.plugin_builder.css import MAX_CSS_BYTES, validate_css

HOSTILE = {
    "import": '@import "https://evil.example/x.css";\na { color: red }',
    "import_url": "@import url(https://evil.example/x.css);",
    "import_upper": '@IMPORT "x.css";',
    "font_face": "@font-face { font-family: x; src: url(https://evil.example/f.woff) }",
    "namespace": "@namespace svg url(http://www.w3.org/2000/svg);",
    "charset": '@charset "utf-8";\na { color: red }',
    "page": "@page { margin: 0 }",
    "supports": "@supports (display: grid) { a { color: red } }",
    "url_value": "a { background: url(https://evil.example/track.gif) }",
    "url_quoted": "a { background-image: url('https://evil.example/x') }",
    "url_upper": "a { background: URL(https://evil.example/x) }",
    "url_in_custom_property": ":root { --bg: url(https://evil.example/x) }",
    "url_in_selector": 'a[href=url(x)] { color: red }',
    "url_function_in_selector": "a:not(url(x)) { color: red }",
    "escaped_url": r"a { background: \75 rl(https://evil.example/x) }",
    "escaped_url_2": r"a { background: u\72 l(x) }",
    "escaped_ident": r"a { color: \72 ed }",
    "image_set": "a { background-image: image-set('x.png' 1x) }",
    "attr": "a::after { width: attr(data-x) }",
    "var_no_custom": "a { color: var(color) }",
    "expression": "a { width: expression(alert(1)) }",
    "expression_ident": "a { width: expression }",
    "behavior": "a { behavior: url(x.htc) }",
    "behavior_no_url": "a { behavior: foo }",
    "moz_binding": "a { -moz-binding: url(x.xml#xss) }",
    "javascript": "a { background: javascript:alert(1) }",
    "javascript_in_string": 'a { font-family: "javascript:alert(1)" }',
    "style_close_string": 'a { font-family: "</style><script>alert(1)</script>" }',
    "style_close_selector": "</style><script>alert(1)</script> { color: red }",
    "lt_anywhere": "a { width: calc(1px < 2px) }",
    "nul": "a { color: red\x00 }",
    "control_char": "a { color: \x01red }",
    "c1_control": "a { color: red\x85 }",
    "oversize": "a { color: red }\n" * (MAX_CSS_BYTES // 17 + 10),
    "unknown_property": "a { content: 'x' }",
    "position_fixed_overlay_ok_but_filter": "a { filter: url(#x) }",
    "string_in_value": "a { color: 'red' }",
    "curly_in_value": "a { --x: { color: red } }",
    "hash_not_colour": "a { color: #zzzzzz }",
    "bad_unit": "a { width: 1q }",
    "semicolon_at_top": "; a { color: red }",
    "unclosed_comment_trick": "a { color: red } /* */ @import 'x';",
    "nested_media_import": "@media screen { @import 'x'; }",
    "media_with_url": "@media (min-width: url(x)) { a { color: red } }",
    "keyframes_bad_step": "@keyframes k { url(x) { opacity: 0 } }",
    "pseudo_not_allowed": "a:-moz-any(b) { color: red }",
    "attribute_with_url_string": 'a[href="javascript:alert(1)"] { color: red }',
    "vbscript": "a { background: vbscript }",
    "data_uri_string": 'a { font-family: "data:text/html,x" }',
    "function_unknown": "a { color: env(safe-area-inset-top) }",
    "element": "a { background: element(#x) }",
    "invalid_utf8": b"a { color: red \xff }",
    "deep_nesting": "a { width: " + "calc(" * 5000 + "1px" + ")" * 5000 + " }",
    "bidi_override_in_string": 'a { font-family: "x\u202ey" }',
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_corpus_is_refused(name):
    result = validate_css(HOSTILE[name])
    assert not result.ok and result.css is None, name
    for problem in result.errors:
        assert problem.line >= 1 and problem.column >= 1 and str(problem.reason)


def test_the_corpus_is_large_enough():
    assert len(HOSTILE) >= 30


def test_problems_name_line_column_and_reason():
    result = validate_css("a { color: red }\n\nb {\n  background: url(x);\n}\n@import 'y';")
    where = {(p.line, p.column) for p in result.errors}
    assert (4, 15) in where  # the url( token
    assert (6, 1) in where  # the at-rule
    assert any("url()" in str(p.reason) for p in result.errors)
    assert any("@import" in str(p.reason) for p in result.errors)
    assert validate_css("a {\n color: \\72 ed }").errors[0].line == 2


@pytest.mark.parametrize("theme", ["dark", "light", "white-green"])
def test_built_in_themes_are_accepted_and_round_trip(theme):
    with open(os.path.join(ROOT, "static", "themes", theme + ".css"), encoding="utf-8") as fh:
        source = fh.read()
    first = validate_css(source)
    assert first.ok, first.errors
    assert "--bo-accent" in first.css and "/*" not in first.css  # comments are not carried over
    second = validate_css(first.css)
    assert second.ok and second.css == first.css


def test_a_realistic_theme_keeps_its_meaning():
    source = """
    :root { --bo-accent: #0a7; --gap: calc(2 * 4px) }
    .bo-ps:hover, .bo-ps:focus-within > input { border-color: var(--bo-accent) !important; }
    li:nth-child(2n+1) { background: linear-gradient(to right, #fff 0%, rgba(0, 0, 0, .1) 100%); }
    @media (max-width: 360px) { .bo { padding: 4px } }
    @keyframes pulse { from { opacity: 1 } 50% { opacity: .5 } to { opacity: 1 } }
    .bo-submit { animation: pulse 2s infinite; font-family: "Segoe UI", sans-serif }
    """
    result = validate_css(source)
    assert result.ok, result.errors
    for piece in ("border-color: var(--bo-accent) !important;", "li:nth-child(2n+1)", "@media (max-width: 360px)",
                  "@keyframes pulse", '"Segoe UI"', "rgba(0, 0, 0, .1)"):
        assert piece in result.css


def test_stored_css_is_reserialised_not_copied():
    result = validate_css("a{color:red;/* hidden */;;background:blue}")
    assert result.ok
    assert result.css == "a {\n  color: red;\n  background: blue;\n}\n"


# -- property test ------------------------------------------------------------------------
PIECES = [
    "a", ".x", "#y", ":root", " ", ",", ">", "{", "}", ";", ":", "color", "background", "url(", ")", "(", "<",
    "\\", "75", "expression", "@import", "@media", "@keyframes", "'", '"', "/*", "*/", "-", "--x", "var(", "red",
    "#fff", "1px", "%", "!important", "javascript", "\n", "\x00", "e", "x", "p", "r", "s", "i", "o", "n", "u",
    "l", "@", "im", "port", "calc(", "attr(", "image-set(", "behavior", "-moz-binding", "&", "\u2028",
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(PIECES), max_size=60).map("".join) | st.text(max_size=200))
def test_no_accepted_output_carries_anything_dangerous(source):
    result = validate_css(source)
    if result.css is None:
        return
    lowered = result.css.lower()
    for bad in ("url(", "<", "\\", "expression", "@import"):
        assert bad not in lowered, (source, result.css)
    # and what we store is itself accepted, unchanged
    again = validate_css(result.css)
    assert again.ok and again.css == result.css


def test_logical_properties_are_allowed_so_an_own_theme_can_mirror_for_urdu():
    source = (".bo-result { border-inline-start: 4px solid #b3261e; padding-inline: 12px 8px; }\n"
              ".bo-ps-min { margin-inline-start: 30px; inset-inline-end: 0; max-inline-size: 20rem; }")
    result = validate_css(source)
    assert not result.errors and "border-inline-start" in result.css and "margin-inline-start" in result.css
