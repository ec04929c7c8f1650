/**
 * The report page: one self-contained HTML file (inline CSS, SVG charts, PNG images as data:
 * URIs), so it opens offline and can be mailed or archived as is. Nothing is loaded from the
 * network and no script runs.
 */

export interface Section {
  id: string;
  title: string;
  /** HTML, already escaped where it holds text from files. */
  html: string;
}

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

/** An HTML table; cells are text (escaped here). */
export function htmlTable(header: string[], rows: string[][], numericFrom = 1): string {
  const cell = (tag: string, text: string, i: number) => `<${tag}${i >= numericFrom ? ' class="num"' : ""}>${escapeHtml(text)}</${tag}>`;
  return `<table><thead><tr>${header.map((h, i) => cell("th", h, i)).join("")}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c, i) => cell("td", c, i)).join("")}</tr>`).join("")}</tbody></table>`;
}

/** A figure holding a rendered chart. */
export function chartFigure(svg: string, name: string): string {
  return `<figure class="chart" data-chart="${escapeHtml(name)}">${svg}</figure>`;
}

const STYLE = `
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.2rem; border-bottom: 1px solid #ddd; padding-bottom: 0.3rem; margin-top: 2.2rem; }
.meta { color: #666; font-size: 0.9rem; }
nav a { margin-right: 1rem; font-size: 0.9rem; }
.charts { display: flex; flex-wrap: wrap; gap: 1rem; }
figure { margin: 0; }
table { border-collapse: collapse; font-size: 0.9rem; margin: 0.5rem 0; }
th, td { border-bottom: 1px solid #eee; padding: 0.3rem 0.7rem; text-align: left; }
th { background: #f6f6f6; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.gallery td { padding: 2px; border: none; text-align: center; font-size: 0.7rem; color: #555; vertical-align: top; }
.gallery img { display: block; image-rendering: pixelated; border: 3px solid transparent; }
.gallery img.query { border-color: #333; }
.gallery img.same { border-color: #2a9d4b; }
.gallery img.other { border-color: #d1495b; }
.note { color: #666; font-size: 0.85rem; max-width: 800px; }
img.grid { image-rendering: pixelated; max-width: 100%; }
`;

export function reportPage(title: string, subtitle: string, sections: Section[]): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<p class="meta">${escapeHtml(subtitle)}</p>
<nav>${sections.map((s) => `<a href="#${s.id}">${escapeHtml(s.title)}</a>`).join("")}</nav>
${sections.map((s) => `<section id="${s.id}">\n<h2>${escapeHtml(s.title)}</h2>\n${s.html}\n</section>`).join("\n")}
</body>
</html>
`;
}
