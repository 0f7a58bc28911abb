import { Injectable } from '@nestjs/common';
import { ActiveConfig } from '../config/active-config';
import type { ClientConfig } from '../config/gateway-config';
import { AccountShareStore } from './account-share.store';
import { AccountStateStore } from './account-state.store';

const WINDOWS = ['5h', '7d'] as const;

/** Where a client stands on one account: per window, its share of the tokens against its weight. */
export interface ShareStanding {
  /** Past its share in a window that is at least settings.oauth.fair_share_at full. */
  readonly over: boolean;
  readonly windows: readonly {
    readonly window: (typeof WINDOWS)[number];
    readonly utilization: number;
    /** The client's part of the tokens this account served in the window, 0..1. */
    readonly share: number;
    /** Its weight among the teammates who drew on the window, 0..1. */
    readonly fairShare: number;
  }[];
}

/**
 * Fair shares of a subscription account's 5-hour and 7-day windows between teammates. Once a window is
 * settings.oauth.fair_share_at full, a teammate whose share of the tokens the account served in it is past their
 * weight (clients[].share, default 1, among those who used the window) is sent to the route's other candidates
 * first. Fairness reorders; it never refuses.
 */
@Injectable()
export class FairShare {
  constructor(
    private readonly shares: AccountShareStore,
    private readonly states: AccountStateStore,
    private readonly active: ActiveConfig,
  ) {}

  get enabled(): boolean {
    return this.active.runtime.config.settings.oauth.fairShareAt !== undefined;
  }

  /** Counts what an answer from `account` drew, for the windows it is in now. */
  record(account: string, client: string, tokens: number): void {
    if (tokens <= 0) return;
    for (const window of WINDOWS) void this.shares.add(account, this.windowName(account, window), client, tokens);
  }

  standing(account: string, client: ClientConfig | undefined): ShareStanding {
    const threshold = this.active.runtime.config.settings.oauth.fairShareAt;
    if (threshold === undefined || !client) return { over: false, windows: [] };
    const weights = new Map(this.active.runtime.config.clients.map((c) => [c.name, c.share ?? 1]));
    const { windows: observed } = this.states.snapshot(account);
    const windows = WINDOWS.map((window) => {
      const byClient = this.shares.tokens(account, this.windowName(account, window));
      const total = [...byClient.values()].reduce((sum, n) => sum + n, 0);
      const mine = byClient.get(client.name) ?? 0;
      const users = new Set([...byClient.keys(), client.name]);
      const weightSum = [...users].reduce((sum, name) => sum + (weights.get(name) ?? 1), 0);
      return {
        window,
        utilization: observed[window]?.utilization ?? 0,
        share: total > 0 ? mine / total : 0,
        fairShare: (weights.get(client.name) ?? 1) / weightSum,
      };
    });
    const over = windows.some((w) => w.utilization >= threshold && w.share > w.fairShare);
    return { over, windows };
  }

  private windowName(account: string, window: (typeof WINDOWS)[number]): string {
    const resetsAt = this.states.snapshot(account).windows[window]?.resetsAt;
    return `${window}:${resetsAt ?? 'unknown'}`;
  }
}
