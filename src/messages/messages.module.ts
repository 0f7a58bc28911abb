import { Module } from '@nestjs/common';
import { DedupModule } from '../dedup/dedup.module';
import { MetricsModule } from '../metrics/metrics.module';
import { ProvidersModule } from '../providers/providers.module';
import { LimitsModule } from '../limits/limits.module';
import { UsageModule } from '../usage/usage.module';
import { OAuthModule } from '../oauth/oauth.module';
import { CountTokensService } from './count-tokens.service';
import { MessagesController } from './messages.controller';
import { AttemptRecorder } from './attempt-recorder';
import { MessagesService } from './messages.service';
import { UpstreamExecutor } from './upstream-executor';

@Module({
  imports: [ProvidersModule, MetricsModule, DedupModule, OAuthModule, LimitsModule, UsageModule],
  controllers: [MessagesController],
  providers: [MessagesService, CountTokensService, UpstreamExecutor, AttemptRecorder],
})
export class MessagesModule {}
