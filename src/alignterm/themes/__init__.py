"""Colours of the shift categories (the app theme files come with the themes feature)."""

# The URIAL paper's web view: unshifted blue, marginal amber, shifted red.
DEFAULT_PALETTE = {
    "unshifted": "#5b9bf0",
    "marginal": "#e8a33d",
    "shifted": "#e5534b",
}
