/**
 * Charts for the report, written as Vega-Lite specifications and rendered to SVG strings
 * by Vega at build time (no script runs in the page). Vega-Lite was chosen because it is
 * the well-kept declarative grammar behind Altair and Observable's plots, and Vega renders
 * to SVG in Node without a browser or a canvas.
 */
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";

export interface SeriesPoint {
  x: number;
  y: number;
  /** The line this point belongs to (a metric or a run). */
  series: string;
}

export interface LineChartOptions {
  title: string;
  xTitle: string;
  yTitle: string;
  points: SeriesPoint[];
  /** Log scale on y (the learning rate's warm-up spans orders of magnitude: no). */
  logY?: boolean;
  width?: number;
  height?: number;
}

export interface ScatterPoint {
  x: number;
  y: number;
  label: string;
}

const FONT = {
  font: "DejaVu Sans, Helvetica, Arial, sans-serif",
  labelFont: "DejaVu Sans, Helvetica, Arial, sans-serif",
  titleFont: "DejaVu Sans, Helvetica, Arial, sans-serif",
};

/** Renders a Vega-Lite spec to a standalone SVG element. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** One line per series over x. */
export function lineChart(options: LineChartOptions): TopLevelSpec {
  const series = [...new Set(options.points.map((p) => p.series))];
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: options.title,
    width: options.width ?? 360,
    height: options.height ?? 200,
    config: { ...FONT, view: { stroke: "#ddd" } },
    data: { values: options.points },
    mark: { type: "line", strokeWidth: 1.5, point: options.points.length <= 60 },
    encoding: {
      x: { field: "x", type: "quantitative", title: options.xTitle, axis: { tickMinStep: 1, format: "d" } },
      y: { field: "y", type: "quantitative", title: options.yTitle, scale: { zero: false, ...(options.logY ? { type: "log" } : {}) } },
      color: { field: "series", type: "nominal", title: null, scale: { domain: series }, legend: series.length > 1 ? { orient: "bottom" } : null },
    },
  } as TopLevelSpec;
}

/** Points in 2-D coloured by label. */
export function scatterChart(title: string, points: ScatterPoint[], colourTitle: string): TopLevelSpec {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title,
    width: 460,
    height: 400,
    config: { ...FONT, view: { stroke: "#ddd" } },
    data: { values: points },
    mark: { type: "circle", size: 18, opacity: 0.8 },
    encoding: {
      x: { field: "x", type: "quantitative", axis: null, scale: { zero: false } },
      y: { field: "y", type: "quantitative", axis: null, scale: { zero: false } },
      color: { field: "label", type: "nominal", title: colourTitle, scale: { scheme: "tableau10" } },
    },
  } as TopLevelSpec;
}

export interface BarPoint {
  /** The bar group along x (an arm). */
  group: string;
  /** The bar within its group (h or z). */
  series: string;
  y: number;
  /** One standard deviation, drawn as an error bar when given. */
  sd?: number | null;
}

/** Grouped bars (one group per x category, one bar per series), with +-1 SD error bars. */
export function barChart(title: string, yTitle: string, points: BarPoint[], options: { width?: number; height?: number } = {}): TopLevelSpec {
  const groups = [...new Set(points.map((p) => p.group))];
  const series = [...new Set(points.map((p) => p.series))];
  const values = points.map((p) => ({ ...p, lo: p.y - (p.sd ?? 0), hi: p.y + (p.sd ?? 0) }));
  const x = { field: "group", type: "nominal", title: null, sort: groups, axis: { labelAngle: 0 } };
  const offset = { field: "series", type: "nominal", sort: series };
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title,
    width: options.width ?? 360,
    height: options.height ?? 220,
    config: { ...FONT, view: { stroke: "#ddd" } },
    data: { values },
    layer: [
      {
        mark: { type: "bar" },
        encoding: {
          x,
          xOffset: offset,
          y: { field: "y", type: "quantitative", title: yTitle, scale: { zero: false } },
          color: { field: "series", type: "nominal", title: null, scale: { domain: series }, legend: { orient: "bottom" } },
        },
      },
      {
        mark: { type: "rule", color: "#333" },
        encoding: { x, xOffset: offset, y: { field: "lo", type: "quantitative" }, y2: { field: "hi" } },
      },
    ],
  } as TopLevelSpec;
}
