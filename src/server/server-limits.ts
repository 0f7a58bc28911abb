/**
 * How long and how much the HTTP server gives one client connection. Claude Code sends its headers and body at once
 * and keeps its connections alive between turns, so these bounds never touch it; they cut connections that trickle
 * bytes, never finish a request, or pile up from one address.
 */
export interface ServerLimits {
  /** From a connection's (or a keep-alive request's) first byte until its headers are complete. */
  readonly headersTimeoutMs: number;
  /** From the first byte until the whole request, body included, has arrived. */
  readonly requestTimeoutMs: number;
  /** How long a body may take before it must keep up with the minimum rate. */
  readonly bodyGraceMs: number;
  /** After the grace, a body must have arrived at least this fast on average (or be complete). */
  readonly minBodyBytesPerSecond: number;
  /** An idle keep-alive connection is closed after this long; above the 60 s idle timeout of common load balancers. */
  readonly keepAliveTimeoutMs: number;
  /** Open connections one client address may hold; beyond it, requests are answered 429 and the connection closed. */
  readonly maxConnectionsPerAddress: number;
  /** How often the server looks for connections past their header or request deadline. */
  readonly deadlineCheckMs: number;
}

export const SERVER_LIMITS: ServerLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 120_000,
  bodyGraceMs: 10_000,
  minBodyBytesPerSecond: 4 * 1024,
  keepAliveTimeoutMs: 65_000,
  maxConnectionsPerAddress: 4096,
  deadlineCheckMs: 1_000,
};
