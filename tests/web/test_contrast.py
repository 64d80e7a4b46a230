"""Every coloured badge and box the pages use reads at WCAG AA (4.5:1 for text): the colours of
app.css, Bootstrap's variables resolved from the vendored bootstrap.min.css. Lighthouse's
colour-contrast audit caught a failure here once; this catches that class without a browser."""
from __future__ import annotations

import re
from functools import cache

import pytest

from config import PROJECT_DIR

STATIC = PROJECT_DIR / "static"
AA_TEXT = 4.5
RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
HEX = re.compile(r"#([0-9a-fA-F]{6}|[0-9a-fA-F]{3})\b")


@cache
def bootstrap_variables() -> dict[str, str]:
    """Bootstrap's light-theme custom properties (--bs-*), from its :root rule."""
    css = re.sub(r"/\*.*?\*/", "", (STATIC / "vendor" / "bootstrap.min.css").read_text(),
                 flags=re.S)
    root = next(body for selector, body in RULE.findall(css)
                if ":root" in selector and "--bs-success:" in body)
    return dict(re.findall(r"(--bs-[\w-]+):\s*([^;]+)", root))


def colour(value: str) -> tuple[float, float, float]:
    """An sRGB triple (0–1) of a hex colour or a var(--bs-…) naming one."""
    value = value.strip()
    while value.startswith("var("):
        value = bootstrap_variables()[value[4:].split(")")[0].split(",")[0].strip()]
    hexa = HEX.search(value).group(1)
    if len(hexa) == 3:
        hexa = "".join(c * 2 for c in hexa)
    return tuple(int(hexa[i:i + 2], 16) / 255 for i in (0, 2, 4))


def luminance(rgb: tuple[float, float, float]) -> float:
    """WCAG relative luminance."""
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(text: str, background: str) -> float:
    """WCAG contrast ratio of `text` on `background`."""
    light, dark = sorted((luminance(colour(text)), luminance(colour(background))), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def badge_rules() -> list[tuple[str, str, str]]:
    """(selector, text colour, background) of every badge app.css colours; a badge without its
    own colour has Bootstrap's white text."""
    css = re.sub(r"/\*.*?\*/", "", (STATIC / "app.css").read_text(), flags=re.S)
    found = []
    for selector, body in RULE.findall(css):
        declarations = dict(re.findall(r"([\w-]+)\s*:\s*([^;]+)", body))
        background = declarations.get("background") or declarations.get("background-color")
        if background and (".badge" in selector or ".log-level" in selector):
            found.append((selector.strip(), declarations.get("color", "#fff"), background))
    return found


def test_the_checker_knows_a_failing_pair():
    assert contrast("#fff", "#ffc107") < AA_TEXT < contrast("#000", "#ffc107")
    assert round(contrast("#fff", "#6c757d"), 2) == 4.69


def test_app_css_colours_badges():
    selectors = [selector for selector, _, _ in badge_rules()]
    for needed in ("outcome-filled", "outcome-partial", "outcome-rejected", "outcome-unfilled",
                   "status-warning", "status-succeeded"):
        assert any(needed in selector for selector in selectors), needed


@pytest.mark.parametrize(("selector", "text", "background"), badge_rules(),
                         ids=[rule[0] for rule in badge_rules()])
def test_every_badge_reads_at_wcag_aa(selector, text, background):
    assert contrast(text, background) >= AA_TEXT, (selector, text, background)


ALERTS = ("light", "warning", "info", "success", "danger", "secondary", "primary")


def alert_link_colour() -> str:
    """The colour app.css gives a link inside an alert (Bootstrap's link blue without one)."""
    css = re.sub(r"/\*.*?\*/", "", (STATIC / "app.css").read_text(), flags=re.S)
    rule = next((body for selector, body in RULE.findall(css)
                 if selector.strip().startswith(".alert a")), "")
    found = re.search(r"(?<![\w-])color\s*:\s*([^;]+)", rule)
    return found.group(1) if found else "var(--bs-link-color)"


def test_bootstraps_link_blue_fails_on_a_light_alert():
    """The failure Lighthouse found on Trading and the dashboard ("No open positions … open
    Strategy" in an alert-light box): 4.39:1."""
    assert contrast("var(--bs-link-color)", "var(--bs-light-bg-subtle)") < AA_TEXT


@pytest.mark.parametrize("variant", ALERTS)
def test_a_link_in_any_alert_reads_at_wcag_aa(variant):
    background = f"var(--bs-{variant}-bg-subtle)"
    assert contrast(alert_link_colour(), background) >= AA_TEXT, (variant, alert_link_colour())


CARD_HEADER = "#f8f8f9"  # Bootstrap's card-cap tint (3 % of the body colour) over white


def sign_colour(kind: str) -> str:
    """The colour of a gain or a loss (text-success, text-danger): app.css's --bs-<kind>-rgb on
    the class, else Bootstrap's."""
    css = re.sub(r"/\*.*?\*/", "", (STATIC / "app.css").read_text(), flags=re.S)
    found = re.search(rf"\.text-{kind}\s*{{[^}}]*--bs-{kind}-rgb:\s*([\d\s,]+);", css)
    if not found:
        return f"var(--bs-{kind})"
    return "#" + "".join(f"{int(part):02x}" for part in found.group(1).split(","))


@pytest.mark.parametrize("kind", ["success", "danger"])
def test_gains_and_losses_read_at_wcag_aa_on_a_card_header(kind):
    """The dashboard's day headers ("Realized ₹…"): Bootstrap's own colours read 4.26:1 there."""
    assert contrast(f"var(--bs-{kind})", CARD_HEADER) < AA_TEXT
    assert contrast(sign_colour(kind), CARD_HEADER) >= AA_TEXT
    assert contrast(sign_colour(kind), "var(--bs-light-bg-subtle)") >= AA_TEXT


def test_every_badge_class_a_template_uses_is_coloured_in_app_css():
    """A status or outcome class with no colour of its own would fall back to Bootstrap's
    default badge: light text on whatever is behind it."""
    import order_outcomes

    used = {order_outcomes.badge(status) for status in (
        "traded", "partial", "unfilled", "expired", "rejected", "cancelled", "cancelled_at_broker",
        "not_placed",
        "unknown", "pending", "placed", None)}
    used |= {f"status-{status}" for status in ("running", "succeeded", "warning", "failed",
                                               "skipped")}
    coloured = " ".join(selector for selector, _, _ in badge_rules())
    assert not [name for name in used if f".{name}" not in coloured]
