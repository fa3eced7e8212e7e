"""The report's style sheet, inlined in the page (no web fonts, no external files)."""

CSS = """
:root{--fg:#1f2328;--muted:#59636e;--line:#d8dee4;--bg:#ffffff;--soft:#f6f8fa;--accent:#3b6ea8}
*{box-sizing:border-box}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
color:var(--fg);background:var(--bg);font-size:14px;line-height:1.45}
header{padding:18px 28px 8px}
h1{margin:0;font-size:22px}
.meta{margin:4px 0 0;color:var(--muted)}
nav{position:sticky;top:0;z-index:2;background:var(--soft);border-bottom:1px solid var(--line);
padding:8px 28px;display:flex;flex-wrap:wrap;gap:4px 18px}
nav a{color:var(--accent);text-decoration:none;font-weight:600}
nav a:hover{text-decoration:underline}
main{padding:0 28px 28px}
section{border-bottom:1px solid var(--line);padding:10px 0 22px;scroll-margin-top:44px}
h2{font-size:19px;margin:14px 0 10px}
h3{font-size:15px;margin:20px 0 8px}
h4{font-size:14px;margin:18px 0 4px;scroll-margin-top:44px}
.note{color:var(--muted);margin:4px 0 10px;max-width:900px}
.sub{margin:6px 0 4px}
.big{font-size:16px}
.callout{background:#eef4fb;border-left:4px solid var(--accent);padding:8px 12px;max-width:900px}
.row{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
img.fig{max-width:100%;height:auto;border:1px solid var(--line);border-radius:4px;background:#fff}
.tbl{border-collapse:collapse;margin:6px 0 12px;font-variant-numeric:tabular-nums}
.tbl th,.tbl td{border:1px solid var(--line);padding:4px 10px;text-align:left;vertical-align:middle}
.tbl th{background:var(--soft);font-weight:600}
.tbl tbody tr:nth-child(even){background:#fbfcfd}
.tbl .num{text-align:right}
.bar{display:inline-block;min-width:64px;padding:0 4px;border-radius:2px}
.kpis{display:flex;flex-wrap:wrap;gap:12px}
.kpi{border:1px solid var(--line);border-radius:6px;padding:10px 14px;min-width:170px;
background:var(--soft)}
.kpi-label{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.03em}
.kpi-value{font-size:22px;font-weight:700;margin:2px 0}
.kpi-sub{color:var(--muted);font-size:12px}
.gallery{display:flex;flex-wrap:wrap;gap:10px}
.card{margin:0;width:132px;border:1px solid var(--line);border-radius:6px;padding:6px;
background:#fff;font-size:12px}
.thumb{display:block;width:118px;height:118px;object-fit:contain;background:var(--soft);
image-rendering:pixelated;border-radius:3px}
.thumb.missing{display:flex;align-items:center;justify-content:center;color:var(--muted);
text-align:center}
img.mini{width:48px;height:48px;object-fit:contain;image-rendering:pixelated;margin-right:3px;
vertical-align:middle;background:var(--soft)}
figcaption{margin-top:4px;line-height:1.3}
.sid{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:11px;overflow:hidden;
text-overflow:ellipsis;white-space:nowrap}
.lane{display:inline-block;border-radius:8px;padding:0 6px;font-size:11px;background:#eee}
.lane-label_issue{background:#f8d7d5;color:#8a1c17}
.lane-uncertain{background:#fcebc9;color:#7a4b00}
.lane-ok{background:#d5ecd9;color:#1d5c2b}
.rank{color:var(--muted);font-size:11px}
.detail{color:var(--muted);font-size:11px}
.dupset{border:1px solid var(--line);border-radius:6px;padding:6px 8px 8px;margin:8px 0;
max-width:100%}
.dupset.conflict{border-color:#c0504d;border-width:2px}
.dupset.holdout{border-color:#e08a2c;border-width:2px}
.dupset-head{margin:0 0 6px}
.badge{display:inline-block;border-radius:8px;padding:0 6px;margin-left:8px;font-size:11px}
.badge-conflict{background:#f8d7d5;color:#8a1c17}
.badge-holdout{background:#fcebc9;color:#7a4b00}
footer{padding:14px 28px;color:var(--muted);font-size:12px}
code{font-family:ui-monospace,"DejaVu Sans Mono",monospace}
"""
