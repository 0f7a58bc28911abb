import type { AttemptFailure } from '../providers/upstream-failure';
import type { PlannedAttempt, SelectionPlan } from '../routing/candidate-selector';

export interface FailedAttempt {
  readonly provider: string;
  readonly failure: AttemptFailure;
}

/**
 * The candidates one request may try, in order, and how far it has got. The code that opens a call and the code that
 * relays it share one plan, so what failed is known to both and a broken stream could go on with the next candidate.
 */
export class AttemptPlan {
  private cursor = 0;
  readonly failures: FailedAttempt[] = [];

  constructor(readonly selection: SelectionPlan) {}

  /** How many candidates have been tried so far. */
  get attempts(): number {
    return this.cursor;
  }

  get current(): PlannedAttempt | undefined {
    return this.cursor === 0 ? undefined : this.selection.attempts[this.cursor - 1];
  }

  /** The next candidate to try, or undefined when every one has been tried. */
  next(): PlannedAttempt | undefined {
    const attempt = this.selection.attempts[this.cursor];
    if (attempt) this.cursor += 1;
    return attempt;
  }

  failed(provider: string, failure: AttemptFailure): void {
    this.failures.push({ provider, failure });
  }
}
