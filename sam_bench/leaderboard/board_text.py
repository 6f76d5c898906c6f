"""Text a board shows, written as text in every format it goes in.

A row's name, description, authors, venue and architecture, a retired row's note and the device a results file
names come from files anyone can edit (a zoo entry, `zoo import --description`, a results file). Written raw into
markdown, `<img src=x onerror=...>` or `<script>` in a name would be HTML on the board (GitHub and most markdown
renderers show inline HTML), `[x](javascript:...)` a link, and `|` or a line break would cut the table. So:

  - markdown (`markdown`: every board's table, a README's copy of them, `submit`'s issue):
    `&`, `<` and `>` as HTML entities, `\\` and `|` escaped, `](` broken so that no text becomes a link or an
    image, line breaks as spaces; the text reads the same where nothing was to escape;
  - HTML (the boards' pages): every value through jinja's autoescape (sam_bench/leaderboard/templates), attributes
    included;
  - plots: a point's label is its rank and its legend the method table's names, never text from a file.
"""

from __future__ import annotations


def markdown(text) -> str:
    """`text` as markdown that shows it as it is, within a table cell or a line of a list."""
    text = " ".join(str(text).splitlines())
    for raw, escaped in (("\\", "\\\\"), ("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("|", "\\|"), ("](", "]\\(")):
        text = text.replace(raw, escaped)
    return text


def page_template(name: str):
    """A board page's jinja template (sam_bench/leaderboard/templates), every value autoescaped."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    loader = PackageLoader("sam_bench.leaderboard", "templates")
    return Environment(loader=loader, autoescape=select_autoescape(["html", "j2"])).get_template(name)
