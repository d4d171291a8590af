"""Math as MathML, written at build time: a Sphinx HTML math renderer, `html_math_renderer =
"mathml"`.

Sphinx's default renderer leaves the LaTeX in the page for MathJax to typeset in the reader's
browser, from a CDN: a request the offline build cannot check and an offline reader cannot
make. Here docutils' own LaTeX-to-MathML converter (docutils ships with Sphinx) writes each
formula as MathML, which every current browser draws natively: no script, no web font, and
LaTeX it cannot read is a build warning, so an error with -W, not red text in a page.
"""

from __future__ import annotations

import html
import inspect
from typing import Any

from docutils import nodes
from docutils.utils.math import MathError
from docutils.utils.math.latex2mathml import tex2mathml
from sphinx.util import logging
from sphinx.util.math import get_node_equation_number

logger = logging.getLogger(__name__)


def mathml(node: nodes.Element, as_block: bool) -> str:
    try:
        if "as_block" in inspect.signature(tex2mathml).parameters:  # docutils 0.22 and later
            return tex2mathml(node.astext(), as_block=as_block)
        return tex2mathml(node.astext(), inline=not as_block)
    except MathError as e:
        logger.warning("math: cannot render %r: %s", node.astext(), e, location=node)
        return f"<code>{html.escape(node.astext())}</code>"


def visit_math(self: Any, node: nodes.math) -> None:
    self.body.append(self.starttag(node, "span", "", CLASS="math"))
    self.body.append(mathml(node, as_block=False) + "</span>")
    raise nodes.SkipNode


def visit_math_block(self: Any, node: nodes.math_block) -> None:
    self.body.append(self.starttag(node, "div", CLASS="math"))
    if node["number"]:
        self.body.append(f'<span class="eqno">({get_node_equation_number(self, node)})')
        self.add_permalink_ref(node, "Link to this equation")
        self.body.append("</span>")
    # a blank line separates equations, as in Sphinx's math directive
    for part in (p for p in node.astext().split("\n\n") if p.strip()):
        self.body.append(mathml(nodes.math_block(part, part, source=node.source,
                                                 line=node.line), as_block=True))
    self.body.append("</div>\n")
    raise nodes.SkipNode


def setup(app: Any) -> dict[str, Any]:
    app.add_html_math_renderer("mathml", (visit_math, None), (visit_math_block, None))
    return {"parallel_read_safe": True, "parallel_write_safe": True}
