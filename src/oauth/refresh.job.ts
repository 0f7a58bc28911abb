import { Injectable, Logger } from '@nestjs/common';
import { Interval } from '@nestjs/schedule';
import { ActiveConfig } from '../config/active-config';
import { MetricsService } from '../metrics/metrics.service';
import { AccountRefresher } from './account-refresher';
import { TokenStore } from './token.store';

const CHECK_EVERY_MS = 30_000;

/**
 * Refreshes tokens in the background `refresh_margin` before they expire, idle accounts included, so that a request
 * rarely waits for a refresh; keeps the expiry gauge current. Failures are the refresher's to log and back off.
 */
@Injectable()
export class RefreshJob {
  private readonly logger = new Logger('OAuth');
  private running = false;

  constructor(
    private readonly tokens: TokenStore,
    private readonly refresher: AccountRefresher,
    private readonly metrics: MetricsService,
    private readonly active: ActiveConfig,
  ) {}

  @Interval(CHECK_EVERY_MS)
  async tick(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      await this.refreshDue();
    } catch (error) {
      this.logger.error(`Background refresh failed: ${(error as Error).message}`);
    } finally {
      this.running = false;
    }
  }

  async refreshDue(now = Date.now()): Promise<void> {
    const { enableAutoRefresh, refreshMarginMs } = this.active.runtime.config.settings.oauth;
    for (const record of await this.tokens.list()) {
      this.metrics.oauthTokenExpiry.labels(record.email).set(Math.round((record.expiresAt - now) / 1000));
      if (!enableAutoRefresh || record.status !== 'ok' || record.expiresAt - now > refreshMarginMs) continue;
      await this.refresher.refresh(record.email, { seen: record.refreshToken }).catch(() => undefined);
    }
  }
}
