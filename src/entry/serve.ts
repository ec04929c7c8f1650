/**
 * `simclr/serve`: the HTTP search server (Fastify). Kept out of the package root so that importing the training library does not load a web server.
 */
export { buildServer, serve, sniffImage, type ServeOptions } from "../jobs/serve.js";
