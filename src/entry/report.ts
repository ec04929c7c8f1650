/**
 * `simclr/report`: the offline report pages of a run and of a comparison (Vega-Lite charts, a UMAP map). Kept out of the package root so that training code does not load vega or umap-js.
 */
export { runReport, compareReport, type ReportOptions, type ReportResult } from "../jobs/run-report.js";
