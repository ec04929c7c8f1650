/**
 * `simclr/report`: the offline report pages of a run, of a comparison and of an ablation study (Vega-Lite charts, a UMAP map). Kept out of the package root so that training code does not load vega or umap-js.
 */
export { runReport, compareReport, type ReportOptions, type ReportResult } from "../jobs/run-report.js";
export { ablationReport, type AblationReportResult } from "../jobs/ablation-report.js";
