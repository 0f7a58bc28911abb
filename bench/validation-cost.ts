import { performance } from 'node:perf_hooks';
import { RequestBody } from '../src/messages/request-body';

export interface ValidationCost {
  readonly bytes: number;
  /** The gateway's one pass: UTF-8 check, full JSON validation, depth bound, top-level field ranges. */
  readonly scanMicros: number;
  /** What a proxy that decodes bodies pays instead: UTF-8 decode plus JSON.parse. */
  readonly parseMicros: number;
}

/**
 * The in-process cost of validating a body the way the gateway does, beside decoding and parsing it whole; this
 * checkout's code, whatever BENCH_GATEWAY_DIR says. Median of several rounds, after a warm-up.
 */
export function measureValidation(body: Buffer, rounds = 15, perRound = 40): ValidationCost {
  const median = (run: () => void) => {
    for (let i = 0; i < perRound; i += 1) run();
    const samples: number[] = [];
    for (let round = 0; round < rounds; round += 1) {
      const start = performance.now();
      for (let i = 0; i < perRound; i += 1) run();
      samples.push(((performance.now() - start) * 1000) / perRound);
    }
    return samples.sort((a, b) => a - b)[Math.floor(rounds / 2)]!;
  };
  return {
    bytes: body.length,
    scanMicros: median(() => RequestBody.scan(body)),
    parseMicros: median(() => JSON.parse(body.toString('utf8')) as unknown),
  };
}
