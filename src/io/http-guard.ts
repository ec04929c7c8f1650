/**
 * Who may talk to a local HTTP server (simclr serve), decided from the request's headers
 * alone, the way Jupyter, TensorBoard and Vite decide it:
 *   - the Host header must be one of the server's own names, so a page on another domain whose
 *     DNS now points at 127.0.0.1 (DNS rebinding) is refused;
 *   - a request a browser marks as coming from another site (Sec-Fetch-Site, or an Origin
 *     that is not the server's own) is refused, so a page the user visits cannot POST to the
 *     server or read its answers, with one exception: a top-level navigation to the page
 *     itself (following a link to it), which reads nothing;
 *   - with an access token, every API request must carry it (header or cookie); the token is
 *     compared in constant time.
 * Pure functions of the headers: the server (jobs/serve.ts) answers 403 or 401 with the reason.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { hostname, networkInterfaces } from "node:os";

/** Hosts that reach only this machine. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, "");
  return h === "localhost" || h.endsWith(".localhost") || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** Whether `host` binds every interface. */
export function isWildcardHost(host: string): boolean {
  return host === "0.0.0.0" || host === "::" || host === "[::]";
}

/** The hostname of a Host header or an origin's authority, lower case, without port or brackets; null when malformed. */
export function hostOf(authority: string): string | null {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]/\s@]+)(?::(\d{1,5}))?$/.exec(authority.trim());
  if (m === null) return null;
  return m[1]!.toLowerCase().replace(/^\[|\]$/g, "");
}

/**
 * The names a request may use for a server bound to `bindHost`: the loopback names always;
 * the bound address; for a wildcard bind, this machine's hostname and every interface
 * address; and `extra` (names the user allowed, such as a DNS name or a proxy's).
 */
export function allowedHostNames(bindHost: string, extra: readonly string[] = []): Set<string> {
  const names = new Set<string>(["localhost", "127.0.0.1", "::1"]);
  const bound = hostOf(bindHost);
  if (bound !== null && !isWildcardHost(bindHost)) names.add(bound);
  if (isWildcardHost(bindHost)) {
    names.add(hostname().toLowerCase());
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) names.add(a.address.toLowerCase());
  }
  for (const e of extra) names.add(e.toLowerCase());
  return names;
}

export interface RequestFacts {
  method: string;
  /** The path without the query. */
  path: string;
  host: string | undefined;
  origin: string | undefined;
  secFetchSite: string | undefined;
  secFetchMode: string | undefined;
}

/** Null when the request may proceed, else why it is refused (the server answers 403). */
export function refusal(facts: RequestFacts, allowed: ReadonlySet<string>): string | null {
  if (facts.host === undefined) return "the request has no Host header";
  const host = hostOf(facts.host);
  if (host === null || (!allowed.has(host) && !isLoopbackHost(host))) {
    return `Host '${facts.host}' is not a name of this server (a DNS-rebinding page uses its own); a name of this server, such as a DNS name or a proxy's, can be allowed when starting it`;
  }
  const pageNavigation = facts.method === "GET" && facts.path === "/" && facts.secFetchMode === "navigate";
  const site = facts.secFetchSite?.toLowerCase();
  if (site !== undefined && site !== "same-origin" && site !== "none" && !pageNavigation) {
    return `a request from another site (Sec-Fetch-Site: ${facts.secFetchSite}) is refused: only this server's own page may use its API`;
  }
  if (facts.origin !== undefined && !pageNavigation) {
    let originHost: string | null = null;
    try {
      originHost = facts.origin === "null" ? null : new URL(facts.origin).host;
    } catch {
      originHost = null;
    }
    if (originHost === null || originHost.toLowerCase() !== facts.host.toLowerCase()) {
      return `a request from another origin (Origin: ${facts.origin}) is refused: only this server's own page may use its API`;
    }
  }
  return null;
}

/** A fresh access token: 24 random bytes, hex. */
export function newToken(): string {
  return randomBytes(24).toString("hex");
}

/** Whether `given` is `token`, compared in constant time (over digests, so lengths leak nothing). */
export function tokenMatches(token: string, given: string | undefined): boolean {
  if (given === undefined) return false;
  const digest = (s: string) => createHash("sha256").update(s).digest();
  return timingSafeEqual(digest(token), digest(given));
}

/** The token a request carries: `Authorization: Bearer T` (or `token T`), `X-Simclr-Token`, or the cookie `cookieName`. */
export function tokenOf(
  headers: { authorization?: string | undefined; "x-simclr-token"?: string | string[] | undefined; cookie?: string | undefined },
  cookieName: string,
): string | undefined {
  const auth = /^(?:bearer|token)\s+(\S+)$/i.exec(headers.authorization ?? "");
  if (auth !== null) return auth[1];
  const header = headers["x-simclr-token"];
  if (typeof header === "string") return header;
  for (const part of (headers.cookie ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === cookieName) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return undefined; // malformed: no token
      }
    }
  }
  return undefined;
}
