"""The sections of the report, one module each; each has ``render(ctx) -> Html``.

:data:`relabel.report.page.SECTIONS` puts them in order.
"""
