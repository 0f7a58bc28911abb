import { Module } from '@nestjs/common';
import { ActiveConfig } from '../config/active-config';
import { MetricsModule } from '../metrics/metrics.module';
import { AccountLogins } from './account-logins.service';
import { AccountRefresher } from './account-refresher';
import { AccountService } from './account.service';
import { FairShare } from './fair-share';
import { OAuthController } from './oauth.controller';
import { RefreshJob } from './refresh.job';
import { TokenEndpointClient } from './token-endpoint.client';

/** Claude subscription accounts: logins, the token store's users, refresh, and the choice of account per request. */
@Module({
  imports: [MetricsModule],
  controllers: [OAuthController],
  providers: [
    {
      provide: TokenEndpointClient,
      inject: [ActiveConfig],
      useFactory: (active: ActiveConfig) => new TokenEndpointClient(() => active.runtime.config.settings.oauth),
    },
    AccountRefresher,
    AccountService,
    FairShare,
    AccountLogins,
    RefreshJob,
  ],
  exports: [AccountService, FairShare],
})
export class OAuthModule {}
